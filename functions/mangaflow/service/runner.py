"""Running one phase call from the workflow: load inputs, produce, judge, store, record, report.

The phases are plugins (`mangaflow.phases.registry`): this loop is the same for each. A call is
idempotent: the same (request, phase, attempt, panel) returns what was recorded and writes nothing
twice. Artifacts are content-addressed; the phase run keeps references, score, decision and timings;
progress goes to whoever watches.

Each call works with the request's own provider (its `provider` option) around a CallScope of its own
(deadlines, retries, faults, the budget, the model-call records), and takes the call's lease first: a
retry of the same call (the workflow gave up waiting) takes the lease over, and an answer that comes
after that, or after the request failed or was cancelled, is discarded, never recorded as succeeded.
"""
from __future__ import annotations

import functools
import logging
import time
from datetime import datetime, timezone
from typing import Any

from .. import events, quality, schemas
from ..bootstrap import Stores
from ..config import settings
from ..errors import Conflict, DomainError, ValidationError
from ..logs import log_event
from ..phases import registry
from ..phases.phase5_images import PANEL_SCORES
from ..phases.registry import PhaseContext
from ..providers import CallScope, get_provider
from ..providers.calls import ModelSlots
from . import live
from .access import load_request
from .gates import reopened_runs
from .phases import cost_of

PHASE5_OPERATIONS = ("plan", "panel", "collect")
PHASE7_OPERATIONS = ("plan", "page", "collect")   # collect is the whole phase (what a call without operation does)


def provider_name(request: dict[str, Any]) -> str:
    """The provider the request was started with (its `provider` option), else this service's default."""
    return str((request.get("options") or {}).get("provider") or settings().provider)


def scope_for(stores: Stores, request: dict[str, Any], phase: int, attempt: int, panel_id: str | None) -> CallScope:
    """The call's scope; a model's calls take one of the request's `concurrency_limit` model slots each (the
    workflow runs more panel calls at once than that: see ModelSlots). The offline rules have no quota."""
    slots = None
    if provider_name(request) != "offline":
        limit = int((request.get("options") or {}).get("concurrency_limit") or 5)
        slots = ModelSlots(stores.admission, request["request_id"], limit)
    return CallScope(stores.model_calls, request_id=request["request_id"], phase=phase, attempt=attempt,
                     panel_id=panel_id, slots=slots)


def _still_current(stores: Stores, request_id: str, lease: str, token: str) -> None:
    """Raises Conflict when nobody waits for this call's answer any more: the request ended, or a retry of the
    same call took its lease. Its answer is then discarded (logged, never recorded as succeeded)."""
    status = stores.requests.get(request_id).get("status")
    if status in ("failed", "cancelled"):
        why = f"the request was {status} while this call ran"
    elif not stores.model_calls.holds_lease(request_id, lease, token):
        why = "a retry of the same call took it over"
    else:
        return
    log_event("late phase answer discarded", logging.WARNING, request_id=request_id, call=lease, reason=why)
    raise Conflict(f"this answer came too late and was discarded: {why}", field="attempt")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.lru_cache(maxsize=64)
def _cached_json(artifacts: Any, uri: str) -> Any:
    """Outputs are content-addressed, so a URI always names the same bytes. A run reads at most 8 at a time
    (the story and six phases' outputs); a 32-page book's outputs take megabytes as Python objects, so the
    cache keeps a few runs' worth, not 512 outputs."""
    return artifacts.get_json(uri)


def request_inputs(stores: Stores, request: dict[str, Any]) -> dict[str, Any]:
    """The request as the phases see it (the story text comes back from the input bucket)."""
    options = request.get("options") or {}
    return {
        "request_id": request["request_id"],
        "text": _cached_json(stores.artifacts, request["input_uri"])["text"] if request.get("input_uri") else "",
        "language": request.get("language"),
        "style": request.get("style"),
        "pages": request.get("pages"),
        "title": request.get("title") or options.get("title"),
    }


