"""ensure(): the topics and subscriptions of infra/pubsub.yaml, made through the official client,
idempotently; the design's dead-letter path works end to end on them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from localcloud.pubsub.topology import PubSubFileError, ensure, load_topology
from pubsub_support import PROJECT, REPO

PUBSUB_FILE = REPO / "infra" / "pubsub.yaml"
TOPICS = ["hitl-feedback-topic", "phase-completion-topic", "session-management-topic", "hitl-feedback-dlq"]
SUBSCRIPTIONS = ["hitl-feedback-processor", "phase-transition-handler", "session-cleanup-service",
                 "hitl-feedback-dlq-inspect"]


@pytest.fixture
def emulator_host(pubsub, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.address)
    return pubsub.address


def with_push(tmp_path, **push_functions):
    """The repository's design with only the named subscriptions pushing (the rest pulled), so the
    behaviour of each kind is tested on its own."""
    document = yaml.safe_load(PUBSUB_FILE.read_text())
    for topic in document["topics"]:
        for subscription in topic["subscriptions"]:
            subscription.pop("push_function", None)
            if subscription["name"] in push_functions:
                subscription["push_function"] = push_functions[subscription["name"]]
    path = tmp_path / f"pubsub-{len(push_functions)}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def pulled(tmp_path):
    """The design with every subscription pulled."""
    return with_push(tmp_path)


def test_the_repository_file_is_one_ensure_understands():
    topology = load_topology(PUBSUB_FILE)
    assert topology.topics == TOPICS
    assert [s.name for s in topology.subscriptions] == SUBSCRIPTIONS
    assert (topology.dead_letter_topic, topology.max_delivery_attempts, topology.dead_letter_retention_s) == \
        ("hitl-feedback-dlq", 5, 604800)


def test_ensure_creates_the_design_and_a_second_run_changes_nothing(emulator_host, clients, pulled):
    first = ensure(pulled, {}, PROJECT)
    assert first == {"topics": {"created": TOPICS, "left": []},
                     "subscriptions": {"created": SUBSCRIPTIONS, "updated": [], "left": []}}
    processor = clients.subscriber.get_subscription(subscription=f"projects/{PROJECT}/subscriptions/hitl-feedback-processor")
    assert processor.ack_deadline_seconds == 60
    assert processor.dead_letter_policy.dead_letter_topic == f"projects/{PROJECT}/topics/hitl-feedback-dlq"
    assert processor.dead_letter_policy.max_delivery_attempts == 5
    inspect = clients.subscriber.get_subscription(subscription=f"projects/{PROJECT}/subscriptions/hitl-feedback-dlq-inspect")
    assert not inspect.dead_letter_policy.dead_letter_topic
    assert inspect.message_retention_duration.total_seconds() == 7 * 86400

    second = ensure(pulled, {}, PROJECT)

    assert second == {"topics": {"created": [], "left": TOPICS},
                      "subscriptions": {"created": [], "updated": [], "left": SUBSCRIPTIONS}}


def test_push_functions_point_at_their_urls_and_changes_are_updated(emulator_host, clients, tmp_path, push_endpoint,
                                                                   pulled):
    ensure(pulled, {}, PROJECT)
    pushing = with_push(tmp_path, **{"phase-transition-handler": "phase_transition"})
    urls = {"phase_transition": f"{push_endpoint.url}/phase_transition"}

    changed = ensure(pushing, urls, PROJECT, service_account="pubsub-push@mangaflow-local.iam.gserviceaccount.com")

    assert changed["subscriptions"]["updated"] == ["phase-transition-handler"]
    handler = clients.subscriber.get_subscription(subscription=f"projects/{PROJECT}/subscriptions/phase-transition-handler")
    assert handler.push_config.push_endpoint == urls["phase_transition"]
    assert handler.push_config.oidc_token.audience == urls["phase_transition"]
    clients.publish(f"projects/{PROJECT}/topics/phase-completion-topic", b'{"phase": 2}', event="phase_completed")
    [push] = push_endpoint.wait_for(1)
    assert push.path == "/phase_transition" and push.json()["message"]["attributes"] == {"event": "phase_completed"}
    assert ensure(pushing, urls, PROJECT, service_account="pubsub-push@mangaflow-local.iam.gserviceaccount.com")[
        "subscriptions"]["updated"] == []
    assert ensure(pulled, {}, PROJECT)["subscriptions"]["updated"] == ["phase-transition-handler"]  # back to pull
    assert not clients.subscriber.get_subscription(
        subscription=f"projects/{PROJECT}/subscriptions/phase-transition-handler").push_config.push_endpoint


def test_a_feedback_event_that_fails_five_times_reaches_the_dead_letter_inspection(emulator_host, clients, pulled):
    ensure(pulled, {}, PROJECT)
    processor = f"projects/{PROJECT}/subscriptions/hitl-feedback-processor"
    clients.publish(f"projects/{PROJECT}/topics/hitl-feedback-topic", b'{"gate": "phase3"}', event="gate_opened")
    for attempt in range(1, 6):
        received = clients.pull_one(processor)
        assert received.delivery_attempt == attempt
        clients.subscriber.modify_ack_deadline(subscription=processor, ack_ids=[received.ack_id], ack_deadline_seconds=0)
    dead = clients.pull_one(f"projects/{PROJECT}/subscriptions/hitl-feedback-dlq-inspect")
    assert dead.message.data == b'{"gate": "phase3"}'
    assert dead.message.attributes["CloudPubSubDeadLetterSourceSubscription"] == "hitl-feedback-processor"


def test_a_push_function_without_a_url_is_refused_before_any_change(emulator_host, clients, tmp_path):
    pushing = with_push(tmp_path, **{"session-cleanup-service": "cleanup_sessions"})
    with pytest.raises(PubSubFileError, match="cleanup_sessions") as refused:
        ensure(pushing, {}, PROJECT)
    assert refused.value.field.endswith("push_function")
    assert list(clients.publisher.list_topics(project=f"projects/{PROJECT}")) == []


@pytest.mark.parametrize("mutate, field", [
    (lambda doc: doc.pop("dead_letter"), "dead_letter.topic"),
    (lambda doc: doc["dead_letter"].update(max_delivery_attempts=3), "dead_letter.max_delivery_attempts"),
    (lambda doc: doc["dead_letter"].update(topic="nowhere"), "dead_letter.topic"),
    (lambda doc: doc["topics"][0]["subscriptions"][0].update(ack_deadline_s=5), "topics[0].subscriptions[0].ack_deadline_s"),
    (lambda doc: doc["topics"][1].pop("name"), "topics[1].name"),
])
def test_a_broken_pubsub_file_is_named_precisely(tmp_path, mutate, field):
    document = yaml.safe_load(PUBSUB_FILE.read_text())
    mutate(document)
    path = tmp_path / "pubsub.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(PubSubFileError) as refused:
        load_topology(path)
    assert refused.value.field == field


def test_the_ensure_command_prints_what_it_did(pubsub, pulled):
    env = {**os.environ, "PUBSUB_EMULATOR_HOST": pubsub.address}
    command = [sys.executable, "-m", "localcloud.pubsub", "ensure", "--project", PROJECT, "--pubsub-file", str(pulled)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["subscriptions"]["created"] == SUBSCRIPTIONS
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert json.loads(again.stdout)["topics"]["left"] == TOPICS
