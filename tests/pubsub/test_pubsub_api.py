"""The resource RPCs and their errors as the official client sees them: INVALID_ARGUMENT, NOT_FOUND,
ALREADY_EXISTS (and OUT_OF_RANGE, UNIMPLEMENTED) with messages naming the field and its limit; listing;
deletion; the health check a supervisor uses."""
from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
from google.api_core import exceptions
from google.protobuf import field_mask_pb2

from localcloud.pubsub.health import check, healthy, version
from pubsub_support import PROJECT, REPO

T = f"projects/{PROJECT}/topics"
S = f"projects/{PROJECT}/subscriptions"


@pytest.fixture
def topic(clients):
    return clients.topic("base-topic")


def test_names_are_checked(clients):
    for bad in (f"{T}/ab", f"{T}/1starts-with-digit", f"{T}/goog-reserved", f"{T}/has space", "topics/x-y-z",
                f"projects/{PROJECT}/topics/" + "x" * 256):
        with pytest.raises(exceptions.InvalidArgument, match=r"Invalid \[topics\] name"):
            clients.publisher.create_topic(name=bad)
    with pytest.raises(exceptions.InvalidArgument, match=r"Invalid \[subscriptions\] name"):
        clients.subscriber.create_subscription(name=f"{S}/no", topic=f"{T}/whatever")


def test_what_exists_cannot_be_created_again_and_what_does_not_cannot_be_used(clients, topic):
    subscription = clients.subscription("base-sub", topic)
    with pytest.raises(exceptions.AlreadyExists, match="Topic already exists"):
        clients.publisher.create_topic(name=topic)
    with pytest.raises(exceptions.AlreadyExists, match="Subscription already exists"):
        clients.subscriber.create_subscription(name=subscription, topic=topic)
    missing_topic, missing_sub = f"{T}/missing-topic", f"{S}/missing-sub"
    for call in (lambda: clients.publisher.get_topic(topic=missing_topic),
                 lambda: clients.publisher.publish(missing_topic, b"x").result(10),
                 lambda: clients.publisher.delete_topic(topic=missing_topic),
                 lambda: clients.publisher.list_topic_subscriptions(topic=missing_topic),
                 lambda: clients.subscriber.create_subscription(name=f"{S}/orphan", topic=missing_topic)):
        with pytest.raises(exceptions.NotFound, match="missing-topic"):
            call()
    for call in (lambda: clients.subscriber.get_subscription(subscription=missing_sub),
                 lambda: clients.subscriber.pull(subscription=missing_sub, max_messages=1),
                 lambda: clients.subscriber.acknowledge(subscription=missing_sub, ack_ids=["1-1.ab"]),
                 lambda: clients.subscriber.delete_subscription(subscription=missing_sub)):
        with pytest.raises(exceptions.NotFound, match="missing-sub"):
            call()
    with pytest.raises(exceptions.NotFound, match="dead_letter_policy.dead_letter_topic|Dead letter topic"):
        clients.subscriber.create_subscription(request={
            "name": f"{S}/with-dlq", "topic": topic,
            "dead_letter_policy": {"dead_letter_topic": missing_topic, "max_delivery_attempts": 5}})


def test_subscribing_to_a_missing_subscription_fails_the_future_with_not_found(clients):
    future = clients.subscribe(f"{S}/never-made", lambda message: message.ack())
    with pytest.raises(exceptions.NotFound):
        future.result(timeout=10)


