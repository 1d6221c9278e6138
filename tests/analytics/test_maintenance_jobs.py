"""The scheduled jobs on real parts: a Valkey server, the Firestore emulator and a DuckDB file."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from mangaflow import maintenance
from mangaflow.errors import ValidationError
from mangaflow.stores import analytics

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def add_chat_session(firestore_client, session_id: str, idle: dt.timedelta, **extra) -> None:
    firestore_client.collection("chat_sessions").document(session_id).set(
        {"session_id": session_id, "request_id": f"r-{session_id}", "user_id": "u1",
         "created_at": NOW - idle - dt.timedelta(minutes=5), "last_activity": NOW - idle, **extra})


def test_cleanup_closes_idle_chat_sessions_and_drops_their_cache(redis_client, firestore_client):
    add_chat_session(firestore_client, "idle", dt.timedelta(hours=2))
    add_chat_session(firestore_client, "active", dt.timedelta(minutes=10))
    add_chat_session(firestore_client, "already", dt.timedelta(days=3), status="closed")
    firestore_client.collection("chat_messages").document("m1").set(
        {"message_id": "m1", "session_id": "idle", "phase": 2, "content": "もっと明るく"})
    redis_client.rpush("chat:idle:messages", "m1")
    redis_client.set("chat:idle:online", "1")
    redis_client.set("chat:active:online", "1")

    counts = maintenance.cleanup_inactive_sessions(redis_client, firestore_client, NOW)

    assert counts["chat_sessions_closed"] == 1
    assert counts["chat_cache_keys_removed"] == 2
    sessions = firestore_client.collection("chat_sessions")
    idle = sessions.document("idle").get().to_dict()
    assert idle["status"] == "closed" and idle["closed_at"] == NOW
    assert "status" not in sessions.document("active").get().to_dict()
    assert redis_client.exists("chat:idle:messages", "chat:idle:online") == 0
    assert redis_client.exists("chat:active:online") == 1
    # The history stays: only the session closes.
    assert firestore_client.collection("chat_messages").document("m1").get().exists


def test_cleanup_runs_again_without_closing_anything_twice(redis_client, firestore_client):
    add_chat_session(firestore_client, "idle", dt.timedelta(hours=2))

    first = maintenance.cleanup_inactive_sessions(redis_client, firestore_client, NOW)
    second = maintenance.cleanup_inactive_sessions(redis_client, firestore_client,
                                                   NOW + dt.timedelta(hours=1))

    assert first["chat_sessions_closed"] == 1
    assert second["chat_sessions_closed"] == 0


def test_cleanup_removes_hitl_sessions_left_without_ttl(redis_client, firestore_client):
    stale = (NOW - dt.timedelta(hours=3)).isoformat()
    fresh = (NOW - dt.timedelta(minutes=5)).isoformat()
    redis_client.hset("session:r-stale", mapping={"user_id": "u1", "current_phase": 3,
                                                  "last_activity": stale})
    redis_client.set("session:r-stale-json", json.dumps({"user_id": "u2", "last_activity": stale}))
    redis_client.hset("session:r-fresh", mapping={"user_id": "u3", "last_activity": fresh})
    redis_client.hset("session:r-unknown", mapping={"user_id": "u4"})
    redis_client.hset("session:r-ttl", mapping={"user_id": "u5", "last_activity": stale})
    redis_client.expire("session:r-ttl", 600)
    redis_client.set("ratelimit:127.0.0.1", 5)

    counts = maintenance.cleanup_inactive_sessions(redis_client, firestore_client, NOW)

    assert counts["hitl_sessions_removed"] == 2
    assert counts["hitl_sessions_given_ttl"] == 2
    assert redis_client.exists("session:r-stale", "session:r-stale-json") == 0
    assert 0 < redis_client.ttl("session:r-fresh") <= 3600
    assert 0 < redis_client.ttl("session:r-unknown") <= 3600
    assert 0 < redis_client.ttl("session:r-ttl") <= 600  # Redis already handles this one
    assert redis_client.ttl("ratelimit:127.0.0.1") == -1  # not a session: untouched


def test_cleanup_honours_a_shorter_idle_allowance(redis_client, firestore_client):
    add_chat_session(firestore_client, "s", dt.timedelta(minutes=20))

    counts = maintenance.cleanup_inactive_sessions(redis_client, firestore_client, NOW,
                                                   max_idle_s=900)

    assert counts["chat_sessions_closed"] == 1


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"now": dt.datetime(2026, 11, 3, 12)}, "now"),
    ({"now": NOW, "max_idle_s": 5}, "max_idle_s"),
])
def test_cleanup_refuses_bad_settings(redis_client, firestore_client, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        maintenance.cleanup_inactive_sessions(redis_client, firestore_client, **kwargs)

    assert caught.value.field == field


def seed_scores(backend, day: dt.date, scores: list[float], phase: int = 2) -> None:
    for i, score in enumerate(scores):
        decision = "pass" if score >= 0.7 else "warn" if score >= 0.6 else "retry"
        analytics.record_quality_score(f"r{i}", phase, 1, score, decision,
                                       recorded_at=dt.datetime.combine(day, dt.time(6, i), UTC),
                                       backend=backend)


def test_aggregate_analytics_fills_quality_trends_for_the_day(duckdb_backend):
    day = maintenance.previous_day(NOW)
    seed_scores(duckdb_backend, day, [0.9, 0.7, 0.5])

    result = maintenance.aggregate_analytics(day, backend=duckdb_backend)

    assert day == dt.date(2026, 11, 2)
    assert result == {"day": "2026-11-02", "phases_aggregated": 1}
    [trend] = duckdb_backend.query("SELECT * FROM quality_trends", {})
    assert trend["avg_score"] == pytest.approx(0.7)


def test_daily_quality_report_is_json_ready_and_flags_weak_phases(duckdb_backend):
    day = dt.date(2026, 11, 2)
    seed_scores(duckdb_backend, day, [0.9, 0.8], phase=1)
    seed_scores(duckdb_backend, day, [0.6, 0.5], phase=6)

    report = maintenance.quality_report(day, backend=duckdb_backend)

    json.dumps(report)  # goes straight into an HTTP response or a log line
    assert report["period"] == "daily" and report["day"] == "2026-11-02"
    assert [row["phase"] for row in report["phases"]] == [1, 6]
    assert report["flagged_phases"] == [6]


def test_weekly_report_covers_the_iso_week_of_the_day(duckdb_backend):
    sunday = dt.date(2026, 11, 8)
    seed_scores(duckdb_backend, dt.date(2026, 11, 4), [0.8, 0.6])
    maintenance.aggregate_analytics(dt.date(2026, 11, 4), backend=duckdb_backend)

    report = maintenance.quality_report(sunday, "weekly", backend=duckdb_backend)

    assert report["week_start"] == "2026-11-02"
    assert [(row["phase"], row["attempts"], row["trend"]) for row in report["phases"]] == [
        (2, 2, "new")]
    assert report["phases"][0]["avg_score"] == pytest.approx(0.7)


def test_report_period_must_be_daily_or_weekly(duckdb_backend):
    with pytest.raises(ValidationError) as caught:
        maintenance.quality_report(dt.date(2026, 11, 2), "monthly", backend=duckdb_backend)

    assert caught.value.field == "period"


def test_cleanup_understands_what_the_chat_and_session_stores_write(redis_client, firestore_client,
                                                                    valkey_server):
    """The real stores write the records; cleanup two hours later closes and sweeps them."""
    from mangaflow.config import Settings
    from mangaflow.stores.chat import ChatStore
    from mangaflow.stores.sessions import SessionStore

    config = Settings(google_cloud_project=firestore_client.project,
                      firestore_emulator_host=os.environ["FIRESTORE_EMULATOR_HOST"],
                      redis_url=valkey_server.connection_url)
    chat = ChatStore(config)
    chat.open_session("r-1", "u-1", session_id="cs-1")
    chat.add_message("cs-1", 3, "もっと速いテンポで")
    sessions = SessionStore(config)
    sessions.open_session("r-kept", "u-1")
    sessions.open_session("r-lost-ttl", "u-1")
    redis_client.persist("session:r-lost-ttl")  # as if written by a buggy client
    later = dt.datetime.now(UTC) + dt.timedelta(hours=2)

    counts = maintenance.cleanup_inactive_sessions(redis_client, firestore_client, later)

    assert counts["chat_sessions_closed"] == 1
    assert chat.get_session("cs-1")["status"] == "closed"
    assert counts["hitl_sessions_removed"] == 1
    assert redis_client.exists("session:r-kept") == 1
    assert redis_client.exists("session:r-lost-ttl") == 0
