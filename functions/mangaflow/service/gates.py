"""Approval gates: the workflow records each gate before waiting on its callback, then has the
answer checked here (bound to the gate by a signed, expiring token) before acting on it."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from .. import events
from ..bootstrap import Stores
from ..config import settings
from ..errors import DomainError, NotFound
from ..hitl import intents, tokens
from ..logs import log_event
from ..schemas import check_text, validate
from . import executions, live
from .access import load_request

MAX_MODIFICATIONS = 3
# The engine's wait ends at the deadline; a second or two of clock difference is not an attack.
TIMEOUT_SLACK_S = 5


def gate_of(stores: Stores, gate_id: str, request_id: str) -> dict[str, Any]:
    try:
        gate = stores.gates.get(gate_id)
    except KeyError:
        raise NotFound(f"gate_id {gate_id!r} does not exist", field="gate_id") from None
    if gate["request_id"] != request_id:
        raise NotFound(f"gate_id {gate_id!r} does not belong to request {request_id}", field="gate_id")
    return gate


def deadline_epoch(gate: dict[str, Any]) -> int:
    deadline = gate["deadline"]
    if isinstance(deadline, str):
        deadline = datetime.fromisoformat(deadline)
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=timezone.utc)
    return int(deadline.timestamp())


def open_gate(stores: Stores, body: dict[str, Any]) -> dict[str, Any]:
    """Record the gate (callback URL, preview, deadline) and tell whoever is watching."""
    request_id, phase, attempt = body["request_id"], int(body["phase"]), int(body["attempt"])
    request = load_request(stores, request_id)
    round_ = min(int(body.get("modifications", 0)), MAX_MODIFICATIONS)
    previews = [v for v in stores.phase_runs.previews(request_id, phase) if v.get("attempt") == attempt]
    preview_uri = previews[-1]["uri"] if previews else None
    modify_error = failed_modification(body.get("modify_error"))
    if modify_error and preview_uri:  # the gate reopens on the version shown before, saying why
        preview = {**stores.artifacts.get_json(preview_uri), "modify_error": modify_error}
        preview_uri = stores.artifacts.put_json("preview_cache", preview, prefix=f"requests/{request_id}/previews")
    if not executions.is_callback_url(body["callback_url"]):
        raise DomainError("'callback_url' is not a callback endpoint of this pipeline's executions", status=422,
                          field="callback_url")
    timeout = int(body.get("timeout_seconds") or request.get("hitl_timeout_s") or 1800)
    gate = stores.gates.open(request_id, phase, callback_url=body["callback_url"], preview_uri=preview_uri,
                             timeout_s=timeout, round=round_, run=reopened_runs(request))
    auto = body.get("auto_decision")
    if auto:
        decided = stores.gates.decide(gate["gate_id"], auto, decided_by="workflow:skip")
        _after_decision(stores, request_id, phase, gate["gate_id"], decided.get("decision") or auto, gate=decided,
                        request=request)
        return {"gate_id": gate["gate_id"], "decision": decided.get("decision"), "timeout_seconds": timeout}
    expires = deadline_epoch(gate)
    token = tokens.sign(request_id, phase, gate["gate_id"], expires)
    stores.requests.update(request_id, status="waiting", current_phase=phase)
    live.activity(stores, request_id, phase, deadline=expires)
    summary = stores.artifacts.get_json(preview_uri).get("summary", "") if preview_uri else ""
    live.publish(stores, request_id, {
        "type": "gate_open", "request_id": request_id, "phase": phase, "attempt": attempt, "gate_id": gate["gate_id"],
        "callback_url": body["callback_url"], "token": token, "deadline": expires, "preview_uri": preview_uri,
        "summary": summary, "approval_url": approval_url(request_id, phase, gate["gate_id"], token),
        **({"modify_error": modify_error} if modify_error else {}),
    })
    events.gate_opened(request_id, phase, gate["gate_id"], approval_url(request_id, phase, gate["gate_id"], token), expires)
    remaining = max(30, expires - int(time.time()))
    return {"gate_id": gate["gate_id"], "decision": None, "timeout_seconds": remaining}


def approval_url(request_id: str, phase: int, gate_id: str, token: str) -> str:
    """The link a reviewer opens: the gate in the query, the token in the fragment (browsers never
    send a fragment, so it stays out of server logs; the page drops it from history)."""
    query = urlencode({"request_id": request_id, "phase": phase, "gate_id": gate_id})
    return f"{settings().public_url}/review_gate?{query}#token={token}"


def record_decision(stores: Stores, body: dict[str, Any]) -> dict[str, Any]:
    """Check and record what came back on the callback (or the timeout); tell the workflow what to do.

    Returns {"decision": approve|modify|skip|timeout|invalid, "feedback": {...} | None,
    "remaining_seconds": n}. `invalid` (a forged, expired or mismatched answer) makes the workflow
    wait again for the rest of the gate's time; nothing is recorded for it.
    """
    request_id, phase, gate_id = body["request_id"], int(body["phase"]), body["gate_id"]
    gate = gate_of(stores, gate_id, request_id)
    remaining = max(0, deadline_epoch(gate) - int(time.time()))
    if gate.get("decided_at") is not None:
        decision = gate.get("decision") or "timeout"
        _finish_an_interrupted_decision(stores, request_id, phase, gate, decision)
        return {"decision": decision, "feedback": None, "remaining_seconds": remaining}
    if body.get("timed_out") is True:
        # Only the engine's own wait running out means timeout, and never before the gate's deadline.
        if remaining > TIMEOUT_SLACK_S:
            return _invalid(stores, request_id, phase, gate_id, remaining,
                            f"a timeout was reported {remaining} s before the gate's deadline")
        stores.gates.decide(gate_id, None, timed_out=True, decided_by="timeout")
        _after_decision(stores, request_id, phase, gate_id, "timeout")
        return {"decision": "timeout", "feedback": None, "remaining_seconds": 0}
    answer = body.get("callback")
    try:
        if not isinstance(answer, dict):
            raise DomainError("the answer must be a JSON object with 'decision' and 'token'", status=400,
                              field="callback")
        check_text(answer)
        validate("http/gate_answer", answer)
        tokens.verify(answer["token"], request_id, phase, gate_id)
        revert_to = _revert_target(stores, request_id, phase, answer) if answer["decision"] == "approve" else None
    except DomainError as err:
        return _invalid(stores, request_id, phase, gate_id, remaining, err.message)
    decision = answer["decision"]
    feedback = None
    if decision == "modify":
        if int(gate.get("round") or 0) >= MAX_MODIFICATIONS:
            decision = "approve"  # three modifications were made already: go on with the latest
        else:
            intent = intents.parse(phase, answer.get("feedback", ""), answer.get("option"))
            stores.gates.record_feedback(request_id, phase, text=answer.get("feedback", ""),
                                         quick_option=intent.get("option"), parsed_intent=intent,
                                         intensity=intent.get("intensity"), confidence=intent.get("confidence"),
                                         gate_id=gate_id)
            feedback = intents.feedback_for_phase(phase, answer, intent)
            feedback["base_attempt"] = shown_attempt(stores, gate)
    decided = stores.gates.decide(gate_id, decision, decided_by=str(answer.get("decided_by") or "reviewer")[:128],
                                  feedback=answer.get("feedback"))
    _after_decision(stores, request_id, phase, gate_id, decision, gate=decided)
    return {"decision": decision, "feedback": feedback, "remaining_seconds": remaining, "attempt": revert_to}


def shown_attempt(stores: Stores, gate: dict[str, Any]) -> int | None:
    """The attempt a gate showed (its preview's), which a modification builds on."""
    attempt = stores.artifacts.get_json(gate["preview_uri"]).get("attempt") if gate.get("preview_uri") else None
    return int(attempt) if attempt else None


def failed_modification(error: Any) -> str | None:
    """What a person reads when their modification could not be made: the phase function's own
    message when it answered, else the workflow's error message."""
    if not error:
        return None
    if not isinstance(error, dict):
        return str(error)[:500]
    body = error.get("body")
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:500]
    return str(error.get("message") or "the modified version could not be made")[:500]


