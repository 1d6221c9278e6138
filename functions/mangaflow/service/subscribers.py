"""What the three Pub/Sub subscribers do with an event (infra/pubsub.yaml): send the review link when a
gate opens, keep the books on phase transitions (timings, run summaries, the completion-time metric),
and remove what an expired session leaves behind (or run the whole cleanup when Cloud Monitoring's
long-session alert publishes its incident).

Delivery is at least once, so each subscriber claims the event's id first: a repeat of an event
already handled is acknowledged without doing anything again; a failure gives the claim back and
answers non-2xx, so Pub/Sub delivers the event again and, after 5 attempts, to the dead-letter topic.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

from ..bootstrap import Stores
from ..config import settings
from ..errors import NotFound, UpstreamUnavailable, ValidationError
from ..logs import log_event
from ..schemas import check_text, validate
from . import idempotent

WEBHOOK_TIMEOUT_S = 10


@dataclass(frozen=True)
class Delivery:
    """One pushed message: the event (or Monitoring's incident) and how often it came."""

    subscription: str
    message_id: str
    attributes: dict[str, str]
    body: dict[str, Any]
    attempt: int = 1
    incident: bool = field(default=False)

    @property
    def event(self) -> str:
        return str(self.body.get("event", ""))


def delivery(envelope: dict[str, Any]) -> Delivery:
    """The push envelope (schemas/http/pubsub_push.json) opened: data decoded and checked."""
    message = envelope["message"]
    attributes = dict(message.get("attributes") or {})
    try:
        body = json.loads(base64.b64decode(message["data"], validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationError("message.data must be the base64 of a JSON object", status=400,
                              field="message.data") from None
    if not isinstance(body, dict):
        raise ValidationError("message.data must hold a JSON object", status=400, field="message.data")
    check_text(body, "message.data")
    incident = "event" not in attributes
    if incident:
        # Cloud Monitoring's Pub/Sub notification: {"incident": {...}, "version": "1.2"}, no attributes.
        if not isinstance(body.get("incident"), dict):
            raise ValidationError("a message without an 'event' attribute must be Cloud Monitoring's incident "
                                  "JSON ({\"incident\": {...}})", status=400, field="message.attributes.event")
    else:
        validate("http/pubsub_event", body)
        if body["event"] != attributes["event"]:
            raise ValidationError(f"attribute event {attributes['event']!r} does not match the body's "
                                  f"{body['event']!r}", status=400, field="message.attributes.event")
    return Delivery(envelope["subscription"], str(message.get("messageId") or message.get("message_id") or ""),
                    attributes, body, int(envelope.get("deliveryAttempt") or 1), incident)


def _expect(delivery_: Delivery, events: tuple[str, ...]) -> None:
    if delivery_.incident or delivery_.event not in events:
        got = "an incident" if delivery_.incident else repr(delivery_.event)
        raise ValidationError(f"this subscriber takes {', '.join(events)} events, got {got}", field="event")


def once(stores: Stores, subscriber: str, delivery_: Delivery, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` for this event unless it was done already (the event id is claimed first)."""
    return idempotent.once(stores, f"event:{subscriber}:{delivery_.body['event_id']}", work,
                           busy="this event is being handled by another delivery; try again later",
                           busy_field="message.data", replayed=lambda response: {**response, "repeat": True})


# -- hitl_feedback_processor ---------------------------------------------------------------------


def notify_review_link(stores: Stores, delivery_: Delivery) -> dict[str, Any]:
    """gate_opened: the review link goes to the deployment's webhook (the topic itself is the
    notice in the cloud when none is set); gate_decided needs nothing sent."""
    _expect(delivery_, ("gate_opened", "gate_decided"))
    if delivery_.event == "gate_decided":
        return {"event": "gate_decided", "sent": False, "reason": "nothing to send for a decision"}
    return once(stores, "hitl_feedback_processor", delivery_, lambda: _send_link(stores, delivery_.body))


def _send_link(stores: Stores, event: dict[str, Any]) -> dict[str, Any]:
    try:
        gate = stores.gates.get(event["gate_id"])
    except KeyError:
        raise NotFound(f"gate {event['gate_id']} does not exist", field="gate_id") from None
    if gate.get("decided_at") is not None:
        return {"event": "gate_opened", "sent": False, "reason": "the gate was decided before the link went out"}
    target = settings().review_webhook_url
    if not target:
        return {"event": "gate_opened", "sent": False, "reason": "no webhook: the topic message is the notice"}
    request = stores.requests.get(event["request_id"])
    notice = {"event": "gate_opened", "request_id": event["request_id"], "user_id": request.get("user_id"),
              "phase": event["phase"], "gate_id": event["gate_id"], "approval_url": event["approval_url"],
              "deadline": event["deadline"]}
    import requests

    try:
        answer = requests.post(target, json=notice, timeout=WEBHOOK_TIMEOUT_S)
    except requests.RequestException as err:
        raise UpstreamUnavailable(f"the review webhook did not answer ({type(err).__name__})",
                                  field="MANGAFLOW_REVIEW_WEBHOOK_URL") from None
    if not 200 <= answer.status_code < 300:
        raise UpstreamUnavailable(f"the review webhook answered HTTP {answer.status_code}",
                                  field="MANGAFLOW_REVIEW_WEBHOOK_URL")
    return {"event": "gate_opened", "sent": True, "gate_id": event["gate_id"]}


# -- phase_transition_handler --------------------------------------------------------------------


def _instant(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _seconds(start: Any, end: Any) -> float:
    return max(0.0, (_instant(end) - _instant(start)).total_seconds())


def _whole(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((r for r in runs if r.get("panel_id") is None and r.get("status") == "succeeded"),
                  key=lambda r: int(r["attempt"]))


def _retries(whole: list[dict[str, Any]]) -> int:
    """Attempts that followed an attempt the quality gate sent back."""
    decided = {int(r["attempt"]): r.get("decision") for r in whole}
    return sum(1 for r in whole if decided.get(int(r["attempt"]) - 1) == "retry")


def phase_timing(runs: list[dict[str, Any]], gates: list[dict[str, Any]], gate_id: str) -> dict[str, Any]:
    """A completed phase's figures from its runs and gates: active_s runs from its first start to
    the final gate's opening, less the earlier gates' waits; gate_wait_s adds up every round's wait."""
    final = next((g for g in gates if g["gate_id"] == gate_id), None)
    starts = [r["started_at"] for r in runs if r.get("started_at")]
    if final is None or not starts:
        raise NotFound(f"gate {gate_id} or its phase's runs are not recorded", field="gate_id")
    rounds = [g for g in gates if int(g["round"]) <= int(final["round"])]
    waits = {g["gate_id"]: _seconds(g["opened_at"], g["decided_at"]) for g in rounds if g.get("decided_at")}
    earlier = sum(wait for gid, wait in waits.items() if gid != gate_id)
    whole = _whole(runs)
    first = min(_instant(s) for s in starts)
    return {"active_s": round(max(0.0, _seconds(first, final["opened_at"]) - earlier), 3),
            "gate_wait_s": round(sum(waits.values()), 3), "attempts": len(whole), "retries": _retries(whole),
            "modifications": sum(1 for g in rounds if g.get("decision") == "modify")}


def record_phase_transition(stores: Stores, delivery_: Delivery) -> dict[str, Any]:
    """phase_completed: the phase's timing row and the completion-time metric; run_finished: the
    run's summary row. gate_decided events on the same topic are not this subscriber's."""
    _expect(delivery_, ("phase_completed", "run_finished"))
    event = delivery_.body
    if delivery_.event == "phase_completed":
        return once(stores, "phase_transition_handler", delivery_, lambda: _phase_completed(stores, event))
    return once(stores, "phase_transition_handler", delivery_, lambda: _run_finished(stores, event))


def _phase_completed(stores: Stores, event: dict[str, Any]) -> dict[str, Any]:
    from .. import metrics

    request_id, phase = event["request_id"], int(event["phase"])
    gates = [g for g in stores.gates.list(request_id) if int(g["phase"]) == phase]
    timing = phase_timing(stores.phase_runs.list(request_id, phase), gates, event["gate_id"])
    decision = event["decision"]
    stores.analytics.record_phase_timing(request_id, phase, timing["active_s"], timing["gate_wait_s"],
                                         attempts=timing["attempts"], retries=timing["retries"],
                                         modifications=timing["modifications"], decision=decision)
    metrics.phase_completed(phase, timing["active_s"])
    return {"event": "phase_completed", "request_id": request_id, "phase": phase, **timing}


def run_cost(request: dict[str, Any]) -> float | None:
    """The run's recorded cost in dollars, when it has one (a number, or {"usd"|"total_usd": n})."""
    for key in ("cost_usd", "cost"):
        value = request.get(key)
        if isinstance(value, dict):
            value = next((value[k] for k in ("usd", "total_usd", "cost_usd") if k in value), None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def review_url(request_id: str, gate: dict[str, Any] | None) -> str | None:
    if gate is None:
        return None
    query = urlencode({"request_id": request_id, "phase": gate["phase"], "gate_id": gate["gate_id"]})
    return f"{settings().public_url}/review_gate?{query}"


def _run_finished(stores: Stores, event: dict[str, Any]) -> dict[str, Any]:
    request_id = event["request_id"]
    try:
        request = stores.requests.get(request_id)
    except KeyError:
        raise NotFound(f"request {request_id} does not exist", field="request_id") from None
    runs, gates = stores.phase_runs.list(request_id), stores.gates.list(request_id)
    active = 0.0
    scores = []
    for phase in range(1, 8):
        phase_runs = [r for r in runs if int(r["phase"]) == phase]
        phase_gates = [g for g in gates if int(g["phase"]) == phase]
        finishing = [g for g in phase_gates if g.get("decided_at") and g.get("decision") != "modify"]
        if finishing and phase_runs:
            active += phase_timing(phase_runs, phase_gates, finishing[-1]["gate_id"])["active_s"]
        whole = _whole(phase_runs)
        if whole and whole[-1].get("score") is not None:
            scores.append(float(whole[-1]["score"]))
    whole_all = [r for phase in range(1, 8) for r in _whole([r for r in runs if int(r["phase"]) == phase])]
    summary = {
        "wall_s": round(_seconds(request["created_at"], event["published_at"]), 3),
        "active_s": round(active, 3), "attempts": len(whole_all),
        "retries": sum(_retries(_whole([r for r in runs if int(r["phase"]) == p])) for p in range(1, 8)),
        "modifications": sum(1 for g in gates if g.get("decision") == "modify"),
        "timeouts": sum(1 for g in gates if g.get("timed_out") and not str(g.get("decided_by", "")).startswith("cleanup")),
        "pages": request.get("pages"), "language": request.get("language"),
        "avg_score": round(sum(scores) / len(scores), 4) if scores else None,
        "min_score": round(min(scores), 4) if scores else None,
        "cost_usd": run_cost(request), "review_url": review_url(request_id, gates[-1] if gates else None),
    }
    stores.analytics.record_run_summary(request_id, event["status"], **summary)
    return {"event": "run_finished", "request_id": request_id, "status": event["status"], **summary}


# -- session_cleanup_service ---------------------------------------------------------------------


def clean_up_session(stores: Stores, delivery_: Delivery, cleanup_now: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """session_expired: remove what the session left behind; Monitoring's incident (the long-session
    alert): run the whole cleanup now (`cleanup_now`, the scheduled job's work)."""
    if delivery_.incident:
        incident = delivery_.body["incident"]
        log_event("long-session alert: running the cleanup now", logging.INFO,
                  incident=str(incident.get("incident_id", ""))[:200], state=str(incident.get("state", ""))[:40])
        return {"incident": True, **cleanup_now()}
    _expect(delivery_, ("session_expired",))
    event = delivery_.body
    return once(stores, "session_cleanup_service", delivery_,
                lambda: {"event": "session_expired", **session_leftovers(stores, event["kind"], event["session_id"],
                                                                         event.get("request_id"))})


def session_leftovers(stores: Stores, kind: str, session_id: str, request_id: str | None,
                      now: dt.datetime | None = None) -> dict[str, int]:
    """What an expired session leaves behind, removed (idempotent: what is gone counts 0): a chat
    session's real-time cache; a HITL session's gates nobody can answer any more."""
    if kind == "chat":
        return {"chat_cache_keys_removed": stores.operations.remove_chat_cache(session_id)}
    now = now or dt.datetime.now(dt.timezone.utc)
    closed = 0
    for gate in stores.operations.abandoned_gates(now - dt.timedelta(hours=1), request_id or session_id):
        closed += int(stores.operations.close_abandoned_gate(gate["gate_id"]))
    return {"abandoned_gates_closed": closed}
