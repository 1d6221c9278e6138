"""Translation of a finished book: the text model translates every lettered line, phase 6 letters them in
the target script and direction, phase 7 exports them. The result is a new request (a new version with
its own id, PDF, CBZ and manifest) that reuses the original's phases 1-5 and its panel art as they are: a
translation asks for no picture. The original request and its files are left untouched.

Switching the reading direction flops the pages, as publishers do: the panel layout is mirrored, the art
is drawn mirrored at composition (`art_mirrored`) and the figures' staging with it, so bubbles still
find the faces they must not cover.
"""
from __future__ import annotations

import copy
import time
from datetime import datetime, timezone
from typing import Any

from .. import quality
from ..auth import Principal
from ..bootstrap import Stores
from ..config import settings
from ..errors import Conflict, DomainError, Forbidden, TooBusy
from ..phases import phase6_lettering, registry
from ..phases.registry import PhaseContext
from ..providers import CallScope, get_provider
from ..schemas import validate, validate_output
from . import access, live
from .idempotent import once
from .runner import complete, load_inputs, provider_name

DIRECTION = {"ja": "rtl", "en": "ltr"}
_CARRIED = ("1", "2", "3", "4", "5")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def chosen_runs(stores: Stores, request_id: str) -> dict[int, dict[str, Any]]:
    """The chosen (latest whole) attempt of every phase, as get_status picks it."""
    chosen: dict[int, dict[str, Any]] = {}
    for run in stores.phase_runs.list(request_id):
        if run.get("panel_id") is None and run.get("status") == "succeeded" and run.get("output_uri"):
            phase = int(run["phase"])
            if phase not in chosen or int(run["attempt"]) > int(chosen[phase]["attempt"]):
                chosen[phase] = run
    return chosen


def book_lines(lettering: dict[str, Any]) -> list[dict[str, Any]]:
    """Every lettered line of the book in reading order ({"id": "p01-2/0", "text", "kind"}): the dialogues as
    phase 6 lettered them (edits at its gate included), pages then panels in reading order."""
    lettered = {p["panel_id"]: p.get("dialogues") or [] for p in lettering.get("dialogue_placements", [])}
    lines = []
    for page in sorted(lettering.get("pages", []), key=lambda p: int(p.get("page", 0))):
        for panel in sorted(page.get("panels", []), key=lambda p: p.get("reading_order", 0)):
            for index, dialogue in enumerate(lettered.get(str(panel["panel_id"]), [])):
                if str(dialogue.get("text") or "").strip():
                    lines.append({"id": f"{panel['panel_id']}/{index}", "text": dialogue["text"],
                                  "kind": dialogue.get("kind", "speech")})
    return lines


def translated_inputs(lettering: dict[str, Any], images: dict[str, Any], translated: dict[str, str],
                      target: str) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(storyboard, phase 5 images, mirrored) for lettering the book again in `target`: each panel's
    dialogues are the lettered ones with the translated text, in the target's reading direction; when that
    direction differs, the layout and the staging are mirrored."""
    mirrored = DIRECTION[target] != lettering.get("reading_direction")
    lettered = {p["panel_id"]: p.get("dialogues") or [] for p in lettering.get("dialogue_placements", [])}
    skip = ("dialogue_placements", "bubble_edits", "lettering", "processing_metadata", "image_descriptions",
            "language", "translation", "art_mirrored")
    board = copy.deepcopy({k: v for k, v in lettering.items() if k not in skip})
    board["reading_direction"] = DIRECTION[target]
    board["story_context"] = dict(board.get("story_context") or {}, language=target,
                                  reading_direction=DIRECTION[target])
    for page in board.get("pages", []):
        for panel in page.get("panels", []):
            pid = str(panel["panel_id"])
            panel["dialogues"] = [dict(d, text=translated.get(f"{pid}/{i}", d.get("text", "")),
                                       source_text=d.get("source_text") or d.get("text", ""))
                                  for i, d in enumerate(lettered.get(pid, []))]
            if mirrored:
                x, y, w, h = panel["bbox"]
                panel["bbox"] = [round(1 - x - w, 6), y, w, h]
    images = copy.deepcopy(images)
    if mirrored:
        for description in images.get("image_descriptions", []):
            for figure in description.get("staging") or []:
                figure["x"] = round(1 - float(figure["x"]), 6)
                if figure.get("facing") in ("left", "right"):
                    figure["facing"] = "left" if figure["facing"] == "right" else "right"
    return board, images, mirrored


def translate_book(stores: Stores, body: dict[str, Any], principal: Principal, client_address: str) -> dict[str, Any]:
    """The owner's finished book in `to` as a new request; see the module docstring."""
    validate("http/translate", body)
    request_id, target = body["request_id"], body["to"]
    granted = access.authorize(stores, request_id, principal)
    if not granted.is_owner:
        raise Forbidden("only the request's owner may translate its book", field="request_id")
    key = body.get("idempotency_key")
    return once(stores, f"translate:{principal.user_id}:{request_id}:{target}:{key}" if key else None,
                lambda: _translate_once(stores, granted.request, target, principal, client_address))


