"""What a person watching a request sees live: progress events and the HITL session."""
from __future__ import annotations

import logging
from typing import Any

from ..bootstrap import Stores
from ..logs import log_event


def publish(stores: Stores, request_id: str, event: dict[str, Any]) -> None:
    stores.progress.publish_progress(request_id, event)


def read(stores: Stores, request_id: str, after_id: str = "0",
         block_ms: int | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Events after `after_id` and the id to continue from."""
    entries = stores.progress.read_progress(request_id, after_id, block_ms=block_ms)
    last = entries[-1][0] if entries else after_id
    return last, [event for _, event in entries]


def activity(stores: Stores, request_id: str, phase: int, deadline: float | None = None) -> None:
    """Renew the session (1 h TTL) and note the phase; a session that expired is reopened."""
    try:
        stores.progress.update_session(request_id, current_phase=phase, feedback_timeout=deadline)
    except KeyError:
        user = stores.requests.get(request_id).get("user_id", "unknown")
        stores.progress.open_session(request_id, user, current_phase=phase, feedback_timeout=deadline)
        log_event("HITL session reopened after expiry", logging.INFO, request_id=request_id, phase=phase)
