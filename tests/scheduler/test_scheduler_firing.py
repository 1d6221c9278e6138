"""Jobs registered with the official client fire on their cron, in their time zone, with their retry
config and attempt deadline; pause, resume and :run behave as the API says; every attempt is kept."""
from __future__ import annotations

import datetime as dt
import signal
import time

import pytest
from google.protobuf import duration_pb2

from scheduler_support import PARENT, SchedulerProcess, http_job

UTC = dt.timezone.utc


def utc(*args: int, micro: int = 0) -> dt.datetime:
    return dt.datetime(*args, microsecond=micro, tzinfo=UTC)


def quiet_for(seconds: float) -> None:
    """Long enough for a wrongly due job to have fired (the scheduler wakes within milliseconds)."""
    time.sleep(seconds)


def test_a_job_fires_within_a_second_of_its_due_time(scheduler, target):
    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 8, 59, 59, micro=500_000))
    job = client.create_job(parent=PARENT, job=http_job("daily-report", f"{target.url}/quality_report"))
    assert job.schedule_time == utc(2030, 1, 1, 9, 0)

    calls = target.wait_for_calls(1, timeout=3)

    assert len(calls) == 1
    call = calls[0]
    assert (call.method, call.path, call.body) == ("POST", "/quality_report", b'{"period": "daily"}')
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["X-CloudScheduler"] == "true"
    assert call.headers["X-CloudScheduler-JobName"] == "daily-report"
    assert call.headers["X-CloudScheduler-ScheduleTime"].startswith("2030-01-01T09:00:00")
    assert "Google-Cloud-Scheduler" in call.headers["User-Agent"]
    [attempt] = scheduler.wait_for_attempts(job.name, 1)
    fired_at = dt.datetime.fromisoformat(attempt["attemptTime"].replace("Z", "+00:00"))
    assert dt.timedelta(0) <= fired_at - utc(2030, 1, 1, 9, 0) < dt.timedelta(seconds=1)
    assert attempt["responseCode"] == 200 and attempt["status"] == {"code": 0}
    after = client.get_job(name=job.name)
    assert after.schedule_time == utc(2030, 1, 2, 9, 0)
    assert after.last_attempt_time == fired_at
    assert after.status.code == 0


def test_nothing_fires_before_its_time(scheduler, target):
    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 8, 0))
    client.create_job(parent=PARENT, job=http_job("early", target.url))
    scheduler.advance(3599)
    quiet_for(0.5)
    assert target.calls == []
    scheduler.advance(1)
    assert len(target.wait_for_calls(1)) == 1


def test_a_clock_moved_days_ahead_fires_once_not_once_per_missed_day(scheduler, target):
    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 8, 0))
    job = client.create_job(parent=PARENT, job=http_job("catch-up", target.url))
    scheduler.advance(10 * 86400)
    target.wait_for_calls(1)
    quiet_for(0.5)
    assert len(target.calls) == 1
    assert client.get_job(name=job.name).schedule_time == utc(2030, 1, 11, 9, 0)  # 08:00 ten days on


def test_pause_holds_and_resume_schedules_the_next_run(scheduler, target):
    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 8, 0))
    job = client.create_job(parent=PARENT, job=http_job("paused", target.url))

    paused = client.pause_job(name=job.name)
    assert paused.state == paused.State.PAUSED
    scheduler.advance(2 * 86400)  # two due times pass while paused
    quiet_for(0.6)
    assert target.calls == []
    assert client.get_job(name=job.name).state == paused.State.PAUSED

    resumed = client.resume_job(name=job.name)
    assert resumed.state == resumed.State.ENABLED
    assert resumed.schedule_time == utc(2030, 1, 3, 9, 0)  # the next one from now, no backfill
    quiet_for(0.3)
    assert target.calls == []
    scheduler.set_clock(utc(2030, 1, 3, 8, 59, 59, micro=800_000))
    assert len(target.wait_for_calls(1)) == 1


def test_run_fires_now_even_when_paused(scheduler, target):
    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 8, 0))
    job = client.create_job(parent=PARENT, job=http_job("on-demand", target.url))
    client.pause_job(name=job.name)

    client.run_job(name=job.name)

    assert len(target.wait_for_calls(1)) == 1
    [attempt] = scheduler.wait_for_attempts(job.name, 1)
    assert attempt["dispatch"] == "RUN_NOW"
    after = client.get_job(name=job.name)
    assert after.state == after.State.PAUSED
    assert after.last_attempt_time == dt.datetime.fromisoformat(attempt["attemptTime"].replace("Z", "+00:00"))


