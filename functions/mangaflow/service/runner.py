"""Running one phase call from the workflow: load inputs, produce, judge, store, record, report.

The phases are plugins (`mangaflow.phases.registry`): this loop is the same for each. A call is
idempotent: the same (request, phase, attempt, panel) returns what was recorded and writes nothing
twice. Artifacts are content-addressed; the phase run keeps references, score, decision and timings;
progress goes to whoever watches.
"""
from __future__ import annotations

import functools
import logging
import time
from datetime import datetime, timezone
from typing import Any

from .. import events, quality, schemas
from ..bootstrap import Stores
from ..errors import DomainError, ValidationError
from ..logs import log_event
from ..phases import registry
from ..phases.phase5_images import PANEL_SCORES
from ..phases.registry import PhaseContext
from . import live
from .access import load_request
from .phases import provider

PHASE5_OPERATIONS = ("plan", "panel", "collect")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@functools.lru_cache(maxsize=512)
def _cached_json(artifacts: Any, uri: str) -> Any:
    """Outputs are content-addressed, so a URI always names the same bytes."""
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


def load_inputs(stores: Stores, request: dict[str, Any], selected: dict[str, int], phase: int) -> dict[str, Any]:
    """The request plus the chosen attempt of every earlier phase."""
    inputs = request_inputs(stores, request)
    keys = registry.keys()
    for earlier in range(1, phase):
        attempt = selected.get(str(earlier))
        if attempt is None:
            raise DomainError(f"phase {phase} needs phase {earlier}'s result; 'selected.{earlier}' is missing",
                              status=422, field=f"selected.{earlier}")
        run = stores.phase_runs.find(request["request_id"], earlier, int(attempt))
        if run is None or not run.get("output_uri"):
            raise DomainError(f"phase {earlier} attempt {attempt} has no recorded output", status=409,
                              field=f"selected.{earlier}")
        inputs[keys[earlier]] = _cached_json(stores.artifacts, run["output_uri"])
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
    """Phase 5 is called as three named operations; every other phase has one."""
    operation = body.get("operation")
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
        return plan_panels(stores, plugin, request, selected, attempt)
    panel_id = body["panel_id"] if operation == "panel" else None
    existing = stores.phase_runs.find(request_id, phase, attempt, panel_id=panel_id)
    if existing is not None and existing.get("status") == "succeeded":
        return _response(existing, replay=True)
    if panel_id is None:
        stores.requests.update(request_id, status="running", current_phase=phase)
        live.publish(stores, request_id, {"type": "phase_started", "phase": phase, "attempt": attempt})
        live.activity(stores, request_id, phase)
    started = _now()
    clock = time.perf_counter()
    inputs = load_inputs(stores, request, selected, phase)
    retry = int(body.get("retry", 0))
    ctx = PhaseContext(stores, request, inputs, _feedback(body), attempt, provider())
    fallback = None
    if panel_id is not None:
        output, fallback = plugin.draw_panel(ctx, panel_id)  # type: ignore[attr-defined]
        judged: dict[str, Any] = {"score": PANEL_SCORES[fallback], "hints": [], "checks": {}}
    else:
        output = plugin.produce(ctx)
        judged = plugin.evaluate(output, inputs)
    schemas.validate_output(phase, output, panel=panel_id is not None)
    verdict = quality.gate(float(judged["score"]), retry)
    output_uri = stores.artifacts.put_json("version_snapshots", output, prefix=f"requests/{request_id}/phase{phase}")
    seconds = time.perf_counter() - clock
    row = stores.phase_runs.record(
        request_id, phase, attempt, panel_id=panel_id, status="succeeded", output_uri=output_uri,
        score=round(float(judged["score"]), 4), decision=verdict["decision"], hints=judged.get("hints", []),
        fallback=fallback, started_at=started, finished_at=_now(), duration_ms=int(seconds * 1000),
    )
    if panel_id is not None:
        live.publish(stores, request_id, {"type": "panel_done", "phase": 5, "panel_id": panel_id, "attempt": attempt,
                                          "fallback": fallback})
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


def plan_panels(stores: Stores, plugin: Any, request: dict[str, Any], selected: dict[str, int],
                attempt: int) -> dict[str, Any]:
    inputs = load_inputs(stores, request, selected, 5)
    ctx = PhaseContext(stores, request, inputs, None, attempt, provider())
    panel_ids = plugin.plan(ctx)
    live.publish(stores, request["request_id"], {"type": "panels_planned", "phase": 5, "attempt": attempt,
                                                 "total": len(panel_ids)})
    return {"request_id": request["request_id"], "phase": 5, "attempt": attempt, "panel_ids": panel_ids}


def _record_analytics(stores: Stores, request_id: str, phase: int, attempt: int, row: dict[str, Any], retry: int,
                      judged: dict[str, Any]) -> None:
    """Quality scores feed the BigQuery tables; analytics never fails a phase."""
    try:
        stores.analytics.record_quality_score(request_id=request_id, phase=phase, attempt=attempt,
                                              score=float(row["score"]), decision=str(row["decision"]),
                                              hints=list(judged.get("hints", [])))
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
        manifest["completed_at"] = _now().isoformat()
        stores.artifacts.put_named("final_products", parse_uri(manifest_uri)[1], json_bytes(manifest),
                                   "application/json")
    stores.requests.update(request_id, status="completed", result_uri=manifest_uri)
    stores.admission.release(request.get("user_id") or "local-user", request_id)
    live.publish(stores, request_id, {"type": "completed", "phase": 7, "status": "completed"})
    events.run_finished(request_id, "completed")
