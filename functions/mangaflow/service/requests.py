"""Starting a generation and reading a request's whole state."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .. import events
from ..config import settings
from ..errors import DomainError, NotFound, TooBusy
from ..model import RequestStatus, checked
from ..phases.request import validate_request
from ..schemas import validate
from ..bootstrap import Stores
from . import executions, live
from .access import load_request
from .gates import reopened_runs
from .phases import cost_of, phase_keys


def validate_start_body(body: dict[str, Any]) -> dict[str, Any]:
    """Schema first (field names and limits), then the story rules; returns the normalised request."""
    validate("http/start_generation", body)
    request = {key: body[key] for key in ("text", "pages", "language", "style", "title") if key in body}
    if request.get("language") == "auto":
        request.pop("language")
    return validate_request(request)


def start_generation(stores: Stores, body: dict[str, Any], user_id: str, client_address: str) -> dict[str, Any]:
    """Validate, rate-limit, record the request and its story, start the workflow; 202 payload.
    `user_id` is the authenticated principal's: it owns the request and its run slot."""
    request = validate_start_body(body)
    models = model_options(body)
    keys = stores.idempotency
    idempotency_key = body.get("idempotency_key")
    claim = keys.claim(f"start:{user_id}:{idempotency_key}") if idempotency_key else None
    if claim is not None and not claim.claimed:
        if claim.response is not None:
            return claim.response
        raise DomainError("the same idempotency_key is being processed; retry shortly", status=409,
                          field="idempotency_key")
    request_id = stores.requests.new_id()
    try:
        reclaim_slots(stores, user_id)
        admission = stores.admission.admit(client_address, user_id=user_id, request_id=request_id)
    except BaseException:
        if claim is not None:
            keys.abandon(claim)
        raise
    if not admission.allowed:
        if claim is not None:
            keys.abandon(claim)
        if admission.reason == "too_many_concurrent":
            raise TooBusy(f"you already have {admission.active} generations running (the limit is "
                          f"{settings().max_concurrent_requests_per_user}); wait for one to finish",
                          field="(user)", retry_after_s=None)
        raise TooBusy(f"more than {admission.limit} requests per minute from {client_address}; "
                      f"retry in {admission.retry_after_s:.0f} s", field="(client)",
                      retry_after_s=admission.retry_after_s)
    try:
        response = _record_and_start(stores, request_id, request, body, models, user_id, client_address)
    except BaseException:
        # Nothing runs for this request: its slot and its idempotency key are free again at once.
        stores.admission.release(user_id, request_id)
        if claim is not None:
            keys.abandon(claim)
        raise
    if claim is not None:
        keys.store_response(claim, response)
    return response


def model_options(body: dict[str, Any]) -> dict[str, Any]:
    """The request's provider, budget, image mode and panel concurrency: what it asked for, else the defaults;
    a vertex request draws at most MANGAFLOW_VERTEX_CONCURRENCY panels at once (the image model's quota).
    A provider this deployment cannot use is refused here (422), before anything starts."""
    from ..providers import get_provider

    config = settings()
    provider = body.get("provider") or config.provider
    try:
        get_provider(provider)  # vertex: a project (or the local stand-in) and a price for both models
    except DomainError as err:
        raise DomainError(f"provider {provider!r} cannot be used by this service: {err.message}", status=422,
                          field="provider") from None
    concurrency = int(body.get("concurrency_limit", 5))
    if provider == "vertex":
        concurrency = min(concurrency, config.vertex_concurrency)
    return {"provider": provider, "budget_usd": float(body.get("budget_usd", config.budget_usd)),
            "image_mode": body.get("image_mode") or config.image_mode, "concurrency_limit": concurrency}


def panel_calls_at_once(models: dict[str, Any]) -> int:
    """Panel calls the workflow runs at once: twice the model slots for a model (each call holds a slot only
    while it waits on the model, so the other half resize, upload and record meanwhile); the offline rules
    have no slots, and their drawing is the work itself."""
    limit = int(models["concurrency_limit"])
    return limit if models["provider"] == "offline" else 2 * limit