def test_a_failing_target_is_retried_with_doubling_backoff_then_given_up(scheduler, target):
    """retryCount 3, backoff 30s doubling up to 300s: retries 30s, 60s and 120s after each failure, then no more."""
    client = scheduler.client()
    target.statuses.extend([500] * 10)
    # Three seconds ahead of 09:00: on a loaded machine creating the job can take longer than a moment, and a
    # job created after its due time first fires the next day.
    scheduler.set_clock(utc(2030, 1, 1, 8, 59, 57))
    retry = {"retry_count": 3, "min_backoff_duration": duration_pb2.Duration(seconds=30),
             "max_backoff_duration": duration_pb2.Duration(seconds=300), "max_doublings": 3}
    job = client.create_job(parent=PARENT, job=http_job("flaky", target.url, retry_config=retry))
    assert len(scheduler.wait_for_attempts(job.name, 1, timeout=15)) == 1  # recorded: the retry's time is now fixed

    for gap in (30, 60, 120):
        scheduler.advance(gap - 1)
        quiet_for(0.4)
        before = len(target.calls)
        scheduler.advance(1)
        assert len(scheduler.wait_for_attempts(job.name, before + 1)) == before + 1, f"no retry {gap}s later"
    scheduler.advance(3600)
    quiet_for(0.5)

    assert len(target.calls) == 4
    attempts = scheduler.attempts(job.name)
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert {a["runId"] for a in attempts} == {attempts[0]["runId"]}
    assert all(a["responseCode"] == 500 and a["status"]["code"] == 13 for a in attempts)
    times = [dt.datetime.fromisoformat(a["attemptTime"].replace("Z", "+00:00")) for a in attempts]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
    # Each retry comes its backoff after the failure, never sooner; the clock runs on in real time while the
    # test advances it, so a loaded machine adds up to a second or two.
    assert all(backoff <= gap < backoff + 2.5 for gap, backoff in zip(gaps, (30, 60, 120))), gaps
    failed = client.get_job(name=job.name)
    assert failed.status.code == 13 and "HTTP 500" in failed.status.message


def test_a_retry_that_succeeds_ends_the_run(scheduler, target):
    client = scheduler.client()
    # Noon: the hour the test moves on stays clear of the job's 09:00 (at the real 08:xx it would not).
    scheduler.set_clock(utc(2030, 1, 1, 12, 0))
    target.statuses.extend([503, 500])
    # Far from the job's daily 09:00: the hour advanced below must not reach its next occurrence.
    scheduler.set_clock(utc(2030, 1, 1, 12, 0, 0))
    retry = {"retry_count": 5, "min_backoff_duration": duration_pb2.Duration(seconds=10)}
    job = client.create_job(parent=PARENT, job=http_job("recovers", target.url, retry_config=retry))
    client.run_job(name=job.name)
    scheduler.wait_for_attempts(job.name, 1)  # recorded: the retry's time is now fixed
    scheduler.advance(10)
    scheduler.wait_for_attempts(job.name, 2)
    scheduler.advance(20)
    scheduler.wait_for_attempts(job.name, 3)
    scheduler.advance(3600)
    quiet_for(0.4)

    assert [a.get("responseCode") for a in scheduler.attempts(job.name)] == [503, 500, 200]
    assert client.get_job(name=job.name).status.code == 0


def test_without_retries_a_failure_waits_for_the_next_occurrence(scheduler, target):
    client = scheduler.client()
    target.statuses.extend([500, 500])
    scheduler.set_clock(utc(2030, 1, 1, 8, 59, 57))  # ahead of 09:00 even when creating the job is slow
    job = client.create_job(parent=PARENT, job=http_job("once", target.url))
    scheduler.wait_for_attempts(job.name, 1, timeout=15)
    scheduler.advance(3600)
    quiet_for(0.4)
    assert len(target.calls) == 1
    scheduler.set_clock(utc(2030, 1, 2, 8, 59, 57))
    target.wait_for_calls(2, timeout=15)
    assert [a["attempt"] for a in scheduler.attempts(job.name)] == [1, 1]


def test_the_attempt_deadline_cuts_off_a_slow_target(scheduler, target):
    client = scheduler.client()
    target.delay_s = 3.0
    job = client.create_job(parent=PARENT, job=http_job("slow", target.url,
                                                        attempt_deadline=duration_pb2.Duration(seconds=15)))
    client.run_job(name=job.name)
    target.wait_for_calls(1)
    scheduler.advance(14)
    quiet_for(0.3)
    assert scheduler.attempts(job.name) == []
    scheduler.advance(1)

    [attempt] = scheduler.wait_for_attempts(job.name, 1, timeout=2)
    assert attempt["status"]["code"] == 4  # DEADLINE_EXCEEDED
    assert "responseCode" not in attempt and "within 15s" in attempt["error"]


