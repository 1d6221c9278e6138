"""Delivery with the official client: publish, pull, ack; redelivery after the ack deadline and after a
nack; StreamingPull through subscribe(); data and attributes exactly as published; dead letters."""
from __future__ import annotations

import threading
import time

from google.protobuf import duration_pb2

from pubsub_support import wait_until

DEAD_LETTER_AFTER = 5


def test_publish_pull_ack(clients):
    topic = clients.topic("events")
    subscription = clients.subscription("events-worker", topic)
    ids = [clients.publish(topic, f"event {i}".encode(), event="gate_opened", n=str(i)) for i in range(3)]

    received = clients.pull(subscription, 10, wait=True)

    assert sorted(m.message.message_id for m in received) == sorted(ids)
    by_n = {m.message.attributes["n"]: m for m in received}
    assert by_n["2"].message.data == b"event 2" and by_n["2"].message.attributes["event"] == "gate_opened"
    assert all(m.message.publish_time.timestamp() > time.time() - 60 for m in received)
    assert all(m.delivery_attempt == 0 for m in received)  # counted only with a dead-letter policy
    clients.subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in received])
    assert clients.pull(subscription) == []
    time.sleep(1.0)
    assert clients.pull(subscription) == []


def test_every_subscription_gets_its_own_copy_and_later_subscriptions_none_of_the_past(clients):
    topic = clients.topic("fanout")
    first, second = clients.subscription("fanout-a", topic), clients.subscription("fanout-b", topic)
    message_id = clients.publish(topic, b"to both")
    late = clients.subscription("fanout-late", topic)
    assert [m.message.message_id for m in clients.pull(first, wait=True)] == [message_id]
    assert [m.message.message_id for m in clients.pull(second, wait=True)] == [message_id]
    assert clients.pull(late) == []


def test_data_and_attributes_arrive_exactly_as_published(clients):
    topic = clients.topic("exact")
    subscription = clients.subscription("exact-sub", topic)
    every_byte = bytes(range(256)) * 4
    japanese = "提灯祭りの夜、ミナは灯りを数えた。🏮"
    sent = [
        (every_byte, {"kind": "binary"}),
        (japanese.encode("utf-8"), {"title": "灯籠", "emoji": "🏮✨", "empty": "", "quote": 'a "b" \\c'}),
        (b"", {"only": "attributes"}),
        (b"\x00\xff" * 50_000, {}),
    ]
    for data, attributes in sent:
        clients.publish(topic, data, **attributes)

    received = [clients.pull_one(subscription) for _ in sent]

    assert [(m.message.data, dict(m.message.attributes)) for m in received] == sent  # and in publish order
    assert received[1].message.data.decode("utf-8") == japanese


def test_an_unacked_message_comes_back_after_the_subscriptions_ack_deadline(clients):
    """The subscription's own deadline (10 s, the API's minimum); a lease extended with modack stays away."""
    topic = clients.topic("slow-worker")
    subscription = clients.subscription("slow-worker-sub", topic, ack_deadline_seconds=10)
    clients.publish(topic, b"forgotten")
    clients.publish(topic, b"extended")
    first = {m.message.data: m for m in clients.pull(subscription, 10, wait=True)}
    assert set(first) == {b"forgotten", b"extended"}
    clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[first[b"extended"].ack_id],
                                           ack_deadline_seconds=60)
    time.sleep(8.5)
    assert clients.pull(subscription) == []

    again = clients.pull_one(subscription, timeout=4)

    assert again.message.data == b"forgotten"
    assert again.message.message_id == first[b"forgotten"].message.message_id
    assert again.ack_id != first[b"forgotten"].ack_id
    time.sleep(0.5)
    assert clients.pull(subscription) == []  # the extended one is still leased
    clients.subscriber.acknowledge(subscription=subscription, ack_ids=[again.ack_id, first[b"extended"].ack_id])


def test_a_deadline_shortened_with_modack_redelivers_sooner(clients):
    topic = clients.topic("short-lease")
    subscription = clients.subscription("short-lease-sub", topic)
    clients.publish(topic, b"quick")
    first = clients.pull_one(subscription)
    clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[first.ack_id], ack_deadline_seconds=1)
    assert clients.pull(subscription) == []
    again = clients.pull_one(subscription, timeout=3)
    assert again.message.message_id == first.message.message_id


def test_a_nacked_message_is_redelivered_at_once_and_its_attempts_are_counted(clients):
    topic = clients.topic("nacked")
    dead = clients.topic("nacked-dlq")
    subscription = clients.subscription("nacked-sub", topic, dead_letter_policy={
        "dead_letter_topic": dead, "max_delivery_attempts": 10})
    clients.publish(topic, b"try again")
    attempts = []
    for _ in range(3):
        received = clients.pull_one(subscription, timeout=2)
        attempts.append(received.delivery_attempt)
        clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[received.ack_id],
                                               ack_deadline_seconds=0)
    assert attempts == [1, 2, 3]


def test_a_retry_policy_spaces_out_redeliveries(clients):
    topic = clients.topic("backoff")
    subscription = clients.subscription("backoff-sub", topic, retry_policy={
        "minimum_backoff": duration_pb2.Duration(seconds=1), "maximum_backoff": duration_pb2.Duration(seconds=2)})
    clients.publish(topic, b"later")
    first = clients.pull_one(subscription)
    clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[first.ack_id], ack_deadline_seconds=0)
    time.sleep(0.5)
    assert clients.pull(subscription) == []
    assert clients.pull_one(subscription, timeout=3).message.data == b"later"