def _record_and_start(stores: Stores, request_id: str, request: dict[str, Any], body: dict[str, Any],
                      models: dict[str, Any], user_id: str, client_address: str) -> dict[str, Any]:
    input_uri = stores.artifacts.put_json("input_data", {"text": request["text"]}, prefix=f"requests/{request_id}")
    hitl = body.get("hitl") or {}
    timeout = int(hitl.get("timeout_seconds", settings().hitl_timeout_s))
    mode = hitl.get("mode", "review")
    stores.requests.create(user_id, request_id=request_id, client_address=client_address, title=request.get("title"),
                            language=request["language"], style=request.get("style"), pages=request["pages"],
                            input_uri=input_uri, hitl_timeout_s=timeout, auto_approve=(mode == "auto"),
                            options={"hitl_mode": mode, **models})
    stores.model_calls.open_budget(request_id, models["budget_usd"])
    stores.progress.open_session(request_id, user_id, current_phase=1)
    try:
        execution = executions.start_execution({
            "request_id": request_id, "hitl_mode": "auto" if mode in ("auto", "auto_approve") else "review",
            "hitl_timeout_seconds": timeout, "concurrency_limit": models["concurrency_limit"],
            "panel_calls_at_once": panel_calls_at_once(models),
            "quality_delay_scale": float(settings().quality_delay_scale),
            "call_timeout_seconds": settings().phase_call_timeout_s,
        })
    except BaseException:
        stores.requests.update(request_id, status="failed", error="the workflow could not be started")
        raise
    stores.requests.update(request_id, execution_name=execution["name"])
    return {"request_id": request_id, "execution": execution["name"], "status": "accepted", **models}


FINISHED = ("completed", "failed", "cancelled")
START_GRACE_S = 60  # a start that is this old has recorded its execution, or never will


def reclaim_slots(stores: Stores, user_id: str) -> list[str]:
    """A run slot belongs to a live execution: slots whose request finished, or whose execution ended
    or no longer exists (an engine that lost it, a crash before the workflow recorded anything), are
    given back. Returns the request ids reclaimed."""
    reclaimed = []
    for request_id, age_s in stores.admission.slot_ages(user_id).items():
        if age_s < START_GRACE_S:
            continue  # a start still in progress (its row or execution may not be recorded yet)
        try:
            request = stores.requests.get(request_id)
        except KeyError:
            request = None
        alive = request is not None and request.get("status") not in FINISHED
        if alive and not request.get("execution_name"):
            stores.requests.update(request_id, status="failed", error="the run was never started")
            alive = False
        if alive and request.get("execution_name"):
            state = executions.execution_state(request["execution_name"])
            if state not in (None, "ACTIVE", "QUEUED"):
                stores.requests.update(request_id, status="cancelled" if state == "CANCELLED" else "failed",
                                        error=f"the workflow execution ended ({state}) without finishing the run")
                alive = False
            elif state is None:
                stores.requests.update(request_id, status="failed", error="the workflow execution no longer exists")
                alive = False
        if not alive:
            stores.admission.release(user_id, request_id)
            reclaimed.append(request_id)
    return reclaimed


def record_failure(stores: Stores, body: dict[str, Any]) -> dict[str, Any]:
    """The workflow gave up on a run: mark it failed, keep the error, free the user's slot."""
    request_id = body["request_id"]
    request = load_request(stores, request_id)
    error = body["error"]
    message = error.get("message") if isinstance(error, dict) else None
    text = str(message or json.dumps(error, ensure_ascii=False, default=str))[:2000]
    stores.requests.update(request_id, status="failed", error=text)
    stores.admission.release(request.get("user_id") or "local-user", request_id)
    live.publish(stores, request_id, {"type": "failed", "status": "failed", "error": text})
    events.run_finished(request_id, "failed", run=reopened_runs(request))
    return {"request_id": request_id, "status": "failed"}


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def runs_of(request: dict[str, Any]) -> dict[str, Any]:
    """`executions` (the first run, then one per reopening, oldest first) and `reopened_from_phase`: each
    reopening keeps the execution it followed (`previous_execution`), the request row the current one."""
    reopens = (request.get("options") or {}).get("reopens") or []
    starts = [{"start_phase": 1, "started_at": _iso(request["created_at"]),
               "hitl_mode": (request.get("options") or {}).get("hitl_mode")}]
    starts += [{"start_phase": int(r["phase"]), "started_at": r["reopened_at"], "hitl_mode": r.get("hitl_mode")}
               for r in reopens]
    names = [r.get("previous_execution") for r in reopens] + [request.get("execution_name")]
    return {"executions": [{**start, "execution": name} for start, name in zip(starts, names)],
            "reopened_from_phase": int(reopens[-1]["phase"]) if reopens else None}


