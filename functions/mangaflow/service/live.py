"""What a person watching a request sees live: progress events and the HITL session in Redis."""
from __future__ import annotations

import logging
from typing import Any

from ..logs import log_event
from ..stores.sessions import session_store


def publish(request_id: str, event: dict[str, Any]) -> None:
    session_store().publish_progress(request_id, event)


def read(request_id: str, after_id: str = "0", block_ms: int | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Events after `after_id` and the id to continue from."""
    entries = session_store().read_progress(request_id, after_id, block_ms=block_ms)
    last = entries[-1][0] if entries else after_id
    return last, [event for _, event in entries]


def activity(request_id: str, phase: int, deadline: float | None = None) -> None:
    """Renew the session (1 h TTL) and note the phase; a session that expired is reopened."""
    store = session_store()
    try:
        store.update_session(request_id, current_phase=phase, feedback_timeout=deadline)
    except KeyError:
        from ..stores import postgres

        user = postgres.get_request(request_id).get("user_id", "unknown")
        store.open_session(request_id, user, current_phase=phase, feedback_timeout=deadline)
        log_event("HITL session reopened after expiry", logging.INFO, request_id=request_id, phase=phase)