def _invalid(stores: Stores, request_id: str, phase: int, gate_id: str, remaining: int, reason: str) -> dict[str, Any]:
    """A forged, stale or malformed answer: nothing is recorded and the gate keeps waiting."""
    live.publish(stores, request_id, {"type": "gate_rejected_answer", "phase": phase, "gate_id": gate_id,
                                      "reason": reason})
    return {"decision": "invalid", "feedback": None, "remaining_seconds": max(30, remaining), "reason": reason}


def _revert_target(stores: Stores, request_id: str, phase: int, answer: dict[str, Any]) -> int | None:
    """`approve` may name an earlier attempt of the phase to go on with (reverting to that version)."""
    attempt = answer.get("attempt")
    if attempt is None:
        return None
    run = stores.phase_runs.find(request_id, phase, int(attempt))
    if run is None or run.get("status") != "succeeded" or not run.get("output_uri"):
        raise DomainError(f"phase {phase} has no finished attempt {attempt} to revert to", status=422,
                          field="attempt")
    return int(attempt)


def _finish_an_interrupted_decision(stores: Stores, request_id: str, phase: int, gate: dict[str, Any],
                                    decision: str) -> None:
    """A decision asked for again (the workflow retries `record_decision` when its call failed): when the call
    that recorded it died before what follows it (the request still waits at this gate: not running again, or
    after the last gate not completed), that part is done now. Otherwise nothing is done twice."""
    request = load_request(stores, request_id)
    if request.get("status") != "waiting" or int(request.get("current_phase") or 0) != phase:
        return
    log_event("a recorded decision's follow-up was interrupted; finishing it", logging.WARNING,
              request_id=request_id, phase=phase, gate_id=gate["gate_id"], decision=decision)
    _after_decision(stores, request_id, phase, gate["gate_id"], decision, gate=gate, request=request)


