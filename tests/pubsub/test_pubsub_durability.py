"""What the server has answered for survives it: a clean stop, a SIGKILL right after Publish returns,
topics and subscriptions, delivery counts; retention still drops what is too old."""
from __future__ import annotations

import signal
import sqlite3
import time

import pytest

from pubsub_support import Clients, PubSubProcess


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_published_unacked_messages_survive_a_restart(tmp_path, how):
    server = PubSubProcess(tmp_path / "durable").start()
    clients = Clients(server.address)
    topic = clients.topic("kept")
    subscription = clients.subscription("kept-sub", topic, ack_deadline_seconds=30)
    sent = {clients.publish(topic, f"message {i}".encode(), n=str(i)): f"message {i}".encode() for i in range(20)}
    acked = clients.pull(subscription, 5, wait=True)
    clients.subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in acked])
    leased = clients.pull(subscription, 3, wait=True)  # leased, not acked: owed again after a restart
    last = clients.publish(topic, b"published just before the end")
    clients.close()
    server.stop(how)

    server.start()
    clients = Clients(server.address)
    try:
        assert clients.subscriber.get_subscription(subscription=subscription).ack_deadline_seconds == 30
        received = []
        while batch := clients.pull(subscription, 100):
            received.extend(batch)
        got = {m.message.message_id: m.message.data for m in received}
        expected = {mid: data for mid, data in sent.items() if mid not in {m.message.message_id for m in acked}}
        expected[last] = b"published just before the end"
        assert got == expected
        assert {m.message.message_id for m in leased} <= set(got)
        new_id = clients.publish(topic, b"after the restart")
        assert int(new_id) > max(int(mid) for mid in got)  # ids never reused
    finally:
        clients.close()
        server.stop()


def test_delivery_counts_survive_a_restart_so_dead_lettering_still_comes_on_time(tmp_path):
    server = PubSubProcess(tmp_path / "counts").start()
    clients = Clients(server.address)
    topic, dead = clients.topic("counted"), clients.topic("counted-dlq")
    inspect = clients.subscription("counted-dlq-inspect", dead)
    subscription = clients.subscription("counted-sub", topic, dead_letter_policy={"dead_letter_topic": dead,
                                                                                   "max_delivery_attempts": 5})
    clients.publish(topic, b"stubborn")
    for _ in range(3):
        received = clients.pull_one(subscription)
        clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[received.ack_id],
                                               ack_deadline_seconds=0)
    clients.close()
    server.stop(signal.SIGKILL)

    server.start()
    clients = Clients(server.address)
    try:
        attempts = []
        for _ in range(2):
            received = clients.pull_one(subscription)
            attempts.append(received.delivery_attempt)
            clients.subscriber.modify_ack_deadline(subscription=subscription, ack_ids=[received.ack_id],
                                                   ack_deadline_seconds=0)
        assert attempts == [4, 5]
        assert clients.pull_one(inspect).message.data == b"stubborn"
    finally:
        clients.close()
        server.stop()


def test_messages_past_the_subscriptions_retention_are_dropped(tmp_path):
    server = PubSubProcess(tmp_path / "retention").start()
    clients = Clients(server.address)
    topic = clients.topic("ageing")
    week = clients.subscription("ageing-week", topic)  # the default: 7 days
    month = clients.subscription("ageing-month", topic, message_retention_duration={"seconds": 31 * 86400})
    old_id = clients.publish(topic, b"eight days old")
    fresh_id = clients.publish(topic, b"fresh")
    clients.close()
    server.stop()
    with sqlite3.connect(server.data_dir / "pubsub.sqlite3") as db:  # as if published eight days ago
        db.execute("UPDATE messages SET publish_time = ? WHERE id = ?", (time.time() - 8 * 86400, int(old_id)))

    server.start()
    clients = Clients(server.address)
    try:
        assert [m.message.message_id for m in clients.pull(week, wait=True)] == [fresh_id]
        assert sorted(m.message.message_id for m in clients.pull(month, wait=True)) == sorted([old_id, fresh_id])
    finally:
        clients.close()
        server.stop()


def test_a_second_server_on_the_same_data_folder_is_refused(pubsub):
    import subprocess
    import sys

    from pubsub_support import REPO, free_port

    second = subprocess.run([sys.executable, "-m", "localcloud.pubsub", "serve", "--port", str(free_port()),
                             "--data-dir", str(pubsub.data_dir)], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert "in use by another server" in second.stderr and "Traceback" not in second.stderr