@pytest.mark.parametrize("settings, error, field", [
    ({"ack_deadline_seconds": 5}, exceptions.InvalidArgument, "ack_deadline_seconds"),
    ({"ack_deadline_seconds": 601}, exceptions.InvalidArgument, "ack_deadline_seconds"),
    ({"message_retention_duration": {"seconds": 60}}, exceptions.InvalidArgument, "message_retention_duration"),
    ({"message_retention_duration": {"seconds": 32 * 86400}}, exceptions.InvalidArgument, "message_retention_duration"),
    ({"dead_letter_policy": {"dead_letter_topic": f"{T}/base-topic", "max_delivery_attempts": 3}},
     exceptions.OutOfRange, "max_delivery_attempts"),
    ({"dead_letter_policy": {"dead_letter_topic": f"{T}/base-topic", "max_delivery_attempts": 101}},
     exceptions.OutOfRange, "max_delivery_attempts"),
    ({"dead_letter_policy": {"dead_letter_topic": "not-a-topic", "max_delivery_attempts": 5}},
     exceptions.InvalidArgument, "dead_letter_policy.dead_letter_topic"),
    ({"retry_policy": {"minimum_backoff": {"seconds": 601}}}, exceptions.InvalidArgument, "retry_policy.minimum_backoff"),
    ({"retry_policy": {"minimum_backoff": {"seconds": 60}, "maximum_backoff": {"seconds": 10}}},
     exceptions.InvalidArgument, "retry_policy.minimum_backoff"),
    ({"push_config": {"push_endpoint": "ftp://example.com/hook"}}, exceptions.InvalidArgument,
     "push_config.push_endpoint"),
    ({"filter": 'attributes.event = "gate_opened"'}, exceptions.MethodNotImplemented, "filter"),
    ({"enable_message_ordering": True}, exceptions.MethodNotImplemented, "enable_message_ordering"),
    ({"enable_exactly_once_delivery": True}, exceptions.MethodNotImplemented, "enable_exactly_once_delivery"),
])
def test_bad_subscription_settings_are_refused_naming_the_field(clients, topic, settings, error, field):
    with pytest.raises(error) as refused:
        clients.subscriber.create_subscription(request={"name": f"{S}/refused", "topic": topic, **settings})
    assert field in refused.value.message
    assert list(clients.subscriber.list_subscriptions(project=f"projects/{PROJECT}")) == []


@pytest.mark.filterwarnings("ignore:The \"api\" property:DeprecationWarning")
def test_bad_publishes_are_refused_naming_the_field_and_limit(clients, topic):
    api = clients.publisher.api  # the raw RPC, so the client's own batching does not split or pad anything
    cases = [
        ([], "messages is empty"),
        ([{}], "messages[0] is empty"),
        ([{"data": b"x"}, {"attributes": {"goog-thing": "1"}}], "messages[1].attributes key 'goog-thing'"),
        ([{"data": b"x", "attributes": {f"k{i}": "v" for i in range(101)}}], "the limit is 100"),
        ([{"data": b"x", "attributes": {"k" * 257: "v"}}], "1 to 256 bytes"),
        ([{"data": b"x", "attributes": {"big": "v" * 1025}}], "the limit is 1024"),
        ([{"data": b"x"}] * 1001, "at most 1000 messages"),
        ([{"data": b"x" * (11 * 1024 * 1024)}], "10485760 bytes"),
    ]
    for messages, expected in cases:
        with pytest.raises(exceptions.InvalidArgument) as refused:
            api.publish(topic=topic, messages=messages, timeout=30)
        assert expected in refused.value.message
    subscription = clients.subscription("after-refusals", topic)
    clients.publish(topic, b"fine")
    assert [m.message.data for m in clients.pull(subscription, wait=True)] == [b"fine"]


def test_bad_pulls_and_acks_are_refused(clients, topic):
    subscription = clients.subscription("strict", topic)
    with pytest.raises(exceptions.InvalidArgument, match="max_messages"):
        clients.subscriber.pull(subscription=subscription, max_messages=0)
    with pytest.raises(exceptions.InvalidArgument, match="Invalid ack id"):
        clients.subscriber.acknowledge(subscription=subscription, ack_ids=["not-an-ack-id"])
    with pytest.raises(exceptions.InvalidArgument, match="ack_ids is empty"):
        clients.subscriber.acknowledge(subscription=subscription, ack_ids=[])
    with pytest.raises(exceptions.InvalidArgument, match="between 0 and 600"):
        clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=["1-1.aa"], ack_deadline_seconds=601)
    with pytest.raises(exceptions.InvalidArgument, match="page_size"):
        clients.publisher.list_topics(request={"project": f"projects/{PROJECT}", "page_size": 5000})
    with pytest.raises(exceptions.InvalidArgument, match="update_mask"):
        clients.subscriber.update_subscription(subscription={"name": subscription, "topic": f"{T}/elsewhere"},
                                               update_mask=field_mask_pb2.FieldMask(paths=["topic"]))
    with pytest.raises(exceptions.MethodNotImplemented, match="Seek"):
        clients.subscriber.seek(request={"subscription": subscription, "time": {"seconds": 0}})


