"""Push subscriptions against a real local HTTP server: the standard envelope, 2xx as ack, anything
else as a nack retried with backoff, dead letters after the last attempt, the OIDC stand-in."""
from __future__ import annotations

import base64
import time

from google.protobuf import duration_pb2, field_mask_pb2

from pubsub_support import PROJECT, Clients, PubSubProcess, wait_until

FAST_RETRY = {"minimum_backoff": duration_pb2.Duration(nanos=100_000_000),
              "maximum_backoff": duration_pb2.Duration(nanos=200_000_000)}


def test_a_push_carries_the_standard_envelope_and_a_200_acknowledges_it(clients, push_endpoint):
    topic = clients.topic("phase-completion")
    subscription = clients.subscription("phase-transition", topic,
                                        push_config={"push_endpoint": f"{push_endpoint.url}/phase_transition"})
    message_id = clients.publish(topic, '{"phase": 3, "request_id": "r-1"}'.encode(), event="phase_completed",
                                 title="灯籠")

    [push] = push_endpoint.wait_for(1)

    assert push.path == "/phase_transition"
    assert push.headers["Content-Type"] == "application/json"
    body = push.json()
    assert body["subscription"] == f"projects/{PROJECT}/subscriptions/phase-transition"
    assert base64.b64decode(body["message"]["data"]) == b'{"phase": 3, "request_id": "r-1"}'
    assert body["message"]["attributes"] == {"event": "phase_completed", "title": "灯籠"}
    assert body["message"]["messageId"] == body["message"]["message_id"] == message_id
    assert body["message"]["publishTime"].endswith("Z")
    assert "deliveryAttempt" not in body  # only with a dead-letter policy
    time.sleep(1.0)
    assert len(push_endpoint.pushes) == 1


def test_a_refused_push_is_retried_until_it_is_accepted(clients, push_endpoint):
    push_endpoint.statuses.extend([500, 503, 429])
    topic = clients.topic("flaky-push")
    clients.subscription("flaky-push-sub", topic, push_config={"push_endpoint": push_endpoint.url},
                         retry_policy=FAST_RETRY)
    clients.publish(topic, b"eventually")

    pushes = push_endpoint.wait_for(4)

    assert len(pushes) == 4 and {p.json()["message"]["data"] for p in pushes} == {"ZXZlbnR1YWxseQ=="}
    gaps = [later.received - earlier.received for earlier, later in zip(pushes, pushes[1:])]
    assert all(gap >= 0.08 for gap in gaps), gaps  # the retry policy's minimum backoff
    time.sleep(0.8)
    assert len(push_endpoint.pushes) == 4


def test_a_push_that_fails_five_times_lands_in_the_dead_letter_topic(clients, push_endpoint):
    push_endpoint.always = 500
    topic = clients.topic("hitl-feedback")
    dead = clients.topic("hitl-feedback-dead")
    inspect = clients.subscription("hitl-feedback-dead-inspect", dead)
    clients.subscription("hitl-feedback-processor", topic, push_config={"push_endpoint": push_endpoint.url},
                         retry_policy=FAST_RETRY, dead_letter_policy={"dead_letter_topic": dead,
                                                                      "max_delivery_attempts": 5})
    clients.publish(topic, b"review link", event="gate_opened")

    dead_letter = clients.pull_one(inspect, timeout=10)

    assert dead_letter.message.data == b"review link"
    assert dead_letter.message.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert [p.json()["deliveryAttempt"] for p in push_endpoint.pushes] == [1, 2, 3, 4, 5]
    time.sleep(0.5)
    assert len(push_endpoint.pushes) == 5


def test_an_unreachable_endpoint_is_retried_and_a_new_push_config_takes_over(clients, push_endpoint):
    topic = clients.topic("moved")
    subscription = clients.subscription("moved-sub", topic, push_config={"push_endpoint": "http://127.0.0.1:9/gone"},
                                        retry_policy=FAST_RETRY)
    clients.publish(topic, b"find me")
    time.sleep(0.5)
    clients.subscriber.modify_push_config(subscription=subscription,
                                          push_config={"push_endpoint": f"{push_endpoint.url}/new"})
    [push] = push_endpoint.wait_for(1)
    assert push.path == "/new"

    clients.subscriber.update_subscription(
        subscription={"name": subscription, "push_config": {}},
        update_mask=field_mask_pb2.FieldMask(paths=["push_config"]))
    clients.publish(topic, b"pull me now")
    assert clients.pull_one(subscription).message.data == b"pull me now"
    assert len(push_endpoint.pushes) == 1


def test_an_oidc_push_carries_a_local_identity_for_its_service_account(tmp_path, push_endpoint):
    from mangaflow.auth import verify_local_token

    server = PubSubProcess(tmp_path / "oidc", env={"MANGAFLOW_SIGNING_KEY": "push-signing-key"}).start()
    clients = Clients(server.address)
    try:
        topic = clients.topic("signed")
        clients.subscription("signed-sub", topic, push_config={
            "push_endpoint": push_endpoint.url,
            "oidc_token": {"service_account_email": "pubsub-push@test-project.iam.gserviceaccount.com"}})
        clients.publish(topic, b"who is it")
        [push] = push_endpoint.wait_for(1)
    finally:
        clients.close()
        server.stop()
    scheme, token = push.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    assert verify_local_token(token, "push-signing-key").user_id == "pubsub-push@test-project.iam.gserviceaccount.com"


def test_no_wrapper_pushes_the_raw_data_with_attributes_as_headers(clients, push_endpoint):
    topic = clients.topic("raw")
    clients.subscription("raw-sub", topic, push_config={"push_endpoint": push_endpoint.url,
                                                        "no_wrapper": {"write_metadata": True}})
    clients.publish(topic, b"\x00raw bytes\xff", event="session_expired")
    [push] = push_endpoint.wait_for(1)
    assert push.body == b"\x00raw bytes\xff"
    assert push.headers["x-goog-pubsub-event"] == "session_expired"


def test_many_messages_are_pushed_concurrently_each_to_the_endpoint(clients, push_endpoint):
    topic = clients.topic("busy")
    clients.subscription("busy-sub", topic, push_config={"push_endpoint": push_endpoint.url})
    futures = [clients.publisher.publish(topic, f"m{i}".encode()) for i in range(100)]
    ids = {f.result(10) for f in futures}
    assert wait_until(lambda: len(push_endpoint.pushes) >= 100, timeout=10)
    assert {p.json()["message"]["messageId"] for p in push_endpoint.pushes} == ids
