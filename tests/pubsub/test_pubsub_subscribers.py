"""The real subscriber functions behind the local Pub/Sub, with the official client: infra/pubsub.yaml's
topology made by ensure(), events published by mangaflow.events, pushed to hitl_feedback_processor,
phase_transition_handler and session_cleanup_service served from this process on the real stores.

A delivery the function fails (its webhook down) comes again; one handled already is acknowledged
without doing its work twice; a message that fails 5 times lands in the dead-letter topic, where
people pull it from hitl-feedback-dlq-inspect."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from pubsub_support import Clients, PushEndpoint, serve_push_endpoint, wait_until

REPO = Path(__file__).resolve().parents[2]
PROJECT = "mangaflow-local"
SUBSCRIBERS = ("hitl_feedback_processor", "phase_transition_handler", "session_cleanup_service")


@pytest.fixture
def webhook() -> Iterator[PushEndpoint]:
    endpoint, server = serve_push_endpoint()
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def subscribers(stack, pubsub, webhook, tmp_path, monkeypatch) -> Iterator[dict]:
    """The three subscriber functions served from this process (as the gateway serves them), the
    topology of infra/pubsub.yaml pointing at them, and mangaflow.events publishing to this server."""
    from werkzeug.serving import make_server

    from localcloud import supervisor
    from localcloud.gateway import build_app
    from localcloud.pubsub.topology import ensure
    from localcloud.services.pytest_plugin import reset_client_caches
    from mangaflow import events

    env = supervisor.function_environment(supervisor.env(), stack["gateway"], supervisor.local_dir())
    for key in ("MANGAFLOW_SIGNING_KEY", "WORKFLOWS_EMULATOR_HOST", "WORKFLOWS_GRPC_EMULATOR_HOST",
                "MANGAFLOW_WORKFLOW", "MANGAFLOW_PUBLIC_URL"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("MANGAFLOW_ANALYTICS_DB", str(tmp_path / "analytics.duckdb"))
    monkeypatch.setenv("MANGAFLOW_REVIEW_WEBHOOK_URL", f"{webhook.url}/review-links")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.address)
    monkeypatch.delenv("MANGAFLOW_METRICS_DIR", raising=False)
    reset_client_caches()
    events.reset()
    server = make_server("127.0.0.1", 0, build_app(SUBSCRIBERS), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    made = ensure(REPO / "infra" / "pubsub.yaml", {name: f"{base}/{name}" for name in SUBSCRIBERS}, PROJECT)
    clients = Clients(pubsub.address)
    try:
        yield {"base": base, "ensured": made, "clients": clients}
    finally:
        clients.close()
        server.shutdown()
        events.reset()
        monkeypatch.undo()
        reset_client_caches()


def open_gate(phase: int = 2) -> tuple[str, dict]:
    from mangaflow.bootstrap import stores

    made = stores()
    request = made.requests.create("subscriber-test", request_id=made.requests.new_id(), pages=1, language="en")
    gate = made.gates.open(request["request_id"], phase, timeout_s=600)
    return request["request_id"], gate


def link_notices(webhook: PushEndpoint, gate_id: str) -> list[dict]:
    return [push.json() for push in webhook.pushes if push.json().get("gate_id") == gate_id]


def pull_dead_letters(clients: Clients, event_id: str, timeout: float = 10.0) -> list:
    """Dead letters of this event on the inspect subscription (others' are acknowledged and skipped)."""
    inspect = clients.subscriber.subscription_path(PROJECT, "hitl-feedback-dlq-inspect")
    found: list = []

    def look() -> bool:
        for received in clients.pull(inspect, 50):
            clients.subscriber.acknowledge(subscription=inspect, ack_ids=[received.ack_id])
            if received.message.attributes.get("event_id") == event_id:
                found.append(received)
        return bool(found)

    wait_until(look, timeout, step=0.2)
    return found


def test_the_topology_of_the_yaml_pushes_to_the_three_subscribers(subscribers):
    from google.cloud import pubsub_v1

    subscriber: pubsub_v1.SubscriberClient = subscribers["clients"].subscriber
    by_name = {sub.name.rsplit("/", 1)[-1]: sub
               for sub in subscriber.list_subscriptions(request={"project": f"projects/{PROJECT}"})}

    for subscription, function in (("hitl-feedback-processor", "hitl_feedback_processor"),
                                   ("phase-transition-handler", "phase_transition_handler"),
                                   ("session-cleanup-service", "session_cleanup_service")):
        sub = by_name[subscription]
        assert sub.push_config.push_endpoint == f"{subscribers['base']}/{function}"
        assert sub.dead_letter_policy.max_delivery_attempts == 5
        assert sub.dead_letter_policy.dead_letter_topic == f"projects/{PROJECT}/topics/hitl-feedback-dlq"
    assert not by_name["hitl-feedback-dlq-inspect"].push_config.push_endpoint  # people pull dead letters


def test_a_gate_opened_event_sends_the_review_link_to_the_webhook(subscribers, webhook):
    from mangaflow import events

    request_id, gate = open_gate()
    url = f"http://review.example/review_gate?gate_id={gate['gate_id']}#token=t"

    assert events.gate_opened(request_id, 2, gate["gate_id"], url, 1_900_000_000) is True

    assert wait_until(lambda: link_notices(webhook, gate["gate_id"]), timeout=10)
    [notice] = link_notices(webhook, gate["gate_id"])
    assert notice == {"event": "gate_opened", "request_id": request_id, "user_id": "subscriber-test", "phase": 2,
                      "gate_id": gate["gate_id"], "approval_url": url, "deadline": 1_900_000_000}


def test_a_failed_delivery_comes_again_and_a_repeat_does_nothing_twice(subscribers, webhook):
    from mangaflow import events

    request_id, gate = open_gate()
    webhook.statuses.extend([503, 503])  # the webhook is down for two deliveries

    events.gate_opened(request_id, 2, gate["gate_id"], "http://review.example/a", 1_900_000_000)

    assert wait_until(lambda: len(link_notices(webhook, gate["gate_id"])) >= 3, timeout=15)
    # The same event published again (a function retried by the workflow, say): not sent again.
    events.gate_opened(request_id, 2, gate["gate_id"], "http://review.example/a", 1_900_000_000)
    time.sleep(1.0)
    assert len(link_notices(webhook, gate["gate_id"])) == 3
    body = {"event": "gate_opened", "event_id": f"gate_opened:{gate['gate_id']}", "request_id": request_id,
            "phase": 2, "gate_id": gate["gate_id"], "approval_url": "http://review.example/a",
            "deadline": 1_900_000_000, "published_at": "2030-01-01T00:00:00+00:00"}
    answer = requests.post(f"{subscribers['base']}/hitl_feedback_processor", timeout=10, json={
        "subscription": "projects/p/subscriptions/hitl-feedback-processor",
        "message": {"data": base64.b64encode(json.dumps(body).encode()).decode(), "attributes": {"event": "gate_opened"}}})
    assert answer.status_code == 200 and answer.json() == {"event": "gate_opened", "sent": True,
                                                          "gate_id": gate["gate_id"], "repeat": True}
    assert len(link_notices(webhook, gate["gate_id"])) == 3


def test_a_message_that_fails_five_times_lands_in_the_dead_letter_topic(subscribers, webhook):
    from mangaflow import events

    request_id, gate = open_gate(phase=3)
    webhook.always = 503  # never answers well

    events.gate_opened(request_id, 3, gate["gate_id"], "http://review.example/b", 1_900_000_000)

    dead = pull_dead_letters(subscribers["clients"], f"gate_opened:{gate['gate_id']}", timeout=20)
    assert len(dead) == 1
    letter = dead[0].message
    assert letter.attributes["event"] == "gate_opened"
    assert letter.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert letter.attributes["CloudPubSubDeadLetterSourceSubscription"] == "hitl-feedback-processor"
    assert json.loads(letter.data)["gate_id"] == gate["gate_id"]
    assert len(link_notices(webhook, gate["gate_id"])) == 5


def test_a_malformed_event_is_refused_and_ends_with_the_dead_letters(subscribers):
    """Bad data never succeeds: 400 on every delivery, then the dead-letter topic for people to read."""
    clients = subscribers["clients"]
    topic = f"projects/{PROJECT}/topics/phase-completion-topic"

    clients.publish(topic, b"not json", event="phase_completed", event_id="malformed-1")

    dead = pull_dead_letters(clients, "malformed-1", timeout=20)
    assert [d.message.data for d in dead] == [b"not json"]


def test_a_delivery_for_another_event_is_refused_with_the_field(subscribers):
    data = base64.b64encode(json.dumps({"event": "gate_opened", "event_id": "x", "published_at":
                                        "2030-01-01T00:00:00+00:00"}).encode()).decode()
    answer = requests.post(f"{subscribers['base']}/phase_transition_handler", timeout=10, json={
        "subscription": "projects/p/subscriptions/s", "message": {"data": data, "attributes": {"event": "gate_opened"}}})

    assert answer.status_code in (400, 422) and answer.json()["field"] in ("event", "request_id")


def test_session_expired_removes_the_chat_cache_and_the_alert_runs_the_cleanup(subscribers):
    from mangaflow import events
    from mangaflow.stores.sessions import session_store

    redis = session_store().client
    session_id = f"sess-{os.getpid()}-{dt.datetime.now().timestamp():.0f}"
    redis.set(f"chat:{session_id}:recent", "[]")
    redis.set(f"chat:{session_id}:typing", "1")

    events.session_expired("chat", session_id, None, dt.datetime.now(dt.timezone.utc))

    assert wait_until(lambda: not list(redis.scan_iter(match=f"chat:{session_id}:*")), timeout=10)
    # Cloud Monitoring's long-session alert: an incident with no `event` attribute runs the cleanup.
    incident = {"incident": {"incident_id": "0.abc", "state": "open", "policy_name": "HITL session open longer"},
                "version": "1.2"}
    answer = requests.post(f"{subscribers['base']}/session_cleanup_service", timeout=60, json={
        "subscription": f"projects/{PROJECT}/subscriptions/session-cleanup-service",
        "message": {"data": base64.b64encode(json.dumps(incident).encode()).decode(), "messageId": "9"}})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["incident"] is True
    assert {"chat_sessions_closed", "hitl_sessions_removed", "abandoned_gates_closed", "temp_objects_removed",
            "preview_objects_removed"} <= set(result)


def test_a_decision_publishes_its_events_together_and_each_arrives(subscribers, monkeypatch):
    """An approval is two events on two topics (gate_decided, phase_completed), sent together and acknowledged
    together: both arrive with the gate's fields; a modification is the one event; with Pub/Sub unreachable
    both are counted failed and the caller is told (False), never raised to."""
    from mangaflow import events

    clients: Clients = subscribers["clients"]
    suffix = os.urandom(4).hex()
    taps = {topic: clients.subscription(f"tap-{topic}-{suffix}", clients.publisher.topic_path(PROJECT, topic))
            for topic in ("hitl-feedback-topic", "phase-completion-topic")}
    request_id, gate = open_gate(4)

    def arrived(topic: str) -> list[dict]:
        found: list[dict] = []

        def look() -> bool:
            for received in clients.pull(taps[topic], 50):
                clients.subscriber.acknowledge(subscription=taps[topic], ack_ids=[received.ack_id])
                body = json.loads(received.message.data)
                if body.get("gate_id") == gate["gate_id"]:
                    found.append(body)
            return bool(found)

        wait_until(look, 5.0, step=0.1)
        return found

    assert events.gate_decided(request_id, 4, gate["gate_id"], "modify") is True
    assert [(e["event"], e["decision"]) for e in arrived("hitl-feedback-topic")] == [("gate_decided", "modify")]
    assert events.gate_decided(request_id, 4, gate["gate_id"], "approve", run=2) is True
    decided, completed = arrived("hitl-feedback-topic"), arrived("phase-completion-topic")
    assert [(e["event"], e["decision"], e["phase"]) for e in decided] == [("gate_decided", "approve", 4)]
    assert [(e["event"], e["event_id"], e["request_id"]) for e in completed] == [
        ("phase_completed", f"phase_completed:{request_id}:4:run2", request_id)]

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")   # nothing listens there
    events.reset()
    assert events.gate_decided(request_id, 4, gate["gate_id"], "approve") is False
