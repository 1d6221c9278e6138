"""Edits after the end: a finished request reopened at one phase's approval gate, same request id.

A new execution of the same workflow runs with `reopen` in its argument: the phases before N keep the
attempts the finished run chose, phase N is not produced again (its gate opens at once on its chosen
attempt, to modify, revert, use a quick option or approve), and the phases after it run as usual, so
the incremental rules (the image cache by inputs hash, kept panels, one re-lettered page) reuse whatever
did not change. Every attempt made starts past the numbers used before: new attempts get new artifact
names and the finished book's files stay readable.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from ..auth import Principal
from ..bootstrap import Stores
from ..config import settings
from ..errors import Conflict, Forbidden, TooBusy
from ..logs import log_event
from ..model.base import MAX_ATTEMPTS
from ..schemas import validate
from . import access, executions, live
from .idempotent import once
from .requests import panel_calls_at_once, reclaim_slots
from .translate import chosen_runs

PHASES = range(1, 8)
QUALITY_TRIES = 4  # a produce may use its first attempt number and three quality retries


def reopen_request(stores: Stores, body: dict[str, Any], principal: Principal | None,
                   client_address: str) -> dict[str, Any]:
    """The owner's finished request running again from the gate of `phase`; the 202 payload. A replayed
    `idempotency_key` answers with the same execution."""
    validate("http/reopen", body)
    request_id = body["request_id"]
    granted = access.authorize(stores, request_id, principal, body.get("gate_id"), body.get("token"))
    if not granted.is_owner:
        raise Forbidden("only the request's owner may reopen it (an approval link answers one gate only)",
                        field="request_id")
    user_id = granted.request["user_id"]
    key = body.get("idempotency_key")  # the caller's own, for this request: another request's key is another call
    return once(stores, f"reopen:{user_id}:{request_id}:{key}" if key else None,
                lambda: _reopen(stores, granted.request, int(body["phase"]), body.get("hitl_mode", "review"),
                                client_address))


def refusal(request: dict[str, Any]) -> str | None:
    """Why this request cannot be reopened now (None: it can): only a finished book can, and a book whose
    reopened run failed or was cancelled (its finished book is still there)."""
    status = request.get("status")
    reopens = (request.get("options") or {}).get("reopens") or []
    if status == "completed" or (status in ("failed", "cancelled") and reopens):
        return None
    if status in ("running", "waiting", "pending") and reopens:
        return (f"request {request['request_id']} was already reopened at phase {reopens[-1]['phase']} and is "
                f"{status}; wait for that run to finish (or cancel it) before reopening it again")
    if status in ("running", "waiting", "pending"):
        return (f"request {request['request_id']} is {status}: only a finished book can be reopened; "
                "wait for it to finish (or cancel it)")
    return f"request {request['request_id']} is {status}: only a finished book can be reopened"


def chosen_attempts(stores: Stores, request: dict[str, Any]) -> dict[str, int]:
    """The attempt of every phase the finished book was made from: what its last execution returned
    (`selected`, reverts included), else the latest finished attempt of each phase (get_status's choice)."""
    chosen = {str(phase): int(run["attempt"]) for phase, run in chosen_runs(stores, request["request_id"]).items()}
    name = request.get("execution_name")
    if name:
        try:
            result = executions.get_execution(name).get("result")
            selected = (json.loads(result) if isinstance(result, str) else result or {}).get("selected") or {}
            chosen.update({str(k): int(v) for k, v in selected.items() if str(k) in chosen})
        except Exception as err:  # noqa: BLE001 - an execution the engine forgot: the recorded attempts stand
            log_event("reopen: the last execution's choices are unknown", logging.WARNING,
                      request_id=request["request_id"], execution=name, error=str(err))
    return chosen


def first_attempts(stores: Stores, request_id: str, phase: int) -> dict[str, int]:
    """For phases `phase`..7: the first attempt number the reopened run may use, past every number a
    phase run or a model call of the request used (attempt numbers name the artifacts)."""
    used: dict[int, int] = {p: 0 for p in PHASES}
    for run in stores.phase_runs.list(request_id):
        used[int(run["phase"])] = max(used[int(run["phase"])], int(run["attempt"]))
    for call in stores.model_calls.list(request_id):
        if call.get("phase") in used and call.get("attempt"):
            used[int(call["phase"])] = max(used[int(call["phase"])], int(call["attempt"]))
    return {str(p): used[p] + 1 for p in range(phase, 8)}


def _reopen(stores: Stores, request: dict[str, Any], phase: int, mode: str, client_address: str) -> dict[str, Any]:
    request_id, user_id = request["request_id"], request["user_id"]
    why = refusal(request)
    if why:
        raise Conflict(why, field="request_id")
    selected = chosen_attempts(stores, request)
    missing = [p for p in PHASES if str(p) not in selected]
    if missing:
        raise Conflict(f"request {request_id} has no finished result of phase {missing[0]} to reopen from",
                       field="request_id")
    firsts = first_attempts(stores, request_id, phase)
    spent = [int(p) for p, n in firsts.items() if n + (QUALITY_TRIES - 1) > MAX_ATTEMPTS]
    if spent:
        raise Conflict(f"phase {spent[0]} of request {request_id} has used its {MAX_ATTEMPTS} attempts; it cannot "
                       "be reopened again (start a new request)", field="phase")
    reclaim_slots(stores, user_id)
    admission = stores.admission.admit(client_address, user_id=user_id, request_id=request_id)
    if not admission.allowed:
        raise TooBusy(f"you already have {admission.active} generations running (the limit is "
                      f"{settings().max_concurrent_requests_per_user}); wait for one to finish"
                      if admission.reason == "too_many_concurrent" else
                      f"more than {admission.limit} requests per minute from {client_address}; retry in "
                      f"{admission.retry_after_s:.0f} s", field="(user)" if admission.reason == "too_many_concurrent"
                      else "(client)", retry_after_s=None if admission.reason == "too_many_concurrent"
                      else admission.retry_after_s)
    entry = {"phase": phase, "hitl_mode": mode, "reopened_at": datetime.now(timezone.utc).isoformat(),
             "previous_execution": request.get("execution_name")}
    if stores.requests.reopen(request_id, entry) is None:  # another reopen (or a cancel) got there first
        stores.admission.release(user_id, request_id)
        raise Conflict(refusal(stores.requests.get(request_id)) or f"request {request_id} changed meanwhile; "
                       "read its status and try again", field="request_id")
    try:
        cursor = stores.progress.publish_progress(request_id, {"type": "reopened", "phase": phase,
                                                               "status": "running", "hitl_mode": mode})
        live.activity(stores, request_id, phase)
        execution = executions.start_execution(_argument(request, phase, mode, selected, firsts))
    except BaseException:
        # Nothing runs: the request is the finished book it was, its slot free again.
        stores.requests.undo_reopen(request_id, request["status"])
        stores.admission.release(user_id, request_id)
        raise
    # The run may be past phase N already (an automatic gate): its own calls say where it is.
    stores.requests.update(request_id, execution_name=execution["name"])
    log_event("request reopened", logging.INFO, request_id=request_id, phase=phase, execution=execution["name"])
    return {"request_id": request_id, "execution": execution["name"], "status": "accepted",
            "reopened_from_phase": phase, "hitl_mode": mode, "cursor": cursor,
            "hitl_timeout_seconds": int(request.get("hitl_timeout_s") or settings().hitl_timeout_s),
            "kept_phases": [p for p in PHASES if p < phase], "selected": selected, "first_attempts": firsts}


def _argument(request: dict[str, Any], phase: int, mode: str, selected: dict[str, int],
              firsts: dict[str, int]) -> dict[str, Any]:
    """The workflow's argument: the request's own settings, as its first run had them, plus `reopen`."""
    options = request.get("options") or {}
    models = {"provider": options.get("provider") or settings().provider,
              "concurrency_limit": int(options.get("concurrency_limit") or 5)}
    return {"request_id": request["request_id"], "hitl_mode": "auto" if mode == "auto" else "review",
            "hitl_timeout_seconds": int(request.get("hitl_timeout_s") or settings().hitl_timeout_s),
            "concurrency_limit": models["concurrency_limit"], "panel_calls_at_once": panel_calls_at_once(models),
            "quality_delay_scale": float(settings().quality_delay_scale),
            "call_timeout_seconds": settings().phase_call_timeout_s,
            "reopen": {"phase": phase, "phases": list(range(phase, 8)), "selected": selected,
                       "first_attempts": firsts}}
