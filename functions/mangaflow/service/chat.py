"""Chat about the current phase: every message is kept (Firestore), parsed into an intent with a
confidence, and applied as the gate's modification when the gate is open and the intent is clear."""
from __future__ import annotations

import logging
import time
from typing import Any

from ..bootstrap import Stores
from ..errors import DomainError, Forbidden
from ..hitl import intents, tokens
from ..logs import log_event
from . import live, review
from .access import Access
from .gates import deadline_epoch

APPLY_CONFIDENCE = 0.7


def chat_message(stores: Stores, body: dict[str, Any], granted: Access) -> dict[str, Any]:
    """Keep the message, parse it, and apply it to the phase's open gate when it is clear. The owner
    may change any open gate of the request; a link holder only the gate of their link."""
    request_id, phase, text = body["request_id"], int(body["phase"]), body["text"]
    started = time.perf_counter()
    request = granted.request
    if granted.gate is not None and int(granted.gate["phase"]) != phase:
        raise Forbidden(f"this approval link is for phase {granted.gate['phase']}, not phase {phase}", field="phase")
    store = stores.chat
    author = request.get("user_id") if granted.is_owner else f"link:{granted.gate['gate_id']}" if granted.gate else "?"
    session = store.open_session(request_id, author, session_id=body.get("session_id") or f"chat-{request_id}")
    if session.get("request_id") not in (None, request_id):
        raise Forbidden("this chat session belongs to another request", field="session_id")
    message = store.add_message(session["session_id"], phase, text)
    intent = intents.parse(phase, text)
    applied = False
    gate = _open_gate(stores, request_id, phase)
    if gate is not None and granted.gate is not None and gate["gate_id"] != granted.gate["gate_id"]:
        gate = None  # the link's gate was decided: a link holder cannot steer the next one
    if body.get("apply", True) and gate is not None and intent["option"] and intent["confidence"] >= APPLY_CONFIDENCE:
        applied = _apply(gate, phase, text, intent)
    stored = store.record_intent(message["message_id"], intent, intent["confidence"], applied=applied)
    live.activity(stores, request_id, phase)
    _metric(stores, session["session_id"], request_id, phase, applied, intent, started)
    return {"session_id": session["session_id"], "message_id": message["message_id"], "intent": intent,
            "intent_id": stored["intent_id"], "applied": applied,
            "gate_id": gate["gate_id"] if gate is not None else None}


def _open_gate(stores: Stores, request_id: str, phase: int) -> dict[str, Any] | None:
    open_gates = [g for g in stores.gates.list(request_id)
                  if int(g["phase"]) == phase and g.get("decided_at") is None and g.get("callback_url")]
    return open_gates[-1] if open_gates else None


def _apply(gate: dict[str, Any], phase: int, text: str, intent: dict[str, Any]) -> bool:
    """Answer the open gate with `modify`, exactly as a reviewer would, through its callback."""
    token = tokens.sign(gate["request_id"], phase, gate["gate_id"], deadline_epoch(gate))
    answer = {"decision": "modify", "feedback": text, "option": intent["option"], "token": token,
              "decided_by": "chat"}
    try:
        review.send_decision(gate, answer)
    except DomainError as err:
        log_event("chat modification not delivered", logging.WARNING, request_id=gate["request_id"], error=err.message)
        return False
    return True


def _metric(stores: Stores, session_id: str, request_id: str, phase: int, applied: bool, intent: dict[str, Any],
            started: float) -> None:
    try:
        stores.analytics.record_chat_metric(session_id, request_id, phase, "text", applied,
                                            intent=intent.get("candidate"), confidence=intent.get("confidence"),
                                            response_ms=int((time.perf_counter() - started) * 1000))
    except Exception as err:  # noqa: BLE001 - analytics is best effort
        log_event("chat metric skipped", logging.WARNING, request_id=request_id, error=str(err))