def _moment(value: Any) -> float | None:
    if value is None:
        return None
    return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).timestamp()


# A try the caller waited for (a late answer came after its try was given up: nobody waited for it).
WAITED_TRIES = ("ok", "blocked", "error", "timeout")


def phase_timing(runs: list[dict[str, Any]], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a phase's time went (model.records.PhaseTiming): its wall span over every run (phase 5's panel
    calls included) and every model call (a call row is written when its try ends: it began `latency_ms`
    earlier, so page mode's `plan`, which records no run, counts too), the runs' summed durations, and the
    summed latency of the model calls it waited for."""
    moments: list[float] = []
    for run in runs:
        moments += [m for m in (_moment(run.get("started_at")), _moment(run.get("finished_at"))) if m is not None]
    waited = [c for c in calls if c.get("status") in WAITED_TRIES]
    for call in waited:
        end = _moment(call.get("created_at"))
        if end is not None:
            moments += [end - (call.get("latency_ms") or 0) / 1000, end]
    whole = [r for r in runs if r.get("panel_id") is None]
    panels = [r for r in runs if r.get("panel_id") is not None]
    return {"span_s": round(max(moments) - min(moments), 3) if moments else 0.0,
            "work_s": round(sum(r.get("duration_ms") or 0 for r in whole) / 1000, 3),
            "panels_s": round(sum(r.get("duration_ms") or 0 for r in panels) / 1000, 3),
            "panel_calls": len(panels),
            "ai_wait_s": round(sum(c.get("latency_ms") or 0 for c in waited) / 1000, 3),
            "ai_calls": len(waited)}


def request_state(stores: Stores, request_id: str, owner: bool = True) -> dict[str, Any]:
    """The request with every phase (`"phase": N`): attempts, scores, gate decisions, preview
    versions, feedback and every artifact URI (phase outputs, panel images, pages and exports).
    Someone who is not the owner (a link holder) does not see the owner's address or callback URLs."""
    try:
        state = stores.requests.state(request_id)
    except KeyError:
        raise NotFound(f"request_id {request_id!r} does not exist", field="request_id") from None
    final: dict[str, Any] = {}
    panel_count = 0
    calls = stores.model_calls.list(request_id)
    for phase in state["phases"]:
        number = phase["phase"]
        phase["name"] = phase_keys()[number]
        phase["timing"] = phase_timing(phase["attempts"], [c for c in calls if c.get("phase") == number])
        for attempt in phase["attempts"]:
            attempt["seconds"] = (attempt.get("duration_ms") or 0) / 1000
        for gate in phase["gates"]:
            gate["decision"] = gate.get("decision") or ("timeout" if gate.get("timed_out") else None)
        whole = [a for a in phase["attempts"] if a.get("panel_id") is None and a.get("output_uri")]
        if not whole:
            continue
        chosen = max(whole, key=lambda a: a["attempt"])
        chosen["selected"] = True
        if number == 5:
            images = stores.artifacts.get_json(chosen["output_uri"]).get("image_descriptions", [])
            panel_count = len(images)
            phase["artifacts"] += [i["image_uri"] for i in images if i.get("image_uri")]
        if number == 7:
            final = stores.artifacts.get_json(chosen["output_uri"])
            phase["artifacts"] += [p["uri"] for p in final.get("pages", [])]
            phase["artifacts"] += [u for u in final.get("exports", {}).values() if u]
        phase["artifacts"] = sorted(set(phase["artifacts"]))
    if not owner:
        state.pop("client_address", None)
        for phase in state["phases"]:
            for gate in phase["gates"]:
                gate.pop("callback_url", None)
    from .review_links import open_gate_links

    answer = {**state, "panel_count": panel_count, "final_pages": final.get("pages", []),
              "exports": final.get("exports", {}), "page_count": len(final.get("pages", [])),
              "review_links": open_gate_links(state) if owner else [], "cost": cost_of(stores, state),
              **runs_of(state)}
    if owner:
        answer["translations"] = [{"request_id": t["request_id"], "language": t["language"], "status": t["status"],
                                   "created_at": _iso(t["created_at"])} for t in stores.requests.translations(request_id)]
    # The answer's shape is RequestStatus (docs/data-model.md): checked, then written out as that model.
    return checked(RequestStatus, answer, "the request state").model_dump(mode="json", exclude_unset=True)
