"""apply(): infra/schedules.yaml registered through the official client, idempotently; what the file
no longer has is deleted, what it never managed is left alone; the registered jobs really call the functions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import duration_pb2

from localcloud.scheduler.apply import SchedulesFileError, apply, load_schedules
from scheduler_support import REPO, http_job

SCHEDULES = REPO / "infra" / "schedules.yaml"
PROJECT, LOCATION = "mangaflow-local", "local"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
FUNCTIONS = ("cleanup_sessions", "aggregate_analytics", "quality_report")
ALL_JOBS = ["manga-cleanup-sessions", "manga-aggregate-analytics", "manga-daily-quality-report",
            "manga-weekly-quality-trends"]


def urls(base: str) -> dict[str, str]:
    return {name: f"{base}/{name}" for name in FUNCTIONS}


def run_apply(scheduler, base: str, schedules: Path = SCHEDULES, **kwargs) -> dict[str, list[str]]:
    return apply(schedules, urls(base), scheduler.url, PROJECT, LOCATION, **kwargs)


def test_the_repository_file_is_one_apply_understands():
    schedules = load_schedules(SCHEDULES)
    assert [s.name for s in schedules] == [name.removeprefix("manga-") for name in ALL_JOBS]
    assert {s.function for s in schedules} == set(FUNCTIONS)


def test_apply_registers_every_job_of_the_file(scheduler, target):
    result = run_apply(scheduler, target.url)

    assert result == {"created": ALL_JOBS, "updated": [], "deleted": [], "left": []}
    jobs = {job.name.rsplit("/", 1)[-1]: job for job in scheduler.client().list_jobs(parent=PARENT)}
    cleanup = jobs["manga-cleanup-sessions"]
    assert cleanup.schedule == "5 * * * *" and cleanup.time_zone == "Etc/UTC"
    assert cleanup.http_target.uri == f"{target.url}/cleanup_sessions"
    assert cleanup.http_target.body == b'{"max_idle_s":3600}'
    assert cleanup.http_target.headers["Content-Type"] == "application/json"
    assert cleanup.retry_config.retry_count == 3 and cleanup.retry_config.max_doublings == 3
    assert cleanup.retry_config.min_backoff_duration == duration_pb2.Duration(seconds=30).ToTimedelta()
    assert cleanup.retry_config.max_backoff_duration == duration_pb2.Duration(seconds=300).ToTimedelta()
    assert cleanup.attempt_deadline == duration_pb2.Duration(seconds=320).ToTimedelta()
    assert jobs["manga-weekly-quality-trends"].http_target.body == b'{"period":"weekly"}'
    assert jobs["manga-aggregate-analytics"].http_target.body == b"{}"


def test_a_second_apply_changes_nothing(scheduler, target):
    run_apply(scheduler, target.url)
    before = {job.name: job for job in scheduler.client().list_jobs(parent=PARENT)}

    result = run_apply(scheduler, target.url)

    assert result == {"created": [], "updated": [], "deleted": [], "left": ALL_JOBS}
    after = {job.name: job for job in scheduler.client().list_jobs(parent=PARENT)}
    assert after == before  # not even userUpdateTime moved


def test_apply_follows_the_file_and_leaves_other_jobs_and_paused_state_alone(scheduler, target, tmp_path):
    client = scheduler.client()
    run_apply(scheduler, target.url)
    foreign = client.create_job(parent=PARENT, job={**http_job("someone-elses", target.url),
                                                    "name": f"{PARENT}/jobs/someone-elses"})
    client.pause_job(name=f"{PARENT}/jobs/manga-aggregate-analytics")
    document = yaml.safe_load(SCHEDULES.read_text())
    document["jobs"] = [job for job in document["jobs"] if job["name"] != "weekly-quality-trends"]
    document["jobs"][0]["schedule"] = "10 * * * *"
    changed = tmp_path / "schedules.yaml"
    changed.write_text(yaml.safe_dump(document))

    result = run_apply(scheduler, target.url, changed)

    assert result == {"created": [], "updated": ["manga-cleanup-sessions"], "deleted": ["manga-weekly-quality-trends"],
                      "left": ["manga-aggregate-analytics", "manga-daily-quality-report"]}
    assert client.get_job(name=f"{PARENT}/jobs/manga-cleanup-sessions").schedule == "10 * * * *"
    paused = client.get_job(name=f"{PARENT}/jobs/manga-aggregate-analytics")
    assert paused.state == paused.State.PAUSED
    assert client.get_job(name=foreign.name).schedule == foreign.schedule
    assert run_apply(scheduler, target.url, changed)["left"] == ["manga-cleanup-sessions", "manga-aggregate-analytics",
                                                                "manga-daily-quality-report"]


def test_moved_functions_and_an_invoker_account_update_every_job(scheduler, target):
    run_apply(scheduler, target.url)
    result = run_apply(scheduler, target.url + "/v2")
    assert result["updated"] == ALL_JOBS
    signed = run_apply(scheduler, target.url + "/v2", service_account="scheduler@mangaflow-local.iam.gserviceaccount.com")
    assert signed["updated"] == ALL_JOBS
    job = scheduler.client().get_job(name=f"{PARENT}/jobs/manga-daily-quality-report")
    assert job.http_target.oidc_token.service_account_email == "scheduler@mangaflow-local.iam.gserviceaccount.com"
    assert job.http_target.oidc_token.audience == f"{target.url}/v2/quality_report"


def test_the_endpoint_can_come_from_the_environment(scheduler, target, monkeypatch):
    monkeypatch.setenv("CLOUD_SCHEDULER_EMULATOR_HOST", scheduler.url.removeprefix("http://"))
    assert apply(SCHEDULES, urls(target.url), None, PROJECT, LOCATION)["created"] == ALL_JOBS


def test_a_registered_job_calls_its_function_with_the_files_body(scheduler, target):
    run_apply(scheduler, target.url)
    scheduler.client().run_job(name=f"{PARENT}/jobs/manga-cleanup-sessions")
    [call] = target.wait_for_calls(1)
    assert (call.method, call.path, json.loads(call.body)) == ("POST", "/cleanup_sessions", {"max_idle_s": 3600})


def test_a_function_without_a_url_stops_apply_before_any_change(scheduler, target):
    with pytest.raises(SchedulesFileError) as refused:
        apply(SCHEDULES, {"cleanup_sessions": target.url}, scheduler.url, PROJECT, LOCATION)
    assert refused.value.field == "jobs[1].function" and "aggregate_analytics" in refused.value.message
    assert list(scheduler.client().list_jobs(parent=PARENT)) == []


@pytest.mark.parametrize("mutate, field", [
    (lambda doc: doc["jobs"][0].pop("schedule"), "jobs[0].schedule"),
    (lambda doc: doc["jobs"][2].update(retry={"retry_count": "three"}), "jobs[2].retry"),
    (lambda doc: doc["jobs"][1].update(body=[1, 2]), "jobs[1].body"),
    (lambda doc: doc.update(jobs={"not": "a list"}), "jobs"),
    (lambda doc: doc["jobs"].append(dict(doc["jobs"][0])), "jobs"),
])
def test_a_broken_schedules_file_is_named_precisely(tmp_path, mutate, field):
    document = yaml.safe_load(SCHEDULES.read_text())
    mutate(document)
    broken = tmp_path / "schedules.yaml"
    broken.write_text(yaml.safe_dump(document))
    with pytest.raises(SchedulesFileError) as refused:
        load_schedules(broken)
    assert refused.value.field == field


def test_the_apply_command_prints_what_it_did(scheduler, target):
    command = [sys.executable, "-m", "localcloud.scheduler", "apply", "--endpoint", scheduler.url.removeprefix("http://"),
               *[arg for name in FUNCTIONS for arg in ("--function-url", f"{name}={target.url}/{name}")]]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["created"] == ALL_JOBS
    missing = subprocess.run(command[:6], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "jobs[0].function" not in missing.stdout
    assert "no URL for function 'cleanup_sessions'" in missing.stderr
