"""Running one phase call from the workflow: load inputs, run, judge, store, record, report.

A call is idempotent: the same (request, phase, attempt, panel) returns what was recorded and
writes nothing twice. Every artifact is content-addressed in Cloud Storage; PostgreSQL keeps the
attempt (references, score, decision, timings); Redis carries progress for the person watching.
"""
from __future__ import annotations

import functools
import io
import logging
import time
from datetime import datetime, timezone
from typing import Any

from .. import quality, schemas
from ..errors import DomainError, NotFound
from ..logs import log_event
from ..stores import objects, postgres
from . import live
from .phases import PHASE_KEYS, phase_module, provider

PANEL_FALLBACKS = ("none", "simplified", "placeholder")
# A panel's own score: a fallback is a weaker panel, never a failed manga.
PANEL_SCORES = {"none": 1.0, "simplified": 0.7, "placeholder": 0.5}


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.lru_cache(maxsize=512)
def _cached_json(uri: str) -> Any:
    """Phase outputs are content-addressed, so a URI always names the same bytes."""
    return objects.get_json(uri)


def get_request(request_id: str) -> dict[str, Any]:
    try:
        return postgres.get_request(request_id)
    except KeyError:
        raise NotFound(f"request_id {request_id!r} does not exist", field="request_id") from None


