"""Chat about the current phase: every message is kept (Firestore), parsed into an intent with a
confidence, and applied as the gate's modification when the gate is open and the intent is clear."""
from __future__ import annotations

import logging
import time
from typing import Any

import requests as http

from ..errors import NotFound
from ..hitl import intents, tokens
from ..logs import log_event
from ..stores import postgres
from ..stores.chat import chat_store
from . import live
from .gates import deadline_epoch

APPLY_CONFIDENCE = 0.7


def chat_message(body: dict[str, Any]) -> dict[str, Any]:
    request_id, phase, text = body["request_id"], int(body["phase"]), body["text"]
    started = time.perf_counter()
    try:
        request = postgres.get_request(request_id)
    except KeyError:
        raise NotFound(f"request_id {request_id!r} does not exist", field="request_id") from None
    store = chat_store()
    session = store.open_session(request_id, body.get("user_id") or request.get("user_id") or "local-user",
                                 session_id=body.get("session_id") or f"chat-{request_id}")
    message = store.add_message(session["session_id"], phase, text)
    intent = intents.parse(phase, text)
    applied = False
    gate = _open_gate(request_id, phase)
    if body.get("apply", True) and gate is not None and intent["option"] and intent["confidence"] >= APPLY_CONFIDENCE:
        applied = _apply(gate, phase, text, intent)
    stored = store.record_intent(message["message_id"], intent, intent["confidence"], applied=applied)
    live.activity(request_id, phase)
    _metric(session["session_id"], request_id, phase, applied, intent, started)
    return {"session_id": session["session_id"], "message_id": message["message_id"], "intent": intent,
            "intent_id": stored["intent_id"], "applied": applied,
            "gate_id": gate["gate_id"] if gate is not None else None}


def _open_gate(request_id: str, phase: int) -> dict[str, Any] | None:
    open_gates = [g for g in postgres.list_gates(request_id)
                  if int(g["phase"]) == phase and g.get("decided_at") is None and g.get("callback_url")]
    return open_gates[-1] if open_gates else None


def _apply(gate: dict[str, Any], phase: int, text: str, intent: dict[str, Any]) -> bool:
    """Answer the open gate with `modify`, exactly as a reviewer would, through its callback."""
    token = tokens.sign(gate["request_id"], phase, gate["gate_id"], deadline_epoch(gate))
    answer = {"decision": "modify", "feedback": text, "option": intent["option"], "token": token,
              "decided_by": "chat"}
    try:
        response = http.post(gate["callback_url"], json=answer, timeout=30)
    except http.RequestException as err:
        log_event("chat modification not delivered", logging.WARNING, request_id=gate["request_id"], error=str(err))
        return False
    return response.status_code < 300


def _metric(session_id: str, request_id: str, phase: int, applied: bool, intent: dict[str, Any], started: float) -> None:
    try:
        from ..stores import analytics

        analytics.record_chat_metric(session_id, request_id, phase, "text", applied, intent=intent.get("candidate"),
                                     confidence=intent.get("confidence"),
                                     response_ms=int((time.perf_counter() - started) * 1000))
    except Exception as err:  # noqa: BLE001 - analytics is best effort
        log_event("chat metric skipped", logging.WARNING, request_id=request_id, error=str(err))