def _translate_once(stores: Stores, original: dict[str, Any], target: str, principal: Principal,
                    client_address: str) -> dict[str, Any]:
    request_id = original["request_id"]
    if original.get("status") != "completed":
        raise Conflict(f"request {request_id} is {original.get('status')}: only a finished book can be translated",
                       field="request_id")
    chosen = chosen_runs(stores, request_id)
    if any(phase not in chosen for phase in range(1, 8)):
        raise Conflict(f"request {request_id} has no finished result of every phase to translate", field="request_id")
    lettering = stores.artifacts.get_json(chosen[6]["output_uri"])
    source = lettering.get("language")
    if source == target:
        raise DomainError(f"the book of {request_id} is already in {target!r}; translate it into the other "
                          "language (en or ja)", status=422, field="to")
    new_id = stores.requests.new_id()
    admission = stores.admission.admit(client_address, user_id=principal.user_id, request_id=new_id)
    if not admission.allowed:
        raise TooBusy(f"you already have {admission.active} runs going; wait for one to finish"
                      if admission.reason == "too_many_concurrent" else
                      f"more than {admission.limit} requests per minute from {client_address}; retry in "
                      f"{admission.retry_after_s:.0f} s", field="(user)",
                      retry_after_s=None if admission.reason == "too_many_concurrent" else admission.retry_after_s)
    try:
        return _translate(stores, original, chosen, lettering, source, target, new_id, principal, client_address)
    except BaseException:
        stores.admission.release(principal.user_id, new_id)
        try:
            stores.requests.update(new_id, status="failed", error="the translation did not finish")
        except KeyError:
            pass
        raise


def _translate(stores: Stores, original: dict[str, Any], chosen: dict[int, dict[str, Any]], lettering: dict[str, Any],
               source: str, target: str, new_id: str, principal: Principal, client_address: str) -> dict[str, Any]:
    started, clock = _now(), time.perf_counter()
    options = {k: v for k, v in (original.get("options") or {}).items() if k != "reopens"}  # its own history
    provider = provider_name(original)
    title = original.get("title") or (lettering.get("story_context") or {}).get("title")
    options.update({"translated_from": original["request_id"], "hitl_mode": "auto",
                    "translation": {"from": source, "to": target}})
    stores.requests.create(principal.user_id, request_id=new_id, client_address=client_address,
                            title=title, language=target, style=original.get("style"), pages=original["pages"],
                            input_uri=original.get("input_uri"), hitl_timeout_s=original["hitl_timeout_s"],
                            auto_approve=True, options=options)
    stores.model_calls.open_budget(new_id, float(options.get("budget_usd") or settings().budget_usd))
    stores.requests.update(new_id, status="running", current_phase=6)
    for phase in _CARRIED:  # phases 1-5 (the panel art among them) are the original's, reused as they are
        run = chosen[int(phase)]
        stores.phase_runs.record(new_id, int(phase), 1, panel_id=None, status="succeeded",
                                 output_uri=run["output_uri"], score=run.get("score"), decision=run.get("decision"),
                                 hints=[], started_at=started, finished_at=started, duration_ms=0)
    live.publish(stores, new_id, {"type": "phase_started", "phase": 6, "attempt": 1})

    lines = book_lines(lettering)
    scope = CallScope(stores.model_calls, request_id=new_id, phase=6, attempt=1)
    try:
        text_model = get_provider(provider, scope)
        answer = text_model.translate(lines, source, target)
    finally:
        scope.close()
    translated = {line["id"]: line["text"] for line in answer["lines"]}
    images = stores.artifacts.get_json(chosen[5]["output_uri"])
    board, images, mirrored = translated_inputs(lettering, images, translated, target)
    output6 = phase6_lettering.run({"storyboard": board, "images": images, "language": target}, None)
    model = getattr(text_model, "text_model", None) or "offline-rules"
    output6["art_mirrored"] = mirrored
    output6["translation"] = {"translated_from": original["request_id"], "source_language": source,
                              "target_language": target, "lines": len(lines), "model": model,
                              "stand_in": provider == "offline" or model == "offline-rules",
                              "kept_source_lines": int(answer.get("kept_source_lines", 0))}
    request = stores.requests.get(new_id)
    _record(stores, new_id, 6, output6, started, clock, load_inputs(stores, request, _selected(5), 6))

    inputs = load_inputs(stores, request, _selected(6), 7)
    ctx = PhaseContext(stores, request, inputs, None, 1, get_provider("offline"))
    output7 = registry.phase(7).produce(ctx)
    _record(stores, new_id, 7, output7, started, clock, inputs=inputs)
    complete(stores, new_id)
    calls = stores.model_calls.list(new_id)
    return {"request_id": new_id, "translated_from": original["request_id"], "status": "completed",
            "language": target, "reading_direction": DIRECTION[target], "lines": len(lines),
            "stand_in": output6["translation"]["stand_in"], "model": model,
            "exports": output7["exports"], "pages": output7["pages"],
            "model_calls": {"text": sum(1 for c in calls if c["kind"] == "text" and c["status"] == "ok"),
                            "image": sum(1 for c in calls if c["kind"] == "image")},
            "seconds": round(time.perf_counter() - clock, 3)}


def _selected(last: int) -> dict[str, int]:
    return {str(p): 1 for p in range(1, last + 1)}


def _record(stores: Stores, request_id: str, phase: int, output: dict[str, Any], started: datetime, clock: float,
            inputs: dict[str, Any]) -> None:
    """The phase's output checked and stored, and its run recorded with its quality score (no retries: a
    translation is one attempt, its score said as the gate would say it)."""
    validate_output(phase, output)
    judged = registry.phase(phase).evaluate(output, inputs)
    score = round(float(judged["score"]), 4)
    decision = quality.gate(score, quality.MAX_RETRIES)["decision"]
    uri = stores.artifacts.put_json("version_snapshots", output, prefix=f"requests/{request_id}/phase{phase}")
    stores.phase_runs.record(request_id, phase, 1, panel_id=None, status="succeeded", output_uri=uri, score=score,
                             decision=decision, hints=judged.get("hints", []), started_at=started, finished_at=_now(),
                             duration_ms=int((time.perf_counter() - clock) * 1000))
    live.publish(stores, request_id, {"type": "phase_done", "phase": phase, "attempt": 1, "score": score,
                                      "decision": decision})