@functools.lru_cache(maxsize=1024)
def recorded_output(phase_runs: Any, request_id: str, phase: int, attempt: int) -> str:
    """Where a recorded attempt's output is. A phase run is written once (recording it again writes nothing),
    so its output URI never changes and each process reads it once: every panel call of phase 5 needs phases
    1-4, which cost four queries a call before. DomainError (never cached) while there is none."""
    run = phase_runs.find(request_id, phase, attempt)
    if run is None or not run.get("output_uri"):
        raise DomainError(f"phase {phase} attempt {attempt} has no recorded output", status=409,
                          field=f"selected.{phase}")
    return str(run["output_uri"])


def load_inputs(stores: Stores, request: dict[str, Any], selected: dict[str, int], phase: int) -> dict[str, Any]:
    """The request plus the chosen attempt of every earlier phase."""
    inputs = request_inputs(stores, request)
    keys = registry.keys()
    for earlier in range(1, phase):
        attempt = selected.get(str(earlier))
        if attempt is None:
            raise DomainError(f"phase {phase} needs phase {earlier}'s result; 'selected.{earlier}' is missing",
                              status=422, field=f"selected.{earlier}")
        uri = recorded_output(stores.phase_runs, request["request_id"], earlier, int(attempt))
        inputs[keys[earlier]] = _cached_json(stores.artifacts, uri)
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


def _operation(phase: int, body: dict[str, Any]) -> str:
    """Phase 5 is called as three named operations; phase 7 as three or as one (a call without `operation`
    composes every page itself); every other phase has one."""
    operation = body.get("operation")
    if phase == 7:
        if operation in (None, "produce", "collect"):
            return "produce"
        if operation not in PHASE7_OPERATIONS:
            raise ValidationError(f"phase 7 has no operation {operation!r}: plan, page or collect", status=422,
                                  field="operation")
        if operation == "page" and body.get("page") is None:
            raise ValidationError("the page operation needs 'page' (a page number of the book)", status=400,
                                  field="page")
        return operation
    if phase != 5:
        if operation not in (None, "produce"):
            raise ValidationError(f"phase {phase} has no operation {operation!r}", status=422, field="operation")
        return "produce"
    if operation not in PHASE5_OPERATIONS:
        raise ValidationError("phase 5 needs 'operation': plan, panel or collect", status=422, field="operation")
    if operation == "panel" and not body.get("panel_id"):
        raise ValidationError("the panel operation needs 'panel_id'", status=400, field="panel_id")
    return operation


def run_phase(stores: Stores, phase: int, body: dict[str, Any]) -> dict[str, Any]:
    """One call of phase `phase` by the workflow (see schemas/http/phase_call.json)."""
    operation = _operation(phase, body)
    request_id, attempt = body["request_id"], int(body["attempt"])
    request = load_request(stores, request_id)
    selected = {str(k): int(v) for k, v in (body.get("selected") or {}).items()}
    plugin = registry.phase(phase)
    if operation == "plan":
        if phase == 7:
            return plan_pages(stores, plugin, request, selected, attempt, _feedback(body))
        return plan_panels(stores, plugin, request, selected, attempt, _feedback(body))
    if operation == "page":
        return page_ahead(stores, plugin, request, selected, attempt, int(body["page"]), _feedback(body))
    panel_id = body["panel_id"] if operation == "panel" else None
    existing = stores.phase_runs.find(request_id, phase, attempt, panel_id=panel_id)
    if existing is not None and existing.get("status") == "succeeded":
        return _response(existing, replay=True)
    if request.get("status") in ("failed", "cancelled"):
        raise Conflict(f"request {request_id} is {request['status']}; its phases are not run any more",
                       field="request_id")
    lease = f"{phase}/{attempt}/{panel_id or operation}"
    token = stores.model_calls.take_lease(request_id, lease)
    scope = scope_for(stores, request, phase, attempt, panel_id)
    try:
        return _run(stores, plugin, request, selected, body, phase, attempt, panel_id, scope, lease, token)
    finally:
        scope.close()