def _after_decision(stores: Stores, request_id: str, phase: int, gate_id: str, decision: str, *,
                    gate: dict[str, Any] | None = None, request: dict[str, Any] | None = None) -> None:
    """What follows a decision. `gate` is the row the decision returned and `request` the request the call
    already read, when there are: each read again was a database round trip between two phases."""
    _record_gate_analytics(stores, gate_id, decision, gate)
    events.gate_decided(request_id, phase, gate_id, decision,
                        run=reopened_runs(request if request is not None else load_request(stores, request_id)))
    if phase == 7 and decision != "modify":
        from .runner import complete

        complete(stores, request_id)
    else:
        stores.requests.update(request_id, status="running")
        live.activity(stores, request_id, phase)
    live.publish(stores, request_id, {"type": "gate_decided", "phase": phase, "gate_id": gate_id,
                                      "decision": decision})


def reopened_runs(request: dict[str, Any]) -> int:
    """How often the request was reopened (service/reopening.py): its current run's number, 0 for the first."""
    return len((request.get("options") or {}).get("reopens") or [])


def _record_gate_analytics(stores: Stores, gate_id: str, decision: str, gate: dict[str, Any] | None = None) -> None:
    """Gate outcomes feed `user_feedback_analysis`; analytics never holds up the pipeline."""
    try:
        gate = gate if gate is not None and gate.get("opened_at") is not None else stores.gates.get(gate_id)
        opened = gate["opened_at"]
        opened = datetime.fromisoformat(opened) if isinstance(opened, str) else opened
        wait_s = max(0.0, (datetime.now(timezone.utc) - opened).total_seconds())
        stores.analytics.record_feedback(gate["request_id"], int(gate["phase"]), decision, wait_s,
                                         modification_round=int(gate.get("round") or 0),
                                         feedback_text=gate.get("feedback") or None)
    except Exception as err:  # noqa: BLE001 - best effort
        log_event("gate analytics skipped", logging.WARNING, gate_id=gate_id, error=str(err))
