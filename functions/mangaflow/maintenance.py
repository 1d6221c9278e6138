"""The scheduled jobs' domain logic: hourly cleanup (expired sessions, abandoned gates, temp objects and
preview caches past their lifecycle, every removal counted), daily analytics aggregation, daily and
weekly quality reports. Clients come in as parameters; the entry points wire them.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mangaflow import events
from mangaflow.errors import ValidationError
from mangaflow.stores import analytics
from mangaflow.stores.objects import BUCKET_LIFECYCLES

HITL_SESSION_PATTERN = "session:*"
CHAT_SESSIONS = "chat_sessions"
REPORT_PERIODS = ("daily", "weekly")


def _aware(name: str, value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime", field=name)
    return value.astimezone(dt.timezone.utc)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _parse_instant(value: Any) -> dt.datetime | None:
    """A last-activity mark as the stores write it: ISO-8601 text or epoch seconds."""
    if value is None:
        return None
    text = _text(value).strip()
    try:
        return dt.datetime.fromtimestamp(float(text), dt.timezone.utc)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _hitl_last_activity(redis_client: Any, key: str) -> dt.datetime | None:
    kind = _text(redis_client.type(key))
    if kind == "hash":
        fields = {_text(k): v for k, v in redis_client.hgetall(key).items()}
    elif kind == "string":
        try:
            fields = json.loads(_text(redis_client.get(key) or "{}"))
        except json.JSONDecodeError:
            return None
        if not isinstance(fields, dict):
            return None
    else:
        return None
    # The session record names its last touch last_activity; older records only session_start.
    return _parse_instant(fields.get("last_activity") or fields.get("session_start"))


def _sweep_hitl_sessions(redis_client: Any, cutoff: dt.datetime,
                         max_idle_s: int) -> tuple[int, int]:
    """Sessions normally expire by their Redis TTL; this catches ones written without one."""
    import redis

    removed = expiring = 0
    for raw_key in redis_client.scan_iter(match=HITL_SESSION_PATTERN, count=500):
        key = _text(raw_key)
        # WATCH: a session touched while we look at it is left alone (the touch sets a TTL).
        with redis_client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.ttl(key) != -1:  # has a TTL (or vanished meanwhile): Redis handles it
                    continue
                last_activity = _hitl_last_activity(pipe, key)
                pipe.multi()
                if last_activity is not None and last_activity < cutoff:
                    pipe.delete(key)
                    gone = pipe.execute()[0]
                    removed += gone
                    if gone:
                        request_id = key.split(":", 1)[1]
                        events.session_expired("hitl", request_id, request_id, cutoff)
                else:
                    # Unknown age or still fresh: give it the idle allowance so it cannot live
                    # forever.
                    pipe.expire(key, max_idle_s)
                    expiring += int(bool(pipe.execute()[0]))
            except redis.WatchError:
                continue
    return removed, expiring


def _close_chat_sessions(firestore_client: Any, redis_client: Any, now: dt.datetime,
                         cutoff: dt.datetime) -> tuple[int, int]:
    from google.api_core.exceptions import FailedPrecondition
    from google.cloud.firestore_v1.base_query import FieldFilter

    closed = cache_keys = 0
    stale = firestore_client.collection(CHAT_SESSIONS).where(
        filter=FieldFilter("last_activity", "<", cutoff)
    )
    for snapshot in stale.stream():
        session = snapshot.to_dict() or {}
        if session.get("status") == "closed":
            continue
        # Messages and intents stay: they are the chat's history. Only the session closes and its
        # real-time cache (recent messages, typing, online) goes.
        try:
            # Only if nobody wrote a message since we read it; otherwise it is not idle.
            snapshot.reference.update(
                {"status": "closed", "closed_at": now},
                option=firestore_client.write_option(last_update_time=snapshot.update_time))
        except FailedPrecondition:
            continue
        closed += 1
        session_id = session.get("session_id") or snapshot.id
        # Announced before its leftovers go: if this job dies now, session_cleanup_service finishes.
        events.session_expired("chat", session_id, session.get("request_id"), now)
        cache = list(redis_client.scan_iter(match=f"chat:{session_id}:*", count=100))
        if cache:
            cache_keys += redis_client.delete(*cache)
    return closed, cache_keys


def cleanup_inactive_sessions(redis_client: Any, firestore_client: Any, now: dt.datetime,
                              max_idle_s: int = 3600) -> dict[str, int]:
    """Close chat sessions idle longer than `max_idle_s` (Firestore `chat_sessions` with a
    timestamp `last_activity`), drop their Redis chat cache, and remove HITL `session:*` records
    that were left without a TTL and are idle too. Returns what was done, as counts."""
    now = _aware("now", now)
    if (isinstance(max_idle_s, bool) or not isinstance(max_idle_s, int)
            or not 60 <= max_idle_s <= 86400):
        raise ValidationError("max_idle_s must be an integer from 60 to 86400 seconds",
                              field="max_idle_s")
    cutoff = now - dt.timedelta(seconds=max_idle_s)
    chat_closed, cache_keys = _close_chat_sessions(firestore_client, redis_client, now, cutoff)
    hitl_removed, hitl_expiring = _sweep_hitl_sessions(redis_client, cutoff, max_idle_s)
    return {
        "chat_sessions_closed": chat_closed,
        "chat_cache_keys_removed": cache_keys,
        "hitl_sessions_removed": hitl_removed,
        "hitl_sessions_given_ttl": hitl_expiring,
    }


def lifecycle_days(bucket_kind: str) -> int:
    """Days after which a bucket's lifecycle deletes an object (Terraform's rule, BUCKET_LIFECYCLES)."""
    return next(age for action, age, _ in BUCKET_LIFECYCLES[bucket_kind] if action == "Delete")


def cleanup(stores: Any, redis_client: Any, firestore_client: Any, now: dt.datetime,
            max_idle_s: int = 3600) -> dict[str, int]:
    """The hourly job: idle chat and HITL sessions (cleanup_inactive_sessions, each announced as
    session_expired), approval gates nobody can answer any more (their run ended, or their
    deadline passed `max_idle_s` ago), and objects older than their bucket's lifecycle in the
    temp-data and preview-cache buckets (the cloud's lifecycle runs about daily; the local
    emulator has none). Returns every removal as a count."""
    counts = cleanup_inactive_sessions(redis_client, firestore_client, now, max_idle_s)
    now = _aware("now", now)
    closed = 0
    for gate in stores.operations.abandoned_gates(now - dt.timedelta(seconds=max_idle_s)):
        closed += int(stores.operations.close_abandoned_gate(gate["gate_id"]))
    counts["abandoned_gates_closed"] = closed
    for kind, name in (("temp_data", "temp_objects_removed"), ("preview_cache", "preview_objects_removed")):
        counts[name] = stores.operations.remove_objects_older_than(
            kind, now - dt.timedelta(days=lifecycle_days(kind)))
    return counts


def previous_day(now: dt.datetime) -> dt.date:
    """The UTC day before `now`: what a job scheduled after midnight reports on."""
    return (_aware("now", now) - dt.timedelta(days=1)).date()


def week_start_of(day: dt.date) -> dt.date:
    """Monday of the ISO week containing `day`."""
    return day - dt.timedelta(days=day.weekday())


def aggregate_analytics(day: dt.date, *,
                        backend: analytics.AnalyticsBackend | None = None) -> dict[str, Any]:
    """Recompute the `quality_trends` rows of one UTC day (safe to run again)."""
    phases = analytics.aggregate_daily(day, backend=backend)
    return {"day": day.isoformat(), "phases_aggregated": phases}


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
             for k, v in row.items()} for row in rows]


def quality_report(day: dt.date, period: str = "daily", *,
                   backend: analytics.AnalyticsBackend | None = None) -> dict[str, Any]:
    """The daily report (per phase scores, gate outcomes, retries, feedback and chat engagement
    for `day`), or the weekly trends of the ISO week containing `day`, as a JSON-ready dict."""
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise ValidationError(f"day must be a date (not a datetime), got {day!r}", field="day")
    if period not in REPORT_PERIODS:
        raise ValidationError(f"period must be one of {', '.join(REPORT_PERIODS)}, got {period!r}",
                              field="period")
    if period == "weekly":
        start = week_start_of(day)
        return {"period": "weekly", "week_start": start.isoformat(),
                "phases": _jsonable(analytics.weekly_trends(start, backend=backend))}
    phases = _jsonable(analytics.daily_quality_report(day, backend=backend))
    return {
        "period": "daily",
        "day": day.isoformat(),
        "phases": phases,
        "chat": _jsonable(analytics.daily_chat_engagement(day, backend=backend)),
        "flagged_phases": [row["phase"] for row in phases
                           if row["given_up"] > 0 or row["avg_score"] < 0.70],
    }