def _run(stores: Stores, plugin: Any, request: dict[str, Any], selected: dict[str, int], body: dict[str, Any],
         phase: int, attempt: int, panel_id: str | None, scope: CallScope, lease: str, token: str) -> dict[str, Any]:
    request_id = request["request_id"]
    if panel_id is None:
        stores.requests.update(request_id, status="running", current_phase=phase)
        live.publish(stores, request_id, {"type": "phase_started", "phase": phase, "attempt": attempt})
        live.activity(stores, request_id, phase)
    started = _now()
    clock = time.perf_counter()
    inputs = load_inputs(stores, request, selected, phase)
    retry = int(body.get("retry", 0))
    ctx = PhaseContext(stores, request, inputs, _feedback(body), attempt, get_provider(provider_name(request), scope))
    fallback = None
    if panel_id is not None:
        output, fallback = plugin.draw_panel(ctx, panel_id)  # type: ignore[attr-defined]
        judged: dict[str, Any] = {"score": PANEL_SCORES[fallback], "hints": [], "checks": {}}
    else:
        output = plugin.produce(ctx)
        judged = plugin.evaluate(output, inputs)
    schemas.validate_output(phase, output, panel=panel_id is not None)
    began = (output.get("processing_metadata") or {}).get("started_at")
    if began:   # work done ahead of this call (phase 7's page calls) is part of the attempt's span
        started = min(started, datetime.fromisoformat(began))
    verdict = quality.gate(float(judged["score"]), retry)
    output_uri = stores.artifacts.put_json("version_snapshots", output, prefix=f"requests/{request_id}/phase{phase}")
    seconds = time.perf_counter() - clock
    _still_current(stores, request_id, lease, token)
    row = stores.phase_runs.record(
        request_id, phase, attempt, panel_id=panel_id, status="succeeded", output_uri=output_uri,
        score=round(float(judged["score"]), 4), decision=verdict["decision"], hints=judged.get("hints", []),
        fallback=fallback, started_at=started, finished_at=_now(), duration_ms=int(seconds * 1000),
    )
    if panel_id is not None:
        live.publish(stores, request_id, {"type": "panel_done", "phase": 5, "panel_id": panel_id, "attempt": attempt,
                                          "fallback": fallback})
        plugin.finish_page_of(ctx, panel_id)  # type: ignore[attr-defined]
        return _response(row)
    # A pass with a warning (0.60-0.70) is shown to the person at the gate, not only recorded.
    warning = judged.get("warning") if verdict["decision"] in ("warn", "give_up") else None
    summary = plugin.summarise(output) + (f"\nquality warning: {warning}" if warning else "")
    preview_uri = stores.artifacts.put_json("preview_cache", {"phase": phase, "attempt": attempt, "summary": summary,
                                                              "warning": warning},
                                            prefix=f"requests/{request_id}/previews")
    stores.phase_runs.add_preview(request_id, phase, preview_uri, attempt=attempt)
    live.publish(stores, request_id, {"type": "phase_done", "phase": phase, "attempt": attempt, "score": row["score"],
                                      "decision": row["decision"], "seconds": round(seconds, 3), "warning": warning})
    _record_analytics(stores, request_id, phase, attempt, row, retry, judged)
    return _response(row, preview_uri=preview_uri, checks=judged.get("checks", {}))


