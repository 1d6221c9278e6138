"""The hourly cleanup keeps its promises on the real stores: gates nobody can answer any more are
closed, temp objects and preview caches past their bucket's lifecycle are removed, expired sessions
are announced on session-management-topic, and every removal is a count in the job's result."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The cleanup runs on the shared stack with a clock days ahead: every other test's open gate would be
# past its deadline and closed as abandoned, so these run alone, after the parallel part.
pytestmark = pytest.mark.serial


@pytest.fixture
def cleanup(stack):
    from mangaflow import maintenance
    from mangaflow.bootstrap import stores
    from mangaflow.stores.chat import chat_store
    from mangaflow.stores.sessions import session_store

    def run(now: dt.datetime, max_idle_s: int = 3600) -> dict:
        return maintenance.cleanup(stores(), session_store().client, chat_store().client, now, max_idle_s)

    return run


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def test_gates_of_ended_runs_are_closed_once_and_live_ones_are_left(cleanup):
    from mangaflow.bootstrap import stores
    from mangaflow.stores import postgres

    made = stores()
    ended = made.requests.create("cleanup-test", request_id=made.requests.new_id(), pages=1)
    made.requests.update(ended["request_id"], status="cancelled")
    abandoned = made.gates.open(ended["request_id"], 3, timeout_s=600)
    live = made.requests.create("cleanup-test", request_id=made.requests.new_id(), pages=1)
    made.requests.update(live["request_id"], status="waiting")
    waiting = made.gates.open(live["request_id"], 3, timeout_s=600)

    first = cleanup(now())
    second = cleanup(now())

    closed = made.gates.get(abandoned["gate_id"])
    assert closed["decided_at"] is not None and closed["timed_out"] and closed["decided_by"] == "cleanup:abandoned"
    assert made.gates.get(waiting["gate_id"])["decided_at"] is None
    assert first["abandoned_gates_closed"] >= 1 and second["abandoned_gates_closed"] == 0
    # A gate closed by housekeeping is nobody's outcome: the HITL rates leave it out.
    from mangaflow.metrics import hitl_figures

    assert postgres.database().run("SELECT COUNT(*) AS n FROM approval_gates WHERE gate_id = :g AND decided_by = "
                                   "'cleanup:abandoned'", g=abandoned["gate_id"])[0]["n"] == 1
    assert set(hitl_figures()) == set(range(1, 8))


def test_temp_objects_and_previews_past_their_lifecycle_are_removed_and_counted(cleanup):
    from mangaflow import maintenance
    from mangaflow.bootstrap import stores

    made = stores()
    tag = uuid.uuid4().hex[:8]
    earlier = len(made.artifacts.list_uris("temp_data"))  # other tests' scratch objects, all made today
    temp = [made.artifacts.put_bytes("temp_data", f"{tag}-{i}".encode(), "text/plain", prefix=f"scratch/{tag}")
            for i in range(3)]
    preview = made.artifacts.put_json("preview_cache", {"tag": tag}, prefix=f"requests/r-{tag}/previews")
    assert (maintenance.lifecycle_days("temp_data"), maintenance.lifecycle_days("preview_cache")) == (7, 30)

    eight_days_on = cleanup(now() + dt.timedelta(days=8))

    assert eight_days_on["temp_objects_removed"] == earlier + 3  # every one of them is 8 days old by then
    assert not any(made.artifacts.exists(uri) for uri in temp)
    assert made.artifacts.exists(preview)  # 8 days is inside the preview cache's 30
    removed = made.operations.remove_objects_older_than("preview_cache", now() + dt.timedelta(days=31),
                                                        prefix=f"requests/r-{tag}/")
    assert removed == 1 and not made.artifacts.exists(preview)
    assert cleanup(now() + dt.timedelta(days=8))["temp_objects_removed"] == 0  # a second run removes nothing


def test_an_idle_session_left_without_ttl_is_removed_and_announced(stack, cleanup):
    from google.cloud import pubsub_v1

    from mangaflow.stores.sessions import session_store

    subscriber = pubsub_v1.SubscriberClient()  # PUBSUB_EMULATOR_HOST: the test stack's Pub/Sub
    topic = "projects/mangaflow-local/topics/session-management-topic"
    watch = f"projects/mangaflow-local/subscriptions/cleanup-test-{uuid.uuid4().hex[:8]}"
    subscriber.create_subscription(request={"name": watch, "topic": topic})
    request_id = f"r-{uuid.uuid4().hex[:16]}"
    redis = session_store().client
    redis.hset(f"session:{request_id}", mapping={"last_activity": str(time.time() - 7200), "user_id": "x"})
    try:
        result = cleanup(now())
        assert result["hitl_sessions_removed"] >= 1 and not redis.exists(f"session:{request_id}")
        announced = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not announced:
            for received in subscriber.pull(request={"subscription": watch, "max_messages": 50}, timeout=5).received_messages:
                body = json.loads(received.message.data)
                if body.get("session_id") == request_id:
                    announced.append((received.message.attributes["event"], body))
        assert announced and announced[0][0] == "session_expired"
        assert announced[0][1]["kind"] == "hitl" and announced[0][1]["request_id"] == request_id
    finally:
        subscriber.delete_subscription(subscription=watch)
        subscriber.close()