def test_listing_pages_through_topics_and_subscriptions(clients):
    topics = [clients.topic(f"listed-{i:02d}") for i in range(7)]
    subs = [clients.subscription(f"listed-sub-{i:02d}", topics[0]) for i in range(5)]
    clients.subscription("elsewhere-sub", topics[1])
    other_project = clients.publisher.topic_path("other-project", "not-listed")
    clients.publisher.create_topic(name=other_project)

    listed = [t.name for t in clients.publisher.list_topics(request={"project": f"projects/{PROJECT}", "page_size": 3})]
    assert listed == topics
    assert list(clients.publisher.list_topic_subscriptions(request={"topic": topics[0], "page_size": 2})) == subs
    assert len(list(clients.subscriber.list_subscriptions(project=f"projects/{PROJECT}"))) == 6


def test_deleting_a_topic_detaches_its_subscriptions_and_deleting_a_subscription_drops_its_messages(clients, topic):
    subscription = clients.subscription("survivor", topic)
    clients.publish(topic, b"before the topic went")
    clients.publisher.delete_topic(topic=topic)
    assert clients.subscriber.get_subscription(subscription=subscription).topic == "_deleted-topic_"
    assert clients.pull_one(subscription).message.data == b"before the topic went"
    clients.subscriber.delete_subscription(subscription=subscription)
    with pytest.raises(exceptions.NotFound):
        clients.subscriber.pull(subscription=subscription, max_messages=1)


def test_update_subscription_changes_settings_named_by_the_mask(clients, topic):
    subscription = clients.subscription("tunable", topic)
    updated = clients.subscriber.update_subscription(
        subscription={"name": subscription, "ack_deadline_seconds": 120, "labels": {"team": "manga"}},
        update_mask=field_mask_pb2.FieldMask(paths=["ack_deadline_seconds", "labels"]))
    assert (updated.ack_deadline_seconds, dict(updated.labels)) == (120, {"team": "manga"})
    with pytest.raises(exceptions.InvalidArgument, match="ack_deadline_seconds"):
        clients.subscriber.update_subscription(subscription={"name": subscription, "ack_deadline_seconds": 3},
                                               update_mask=field_mask_pb2.FieldMask(paths=["ack_deadline_seconds"]))
    assert clients.subscriber.get_subscription(subscription=subscription).ack_deadline_seconds == 120


def test_the_health_check_answers_serving_with_the_version(pubsub):
    assert healthy(pubsub.port) is True
    assert version(pubsub.port) == "localcloud-pubsub 0.1.0"
    command = [sys.executable, "-m", "localcloud.pubsub", "health", "--address", pubsub.address]
    answered = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert answered.returncode == 0 and '"healthy": true' in answered.stdout
    pubsub.stop()
    assert check(pubsub.address, timeout_s=1) == (False, None)
    assert subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30).returncode == 1


def test_a_garbage_request_gets_a_status_not_a_crash(pubsub):
    with grpc.insecure_channel(pubsub.address) as channel:
        publish = channel.unary_unary("/google.pubsub.v1.Publisher/Publish")
        with pytest.raises(grpc.RpcError) as refused:
            publish(b"\xff\xff\xff not a protobuf", timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "google.pubsub.v1.PublishRequest" in refused.value.details()
    assert healthy(pubsub.port)


def test_update_topic_changes_labels_and_retention_named_by_the_mask(clients, topic):
    updated = clients.publisher.update_topic(
        topic={"name": topic, "labels": {"stage": "local"}, "message_retention_duration": {"seconds": 3600}},
        update_mask=field_mask_pb2.FieldMask(paths=["labels", "message_retention_duration"]))
    assert dict(updated.labels) == {"stage": "local"} and updated.message_retention_duration.total_seconds() == 3600
    with pytest.raises(exceptions.InvalidArgument, match="message_retention_duration"):
        clients.publisher.update_topic(topic={"name": topic, "message_retention_duration": {"seconds": 5}},
                                       update_mask=field_mask_pb2.FieldMask(paths=["message_retention_duration"]))
    with pytest.raises(exceptions.InvalidArgument, match="update_mask"):
        clients.publisher.update_topic(topic={"name": topic}, update_mask=field_mask_pb2.FieldMask(paths=["name"]))
    assert clients.publisher.get_topic(topic=topic).message_retention_duration.total_seconds() == 3600
