"""infra/schedules.yaml registered with the official client (apply()) on a scheduler with a controllable
clock, each job calling the real function at the local stack's gateway: a job fires within a second of
its due time and the function does its work; pause and resume hold; a job whose function refuses its
body is retried exactly as its retry config says."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from scheduler_support import SchedulerProcess

REPO = Path(__file__).resolve().parents[2]
PROJECT, LOCATION = "mangaflow-local", "local"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
UTC = dt.timezone.utc


def utc(*args: int, micro: int = 0) -> dt.datetime:
    return dt.datetime(*args, microsecond=micro, tzinfo=UTC)


def fired_at(attempt: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(attempt["attemptTime"].replace("Z", "+00:00"))


def register(scheduler: SchedulerProcess, gateway: str, schedules: Path = REPO / "infra" / "schedules.yaml") -> dict:
    from localcloud.scheduler.apply import apply
    from localcloud.supervisor.parts import function_urls

    return apply(schedules, function_urls(gateway), f"127.0.0.1:{scheduler.port}", PROJECT, LOCATION,
                 "manga-scheduler@mangaflow-local.iam.gserviceaccount.com")


def test_the_schedules_fire_the_real_functions_within_a_second_of_their_time(scheduler, stack):
    scheduler.set_clock(utc(2030, 1, 1, 0, 29, 59, micro=500_000))
    made = register(scheduler, stack["gateway"])
    assert sorted(made["created"]) == ["manga-aggregate-analytics", "manga-cleanup-sessions",
                                       "manga-daily-quality-report", "manga-weekly-quality-trends"]
    job = f"{PARENT}/jobs/manga-aggregate-analytics"

    [attempt] = scheduler.wait_for_attempts(job, 1, timeout=20)

    assert dt.timedelta(0) <= fired_at(attempt) - utc(2030, 1, 1, 0, 30) < dt.timedelta(seconds=1)
    assert attempt["responseCode"] == 200, attempt  # aggregate_analytics at the gateway did its work
    # The others are not due yet: cleanup at :05 of the next hour, the reports at 01:00 and Monday 02:00.
    for other in ("manga-cleanup-sessions", "manga-daily-quality-report", "manga-weekly-quality-trends"):
        assert scheduler.attempts(f"{PARENT}/jobs/{other}") == []
    # The hourly cleanup fires at 01:05 and reports what it removed.
    scheduler.set_clock(utc(2030, 1, 1, 1, 4, 59, micro=800_000))
    cleanup = scheduler.wait_for_attempts(f"{PARENT}/jobs/manga-cleanup-sessions", 1, timeout=60)
    assert cleanup and cleanup[0]["responseCode"] == 200, cleanup
    assert dt.timedelta(0) <= fired_at(cleanup[0]) - utc(2030, 1, 1, 1, 5) < dt.timedelta(seconds=1)


def test_pause_holds_the_report_and_resume_brings_it_back(scheduler, stack):
    client = scheduler.client()
    scheduler.set_clock(utc(2030, 1, 1, 0, 59, 0))
    register(scheduler, stack["gateway"])
    job = f"{PARENT}/jobs/manga-daily-quality-report"
    client.pause_job(name=job)

    scheduler.set_clock(utc(2030, 1, 1, 1, 0, 5))  # past its 01:00
    scheduler.wait_for_attempts(job, 1, timeout=1.5)
    assert scheduler.attempts(job) == []
    assert client.get_job(name=job).state == client.get_job(name=job).State.PAUSED
    # apply() leaves the state alone: a paused job stays paused when the schedules are applied again.
    assert sorted(register(scheduler, stack["gateway"])["left"]) == [
        "manga-aggregate-analytics", "manga-cleanup-sessions", "manga-daily-quality-report",
        "manga-weekly-quality-trends"]
    assert client.get_job(name=job).state == client.get_job(name=job).State.PAUSED

    resumed = client.resume_job(name=job)
    assert resumed.schedule_time == utc(2030, 1, 2, 1, 0)
    scheduler.set_clock(utc(2030, 1, 2, 0, 59, 59, micro=500_000))
    [attempt] = scheduler.wait_for_attempts(job, 1, timeout=60)
    assert attempt["responseCode"] == 200, attempt  # quality_report made and stored a report
    assert dt.timedelta(0) <= fired_at(attempt) - utc(2030, 1, 2, 1, 0) < dt.timedelta(seconds=1)


def test_a_function_that_refuses_its_body_is_retried_as_the_retry_config_says(scheduler, stack, tmp_path):
    schedules = tmp_path / "schedules.yaml"
    schedules.write_text(yaml.safe_dump({"jobs": [{
        "name": "bad-report", "function": "quality_report", "schedule": "0 3 * * *", "time_zone": "Asia/Tokyo",
        "description": "a body the function refuses", "body": {"period": "hourly"},
        "retry": {"retry_count": 3, "min_backoff_s": 1, "max_backoff_s": 2, "max_doublings": 1,
                  "attempt_deadline_s": 30}}]}))
    scheduler.set_clock(utc(2030, 1, 1, 17, 59, 59, micro=500_000))  # 02:59:59.5 in Tokyo
    register(scheduler, stack["gateway"], schedules)
    job = f"{PARENT}/jobs/manga-bad-report"

    attempts = scheduler.wait_for_attempts(job, 4, timeout=20)

    assert [a.get("responseCode") for a in attempts] == [422, 422, 422, 422], attempts  # 1 + retry_count
    times = [fired_at(a) for a in attempts]
    assert dt.timedelta(0) <= times[0] - utc(2030, 1, 1, 18, 0) < dt.timedelta(seconds=1)
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
    # min 1 s, doubled once to 2 s, then capped at max_backoff 2 s.
    assert [round(gap) for gap in gaps] == [1, 2, 2], gaps
    scheduler.wait_for_attempts(job, 5, timeout=1.5)
    assert len(scheduler.attempts(job)) == 4