def test_a_late_ack_of_a_message_leased_to_someone_else_does_not_remove_it(clients):
    topic = clients.topic("stale-ack")
    subscription = clients.subscription("stale-ack-sub", topic)
    clients.publish(topic, b"contested")
    first = clients.pull_one(subscription)
    clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[first.ack_id], ack_deadline_seconds=0)
    second = clients.pull_one(subscription)
    clients.subscriber.acknowledge(subscription=subscription, ack_ids=[first.ack_id])  # stale: ignored
    clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[second.ack_id], ack_deadline_seconds=0)
    assert clients.pull_one(subscription).message.data == b"contested"


def test_subscribe_streams_every_message_to_the_callback(clients):
    topic = clients.topic("streamed")
    subscription = clients.subscription("streamed-sub", topic)
    seen: dict[str, bytes] = {}
    lock = threading.Lock()

    def callback(message):
        with lock:
            seen[message.message_id] = message.data
        message.ack()

    clients.subscribe(subscription, callback)
    futures = [(clients.publisher.publish(topic, f"panel {i}".encode()), f"panel {i}".encode()) for i in range(300)]
    ids = {future.result(10): data for future, data in futures}

    assert wait_until(lambda: len(seen) == 300, timeout=10)
    assert seen == ids
    time.sleep(1.0)
    assert len(seen) == 300 and clients.pull(subscription) == []


def test_subscribe_gets_a_nacked_message_again_with_a_higher_attempt(clients):
    topic = clients.topic("stream-nack")
    dead = clients.topic("stream-nack-dlq")
    subscription = clients.subscription("stream-nack-sub", topic, dead_letter_policy={
        "dead_letter_topic": dead, "max_delivery_attempts": 10})
    attempts: list[int] = []

    def callback(message):
        attempts.append(message.delivery_attempt)
        if len(attempts) < 3:
            message.nack()
        else:
            message.ack()

    clients.subscribe(subscription, callback)
    clients.publish(topic, b"third time lucky")
    assert wait_until(lambda: len(attempts) >= 3, timeout=10)
    time.sleep(0.5)
    assert attempts == [1, 2, 3]


def test_a_message_pulled_and_nacked_five_times_lands_in_the_dead_letter_topic(clients):
    topic = clients.topic("fragile")
    dead = clients.topic("fragile-dlq")
    inspect = clients.subscription("fragile-dlq-inspect", dead)
    subscription = clients.subscription("fragile-sub", topic, dead_letter_policy={
        "dead_letter_topic": dead, "max_delivery_attempts": DEAD_LETTER_AFTER})
    original_id = clients.publish(topic, "灯り".encode(), event="gate_decided")

    for attempt in range(1, DEAD_LETTER_AFTER + 1):
        received = clients.pull_one(subscription, timeout=2)
        assert received.delivery_attempt == attempt
        clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[received.ack_id],
                                               ack_deadline_seconds=0)

    dead_letter = clients.pull_one(inspect)
    assert dead_letter.message.data == "灯り".encode()
    attributes = dict(dead_letter.message.attributes)
    assert attributes["event"] == "gate_decided"
    assert attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert attributes["CloudPubSubDeadLetterSourceSubscription"] == "fragile-sub"
    assert attributes["CloudPubSubDeadLetterSourceSubscriptionProject"] == "test-project"
    assert dead_letter.message.message_id != original_id
    time.sleep(0.3)
    assert clients.pull(subscription) == []


def test_a_message_whose_lease_runs_out_five_times_is_dead_lettered_too(clients):
    topic = clients.topic("abandoned")
    dead = clients.topic("abandoned-dlq")
    inspect = clients.subscription("abandoned-dlq-inspect", dead)
    subscription = clients.subscription("abandoned-sub", topic, dead_letter_policy={
        "dead_letter_topic": dead, "max_delivery_attempts": DEAD_LETTER_AFTER})
    clients.publish(topic, b"nobody acks me")
    for _ in range(DEAD_LETTER_AFTER):
        received = clients.pull_one(subscription, timeout=3)
        clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[received.ack_id],
                                               ack_deadline_seconds=1)  # then let it expire
    assert clients.pull_one(inspect, timeout=3).message.data == b"nobody acks me"


def test_a_subscriber_callback_that_always_fails_sends_the_message_to_the_dead_letter_topic(clients):
    topic = clients.topic("poison")
    dead = clients.topic("poison-dlq")
    inspect = clients.subscription("poison-dlq-inspect", dead)
    subscription = clients.subscription("poison-sub", topic, dead_letter_policy={
        "dead_letter_topic": dead, "max_delivery_attempts": DEAD_LETTER_AFTER})
    attempts: list[int] = []

    def callback(message):
        attempts.append(message.delivery_attempt)
        message.nack()

    clients.subscribe(subscription, callback)
    clients.publish(topic, b"poison pill")

    assert clients.pull_one(inspect, timeout=10).message.data == b"poison pill"
    assert attempts == [1, 2, 3, 4, 5]