def plan_panels(stores: Stores, plugin: Any, request: dict[str, Any], selected: dict[str, int], attempt: int,
                feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    inputs = load_inputs(stores, request, selected, 5)
    scope = scope_for(stores, request, 5, attempt, None)
    try:
        ctx = PhaseContext(stores, request, inputs, feedback, attempt, get_provider(provider_name(request), scope))
        panel_ids = plugin.plan(ctx)
    finally:
        scope.close()
    live.publish(stores, request["request_id"], {"type": "panels_planned", "phase": 5, "attempt": attempt,
                                                 "total": len(panel_ids)})
    return {"request_id": request["request_id"], "phase": 5, "attempt": attempt, "panel_ids": panel_ids}


def plan_pages(stores: Stores, plugin: Any, request: dict[str, Any], selected: dict[str, int], attempt: int,
               feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """Phase 7's `plan`: the pages its `page` calls compose before `collect` (see Final.plan)."""
    inputs = load_inputs(stores, request, selected, 7)
    pages = plugin.plan(PhaseContext(stores, request, inputs, feedback, attempt, None))
    if pages:
        live.publish(stores, request["request_id"], {"type": "pages_planned", "phase": 7, "attempt": attempt,
                                                     "total": len(pages)})
    return {"request_id": request["request_id"], "phase": 7, "attempt": attempt, "pages": pages}


def page_ahead(stores: Stores, plugin: Any, request: dict[str, Any], selected: dict[str, int], attempt: int,
               page: int, feedback: dict[str, Any] | None = None) -> dict[str, Any]:
    """Phase 7's `page`: one page composed and stored ahead of `collect` (see Final.compose_one). It records no
    phase run: a page is named by its content, so a repeated call finds it and draws nothing. A call after the
    attempt's `collect` (a replay) does nothing."""
    request_id = request["request_id"]
    existing = stores.phase_runs.find(request_id, 7, attempt)
    if existing is not None and existing.get("status") == "succeeded":
        return {"request_id": request_id, "phase": 7, "attempt": attempt, "page": page, "composed": False,
                "idempotent_replay": True}
    if request.get("status") in ("failed", "cancelled"):
        raise Conflict(f"request {request_id} is {request['status']}; its phases are not run any more",
                       field="request_id")
    inputs = load_inputs(stores, request, selected, 7)
    done = plugin.compose_one(PhaseContext(stores, request, inputs, feedback, attempt, None), page)
    live.publish(stores, request_id, {"type": "page_done", "phase": 7, "attempt": attempt, "page": page,
                                      "composed": done["composed"]})
    return {"request_id": request_id, "phase": 7, "attempt": attempt, **done}


def _record_analytics(stores: Stores, request_id: str, phase: int, attempt: int, row: dict[str, Any], retry: int,
                      judged: dict[str, Any]) -> None:
    """Quality scores (with what the attempt's model calls cost) feed the BigQuery tables; analytics never
    fails a phase."""
    try:
        provider = provider_name(stores.requests.get(request_id))
        calls = [c for c in stores.model_calls.list(request_id)
                 if c.get("phase") == phase and c.get("attempt") == attempt]
        answered = [c for c in calls if c["status"] in ("ok", "blocked", "late") and c["provider"] != "offline"]
        stores.analytics.record_quality_score(request_id=request_id, phase=phase, attempt=attempt,
                                              score=float(row["score"]), decision=str(row["decision"]),
                                              hints=list(judged.get("hints", [])), provider=provider,
                                              duration_ms=row.get("duration_ms"),
                                              cost_usd=round(sum(float(c["cost_usd"]) for c in calls), 8),
                                              model_calls=len(answered))
        if retry:
            stores.analytics.record_retry(request_id=request_id, phase=phase, attempt=attempt, reason="quality",
                                          score=float(row["score"]))
    except Exception as err:  # noqa: BLE001 - analytics is best effort
        log_event("analytics write skipped", logging.WARNING, request_id=request_id, phase=phase, error=str(err))


def complete(stores: Stores, request_id: str) -> None:
    """The last gate is passed: mark the request done and give the user's concurrency slot back."""
    from ..phases.phase7_finalize import json_bytes
    from ..stores.objects import parse_uri

    request = load_request(stores, request_id)
    finals = [r for r in stores.phase_runs.list(request_id, 7) if r.get("output_uri") and not r.get("panel_id")]
    manifest_uri = (_cached_json(stores.artifacts, finals[-1]["output_uri"]).get("exports", {}).get("manifest")
                    if finals else None)
    if manifest_uri:  # the last gate is decided only now: the manifest gets every decision
        manifest = stores.artifacts.get_json(manifest_uri)
        manifest["phases"] = stores.requests.state(request_id)["phases"]
        manifest["cost"] = cost_of(stores, request)
        manifest["completed_at"] = _now().isoformat()
        stores.artifacts.put_named("final_products", parse_uri(manifest_uri)[1], json_bytes(manifest),
                                   "application/json")
    stores.requests.update(request_id, status="completed", result_uri=manifest_uri)
    stores.admission.release(request.get("user_id") or "local-user", request_id)
    live.publish(stores, request_id, {"type": "completed", "phase": 7, "status": "completed"})
    events.run_finished(request_id, "completed", run=reopened_runs(request))