def request_inputs(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the phases see it (the story text comes back from the input bucket)."""
    options = request.get("options") or {}
    return {
        "request_id": request["request_id"],
        "text": _cached_json(request["input_uri"])["text"] if request.get("input_uri") else "",
        "language": request.get("language"),
        "style": request.get("style"),
        "pages": request.get("pages"),
        "title": request.get("title") or options.get("title"),
    }


def load_inputs(request: dict[str, Any], selected: dict[str, int], phase: int) -> dict[str, Any]:
    """The request plus the chosen attempt of every earlier phase."""
    inputs = request_inputs(request)
    for earlier in range(1, phase):
        attempt = selected.get(str(earlier))
        if attempt is None:
            raise DomainError(f"phase {phase} needs phase {earlier}'s result; 'selected.{earlier}' is missing",
                              status=422, field=f"selected.{earlier}")
        run = postgres.find_phase_run(request["request_id"], earlier, int(attempt))
        if run is None or not run.get("output_uri"):
            raise DomainError(f"phase {earlier} attempt {attempt} has no recorded output", status=409,
                              field=f"selected.{earlier}")
        inputs[PHASE_KEYS[earlier]] = _cached_json(run["output_uri"])
    return inputs


def _feedback(body: dict[str, Any]) -> dict[str, Any] | None:
    feedback = dict(body.get("feedback") or {})
    hints = list(body.get("hints") or [])
    if hints:
        feedback["hints"] = list(feedback.get("hints", [])) + hints
    return feedback or None


def _response(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"request_id": row["request_id"], "phase": int(row["phase"]), "attempt": int(row["attempt"]),
            "panel_id": row.get("panel_id"), "score": float(row["score"] if row["score"] is not None else 0.0),
            "decision": row.get("decision"), "hints": list(row.get("hints") or []),
            "output_uri": row.get("output_uri"), "idempotent_replay": extra.pop("replay", False), **extra}


def run_phase(phase: int, body: dict[str, Any]) -> dict[str, Any]:
    """One call of phase `phase` by the workflow (see schemas/http/phase_call.json)."""
    request_id, attempt = body["request_id"], int(body["attempt"])
    request = get_request(request_id)
    selected = {str(k): int(v) for k, v in (body.get("selected") or {}).items()}
    if phase == 5 and body.get("plan"):
        return plan_panels(request, selected, attempt)
    panel_id = body.get("panel_id") if phase == 5 else None
    existing = postgres.find_phase_run(request_id, phase, attempt, panel_id=panel_id)
    if existing is not None and existing.get("status") == "succeeded":
        return _response(existing, replay=True)
    if panel_id is None:
        postgres.update_request(request_id, status="running", current_phase=phase)
        live.publish(request_id, {"type": "phase_started", "phase": phase, "attempt": attempt})
        live.activity(request_id, phase)
    started = _now()
    clock = time.perf_counter()
    inputs = load_inputs(request, selected, phase)
    retry = int(body.get("retry", 0))
    output, judged, fallback = _produce(phase, request, inputs, panel_id, attempt, _feedback(body))
    schemas.validate_output(phase, output, panel=panel_id is not None)
    verdict = quality.gate(float(judged["score"]), retry)
    output_uri = objects.put_json("version_snapshots", output, prefix=f"requests/{request_id}/phase{phase}")
    seconds = time.perf_counter() - clock
    row = postgres.record_phase_run(
        request_id, phase, attempt, panel_id=panel_id, status="succeeded", output_uri=output_uri,
        score=round(float(judged["score"]), 4), decision=verdict["decision"], hints=judged.get("hints", []),
        fallback=fallback, started_at=started, finished_at=_now(), duration_ms=int(seconds * 1000),
    )
    if panel_id is not None:
        live.publish(request_id, {"type": "panel_done", "phase": 5, "panel_id": panel_id, "attempt": attempt,
                                  "fallback": fallback})
        return _response(row)
    preview_uri = objects.put_json("preview_cache", {"phase": phase, "attempt": attempt, "summary": summarize(phase, output)},
                                   prefix=f"requests/{request_id}/previews")
    postgres.add_preview_version(request_id, phase, uri=preview_uri, attempt=attempt)
    live.publish(request_id, {"type": "phase_done", "phase": phase, "attempt": attempt, "score": row["score"],
                              "decision": row["decision"], "seconds": round(seconds, 3)})
    _record_analytics(request_id, phase, attempt, row, retry, judged)
    return _response(row, preview_uri=preview_uri, checks=judged.get("checks", {}))


def _produce(phase: int, request: dict[str, Any], inputs: dict[str, Any], panel_id: str | None, attempt: int,
             feedback: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """Run the phase (or one panel of phase 5) and judge it: (output, evaluation, panel fallback)."""
    if phase == 5 and panel_id:
        output, fallback = render_panel(request, inputs, panel_id, attempt, feedback)
        return output, {"score": PANEL_SCORES[fallback], "hints": [], "checks": {}}, fallback
    if phase == 5:
        output = collect_panels(request["request_id"], attempt, inputs)
    elif phase == 7:
        output = finalize(request, inputs, feedback, attempt)
    elif phase == 2:
        output = run_characters(request, inputs, feedback)
    else:
        output = phase_module(phase).run(inputs, feedback, provider())
    return output, quality.evaluate(phase, output, inputs), None


def _record_analytics(request_id: str, phase: int, attempt: int, row: dict[str, Any], retry: int,
                      judged: dict[str, Any]) -> None:
    """Quality scores feed the BigQuery tables; analytics never fails a phase."""
    try:
        from ..stores import analytics

        analytics.record_quality_score(request_id=request_id, phase=phase, attempt=attempt,
                                       score=float(row["score"]), decision=str(row["decision"]),
                                       hints=list(judged.get("hints", [])))
        if retry:
            analytics.record_retry(request_id=request_id, phase=phase, attempt=attempt, reason="quality",
                                   score=float(row["score"]))
    except Exception as err:  # noqa: BLE001 - analytics is best effort
        log_event("analytics write skipped", logging.WARNING, request_id=request_id, phase=phase, error=str(err))


def complete(request_id: str) -> None:
    """The last gate is passed: mark the request done and give the user's concurrency slot back."""
    from ..stores.sessions import session_store

    request = get_request(request_id)
    finals = [r for r in postgres.list_phase_runs(request_id, 7) if r.get("output_uri")]
    manifest_uri = _cached_json(finals[-1]["output_uri"]).get("exports", {}).get("manifest") if finals else None
    if manifest_uri:  # the last gate is decided only now: the manifest gets every decision
        manifest = objects.get_json(manifest_uri)
        manifest["phases"] = phase_records(request_id)
        manifest["completed_at"] = _now().isoformat()
        objects.put_named("final_products", objects.parse_uri(manifest_uri)[1], _json_bytes(manifest), "application/json")
    postgres.update_request(request_id, status="completed", result_uri=manifest_uri)
    session_store().release(request.get("user_id") or "local-user", request_id)
    live.publish(request_id, {"type": "completed", "phase": 7, "status": "completed"})


# -- phase 2: character sheets are images beside the data ----------------------------------------

def run_characters(request: dict[str, Any], inputs: dict[str, Any], feedback: dict[str, Any] | None) -> dict[str, Any]:
    from ..render import panel_art

    output = phase_module(2).run(inputs, feedback, provider())
    main = [c for c in output.get("characters", []) if c.get("role") in ("protagonist", "deuteragonist")][:2]
    references = []
    for character in main or output.get("characters", [])[:2]:
        image = panel_art.draw_character_sheet(character, 512)
        uri = objects.put_bytes("output_images", panel_art.png_bytes(image), "image/png",
                                prefix=f"requests/{request['request_id']}/characters")
        references.append({"character_id": character["id"], "uri": uri})
    output["reference_images"] = references
    return output


# -- phase 5: one panel per call, fanned out by the workflow -------------------------------------

def _panels(storyboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for page in storyboard.get("pages", []) for panel in page.get("panels", [])]


def plan_panels(request: dict[str, Any], selected: dict[str, int], attempt: int) -> dict[str, Any]:
    inputs = load_inputs(request, selected, 5)
    panel_ids = [panel["panel_id"] for panel in _panels(inputs["storyboard"])]
    live.publish(request["request_id"], {"type": "panels_planned", "phase": 5, "attempt": attempt,
                                                      "total": len(panel_ids)})
    return {"request_id": request["request_id"], "phase": 5, "attempt": attempt, "panel_ids": panel_ids}


def panel_size_px(panel: dict[str, Any], storyboard: dict[str, Any]) -> tuple[int, int]:
    """The panel's size on its page, so the art is drawn once at the size it is printed."""
    from ..render import pages

    page = next(p for p in storyboard.get("pages", []) if any(q["panel_id"] == panel["panel_id"] for q in p["panels"]))
    _, _, width, height = pages.panel_rects_px(page, tuple(storyboard.get("page_size_px") or pages.PAGE_SIZE_PX))[panel["panel_id"]]
    return int(width), int(height)


def render_panel(request: dict[str, Any], inputs: dict[str, Any], panel_id: str, attempt: int,
                 feedback: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """Describe and draw one panel; a failed drawing falls back to simplified, then placeholder."""
    from ..phases import phase5_images
    from ..render import panel_art

    storyboard = inputs["storyboard"]
    panel = next((p for p in _panels(storyboard) if p["panel_id"] == panel_id), None)
    if panel is None:
        raise NotFound(f"panel_id {panel_id!r} is not in the chosen storyboard", field="panel_id")
    description = phase5_images.describe_panel(inputs, panel_id, feedback, provider())
    size = panel_size_px(panel, storyboard)
    characters = inputs["characters"].get("characters", [])
    style = inputs.get("style") or inputs["concept"].get("genre") or "shojo"
    last_error: Exception | None = None
    for variant in PANEL_FALLBACKS:
        try:
            image = panel_art.draw_panel(description, characters, size, style=style, variant=variant)
            data = panel_art.png_bytes(image)
            break
        except Exception as err:  # noqa: BLE001 - a panel never fails the manga
            last_error = err
            log_event("panel drawing fell back", logging.WARNING, request_id=request["request_id"],
                      panel_id=panel_id, variant=variant, error=str(err))
    else:
        raise DomainError(f"panel {panel_id} could not be drawn even as a placeholder: {last_error}", status=500)
    uri = objects.put_bytes("output_images", data, "image/png", prefix=f"requests/{request['request_id']}/panels")
    output = {**description, "panel_id": panel_id, "image_uri": uri, "size_px": list(size), "attempt": attempt,
              "fallback": variant}
    return output, variant


def collect_panels(request_id: str, attempt: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """The phase-5 aggregate: every panel of this attempt, in storyboard order."""
    runs = {run["panel_id"]: run for run in postgres.list_phase_runs(request_id, 5)
            if run.get("panel_id") and int(run["attempt"]) == attempt and run.get("status") == "succeeded"}
    descriptions = []
    missing = []
    for panel in _panels(inputs["storyboard"]):
        run = runs.get(panel["panel_id"])
        if run is None:
            missing.append(panel["panel_id"])
            continue
        descriptions.append(_cached_json(run["output_uri"]))
    if missing:
        raise DomainError(f"panels not rendered for attempt {attempt}: {', '.join(missing[:10])}", status=409,
                          field="panel_id")
    return {"image_descriptions": descriptions, "story_context": inputs["storyboard"].get("story_context", {}),
            "characters": inputs["characters"].get("characters", []),
            "processing_metadata": {"phase": 5, "timestamp": _now().isoformat(), "status": "completed"}}


# -- phase 7: pages, exports and the manifest ----------------------------------------------------

def finalize(request: dict[str, Any], inputs: dict[str, Any], feedback: dict[str, Any] | None,
             attempt: int) -> dict[str, Any]:
    from PIL import Image

    request_id = request["request_id"]
    panel_images = {}
    for description in inputs["images"]["image_descriptions"]:
        with Image.open(io.BytesIO(objects.get_bytes(description["image_uri"]))) as image:
            panel_images[description["panel_id"]] = image.convert("RGB")
    output, files = phase_module(7).run(inputs, feedback, None, panel_images=panel_images)
    prefix = f"requests/{request_id}/attempt-{attempt}"
    uris = {}
    for name, data in sorted(files.items()):
        content_type = {"png": "image/png", "pdf": "application/pdf", "cbz": "application/vnd.comicbook+zip",
                        "webp": "image/webp", "json": "application/json"}.get(name.rsplit(".", 1)[-1],
                                                                             "application/octet-stream")
        uris[name] = objects.put_named("final_products", f"{prefix}/{name}", data, content_type)
    page_uris = sorted((name, uri) for name, uri in uris.items() if name.startswith("pages/") and name.endswith(".png"))
    output["pages"] = [{"page": index, "uri": uri} for index, (_, uri) in enumerate(page_uris, start=1)]
    output["exports"] = {"pdf": uris.get("manga.pdf"), "cbz": uris.get("manga.cbz")}
    manifest = build_manifest(request, inputs, output)
    output["exports"]["manifest"] = objects.put_named("final_products", f"{prefix}/manifest.json",
                                                      _json_bytes(manifest), "application/json")
    return output


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")


def phase_records(request_id: str) -> list[dict[str, Any]]:
    """Every attempt (score, decision, timing, fallback, output) and gate of every phase."""
    return postgres.request_state(request_id)["phases"]


def build_manifest(request: dict[str, Any], inputs: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """Everything about the run: request, options, each phase's output, scores, timings, gates."""
    request_id = request["request_id"]
    phases = phase_records(request_id)
    return {
        "request": {key: request.get(key) for key in ("request_id", "language", "style", "pages", "title", "created_at")},
        "options": request.get("options") or {},
        "story": inputs.get("text", ""),
        "outputs": {PHASE_KEYS[p]: inputs.get(PHASE_KEYS[p]) for p in range(1, 7)},
        "final": {"pages": output.get("pages"), "exports": {k: v for k, v in output.get("exports", {}).items()},
                  "quality_checks": output.get("quality_checks")},
        "phases": phases,
        "generated_at": _now().isoformat(),
    }


# -- previews --------------------------------------------------------------------------------------

def summarize(phase: int, output: dict[str, Any]) -> str:
    """A few lines a person can judge a phase by, at its approval gate."""
    if phase == 1:
        return (f"genre {output.get('genre')}, tone {output.get('tone')}, theme: {output.get('theme')}\n"
                f"keywords: {', '.join(map(str, output.get('keywords', [])[:8]))}")
    if phase == 2:
        return "\n".join(f"{c.get('name')} ({c.get('role')}): {c.get('personality')}" for c in output.get("characters", []))
    if phase == 3:
        return "\n".join(f"{s.get('scene_id')} [{s.get('emotion')}] {str(s.get('description'))[:80]}"
                         for s in output.get("scenes", []))
    if phase == 4:
        pages = output.get("pages", [])
        return f"{len(pages)} pages, {sum(len(p.get('panels', [])) for p in pages)} panels, reading {output.get('reading_direction')}"
    if phase == 5:
        images = output.get("image_descriptions", [])
        fallbacks = sum(1 for i in images if i.get("fallback") not in (None, "none"))
        return f"{len(images)} panels drawn, {fallbacks} fallbacks"
    if phase == 6:
        placements = output.get("dialogue_placements", [])
        return f"{sum(len(p.get('placements', [])) for p in placements)} bubbles in {len(placements)} panels"
    return f"{len(output.get('pages', []))} pages exported: PDF, CBZ, PNG"