def test_an_unreachable_target_is_an_unavailable_attempt(scheduler):
    client = scheduler.client()
    job = client.create_job(parent=PARENT, job=http_job("nowhere", "http://127.0.0.1:9/closed"))
    client.run_job(name=job.name)
    [attempt] = scheduler.wait_for_attempts(job.name, 1)
    assert attempt["status"]["code"] == 14 and "127.0.0.1:9" in attempt["error"]


@pytest.mark.parametrize("time_zone, clock, fires_at", [
    ("Asia/Tokyo", utc(2030, 1, 1, 23, 0), utc(2030, 1, 2, 0, 0)),        # 09:00 JST is midnight UTC
    ("Europe/London", utc(2030, 7, 1, 7, 0), utc(2030, 7, 1, 8, 0)),      # British Summer Time
    ("America/New_York", utc(2030, 1, 15, 13, 0), utc(2030, 1, 15, 14, 0)),  # EST, UTC-5
])
def test_the_cron_is_read_in_the_jobs_time_zone(scheduler, target, time_zone, clock, fires_at):
    client = scheduler.client()
    scheduler.set_clock(clock)
    job = client.create_job(parent=PARENT, job=http_job("zoned", target.url, time_zone=time_zone))
    assert job.schedule_time == fires_at
    scheduler.set_clock(fires_at - dt.timedelta(milliseconds=300))
    [call] = target.wait_for_calls(1)
    assert call.headers["X-CloudScheduler-ScheduleTime"].startswith(fires_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_an_updated_job_fires_at_its_new_target_on_its_new_schedule(scheduler, target):
    from google.protobuf import field_mask_pb2

    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 8, 0))
    job = client.create_job(parent=PARENT, job=http_job("moved", f"{target.url}/old"))
    updated = client.update_job(job={"name": job.name, "schedule": "30 8 * * *",
                                     "http_target": {"uri": f"{target.url}/new", "http_method": "GET"}},
                                update_mask=field_mask_pb2.FieldMask(paths=["schedule", "http_target"]))
    assert updated.schedule_time == utc(2030, 1, 1, 8, 30)
    assert updated.retry_config.max_doublings == 5 and updated.time_zone == "Etc/UTC"
    scheduler.set_clock(utc(2030, 1, 1, 8, 29, 59, micro=800_000))
    [call] = target.wait_for_calls(1)
    assert (call.method, call.path, call.body) == ("GET", "/new", b"")


def test_an_oidc_job_carries_a_local_identity_for_its_service_account(tmp_path, target):
    from mangaflow.auth import verify_local_token

    server = SchedulerProcess(tmp_path / "oidc", env={"MANGAFLOW_SIGNING_KEY": "test-signing-key"}).start()
    try:
        client = server.client()
        job = http_job("signed", target.url)
        job["http_target"]["oidc_token"] = {"service_account_email": "scheduler@test-project.iam.gserviceaccount.com"}
        created = client.create_job(parent=PARENT, job=job)
        client.run_job(name=created.name)
        [call] = target.wait_for_calls(1)
    finally:
        server.stop()
    scheme, token = call.headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    principal = verify_local_token(token, signing_key="test-signing-key")
    assert principal.user_id == "scheduler@test-project.iam.gserviceaccount.com"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["stopped", "killed"])
def test_jobs_and_their_history_survive_a_restart(tmp_path, target, how):
    server = SchedulerProcess(tmp_path / "durable").start()
    client = server.client()
    kept = client.create_job(parent=PARENT, job=http_job("kept", target.url, schedule="15 3 * * 1"))
    paused = client.create_job(parent=PARENT, job=http_job("kept-paused", target.url))
    client.pause_job(name=paused.name)
    target.statuses.append(500)
    client.run_job(name=kept.name)
    history = server.wait_for_attempts(kept.name, 1)
    server.stop(how)

    server.start()
    try:
        client = server.client()
        again = client.get_job(name=kept.name)
        assert (again.schedule, again.http_target.uri, again.http_target.body) == \
            ("15 3 * * 1", target.url, b'{"period": "daily"}')
        assert again.state == again.State.ENABLED and again.status.code == 13
        assert again.last_attempt_time == dt.datetime.fromisoformat(history[0]["attemptTime"].replace("Z", "+00:00"))
        assert client.get_job(name=paused.name).state == again.State.PAUSED
        assert server.attempts(kept.name) == history
        client.run_job(name=kept.name)
        assert len(server.wait_for_attempts(kept.name, 2)) == 2
    finally:
        server.stop()
