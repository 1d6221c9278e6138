"""Events on Pub/Sub: gate opened and decided, phase completed, run finished, session expired, each a
JSON message with the attribute `event` on the topic infra/pubsub.yaml names for it.

Publishing never fails the work it describes: a failure is logged and counted
(`mangaflow/event_publish_failures`), and after one the next publishes of the process go out
without waiting for their acknowledgement for a while, so an outage of Pub/Sub costs the pipeline
one short wait, not one per event. Each event carries an `event_id` made from what it is about
(the gate, the phase, the run), so a subscriber can tell a repeat from a new event.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from typing import Any

from .config import settings
from .logs import log_event

# Which topic carries each event (infra/pubsub.yaml's `events`; tests/ops hold the two together).
TOPIC_OF = {
    "gate_opened": "hitl-feedback-topic",
    "gate_decided": "hitl-feedback-topic",
    "phase_completed": "phase-completion-topic",
    "run_finished": "phase-completion-topic",
    "session_expired": "session-management-topic",
}
FINISHING_DECISIONS = ("approve", "skip", "timeout")  # a gate decided so is its phase completed
WAIT_S = 2.0  # how long a publish waits for Pub/Sub's acknowledgement
QUIET_AFTER_FAILURE_S = 30.0  # after a failure, publishes do not wait for this long

_lock = threading.Lock()
_client: Any = None
_client_pid = 0
_failed_at = 0.0


def _publisher() -> Any:
    """One client per process (PUBSUB_EMULATOR_HOST is read by the library itself)."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            from google.cloud import pubsub_v1

            # One message a batch: each publish is sent at once, not after the batch's 10 ms timer.
            _client = pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_messages=1))
            _client_pid = os.getpid()
        return _client


def reset() -> None:
    """Forget the client (tests that move PUBSUB_EMULATOR_HOST)."""
    global _client, _failed_at
    with _lock:
        _client, _failed_at = None, 0.0


def topic_path(event: str) -> str:
    if event == "gate_opened":
        return settings().notify_topic  # MANGAFLOW_NOTIFY_TOPIC: where review links are announced
    return f"projects/{settings().google_cloud_project}/topics/{TOPIC_OF[event]}"


def _failed(event: str, err: BaseException) -> None:
    global _failed_at
    _failed_at = time.monotonic()
    log_event("event not published", logging.WARNING, event=event, error=f"{type(err).__name__}: {err}")
    from . import metrics

    metrics.event_publish_failed(event)


def publish(event: str, event_id: str, **fields: Any) -> bool:
    """Publish one event; True when Pub/Sub acknowledged it (or it was sent while not waiting)."""
    return publish_all([(event, event_id, fields)])


def publish_all(items: list[tuple[str, str, dict[str, Any]]]) -> bool:
    """Publish several events (event, event_id, fields) at once and wait for their acknowledgements together,
    not one after the other (each wait is a round trip to Pub/Sub; two in a row were 36 ms of an automatic
    gate under load, bench/RESULTS.md "Fixed costs"). True when every one was acknowledged."""
    sent: list[tuple[str, Any]] = []
    ok = True
    for event, event_id, fields in items:
        body = {"event": event, "event_id": event_id,
                "published_at": dt.datetime.now(dt.timezone.utc).isoformat(), **fields}
        attributes = {"event": event, "event_id": event_id[:1024]}
        if fields.get("request_id"):
            attributes["request_id"] = str(fields["request_id"])
        if fields.get("phase") is not None:
            attributes["phase"] = str(fields["phase"])
        try:
            sent.append((event, _publisher().publish(
                topic_path(event), json.dumps(body, ensure_ascii=False, default=str).encode(), **attributes)))
        except Exception as err:  # noqa: BLE001 - an event never fails the pipeline
            _failed(event, err)
            ok = False
    quiet = time.monotonic() - _failed_at < QUIET_AFTER_FAILURE_S
    waited_until = time.monotonic() + WAIT_S
    for event, future in sent:
        if quiet:
            future.add_done_callback(lambda done, event=event: done.exception() and _failed(event, done.exception()))
            continue
        try:
            future.result(timeout=max(0.0, waited_until - time.monotonic()))
        except Exception as err:  # noqa: BLE001 - an event never fails the pipeline
            _failed(event, err)
            ok = False
    return ok


# -- the events, in the pipeline's words -------------------------------------------------------


def gate_opened(request_id: str, phase: int, gate_id: str, approval_url: str, deadline: int) -> bool:
    """A gate waits for a person: the review link goes to the notification topic."""
    return publish("gate_opened", f"gate_opened:{gate_id}", request_id=request_id, phase=phase, gate_id=gate_id,
                   approval_url=approval_url, deadline=deadline)


def _of_run(event_id: str, run: int) -> str:
    """A reopened request's run `run` (1, 2, ...) finishes its phases and itself again: new events, new ids."""
    return f"{event_id}:run{run}" if run else event_id


def gate_decided(request_id: str, phase: int, gate_id: str, decision: str, run: int = 0) -> bool:
    """A gate was answered (or timed out); unless the answer was `modify`, its phase is completed too."""
    fields = {"request_id": request_id, "phase": phase, "gate_id": gate_id, "decision": decision}
    items = [("gate_decided", f"gate_decided:{gate_id}", fields)]
    if decision in FINISHING_DECISIONS:
        items.append(("phase_completed", _of_run(f"phase_completed:{request_id}:{phase}", run), fields))
    return publish_all(items)


def run_finished(request_id: str, status: str, run: int = 0) -> bool:
    """The run ended: completed, failed or cancelled (`run`: the reopened run's number, 0 for the first)."""
    return publish("run_finished", _of_run(f"run_finished:{request_id}", run), request_id=request_id,
                   status=status)


def session_expired(kind: str, session_id: str, request_id: str | None, expired_at: dt.datetime) -> bool:
    """A chat or approval (HITL) session was found idle past its limit and closed."""
    return publish("session_expired", f"session_expired:{kind}:{session_id}:{int(expired_at.timestamp())}",
                   kind=kind, session_id=session_id, request_id=request_id, expired_at=expired_at.isoformat())
