"""Issue 15, item 1: Terraform's Cloud Scheduler jobs are exactly infra/schedules.yaml's. The job
resource is evaluated here for every entry of the file (its `each.value` references filled in as
Terraform would) and compared field by field; every field of the file must be used, and nothing
the resource sends may come from anywhere else."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from terraform_model import block, each_value_paths, function_specs, load, render, resource, schedules_yaml

CRON = re.compile(r"^(\S+\s+){4}\S+$")


@pytest.fixture(scope="module")
def terraform() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def job_resource(terraform) -> dict[str, Any]:
    return resource(terraform, "google_cloud_scheduler_job", "job")


def test_the_jobs_come_from_the_yaml_and_nowhere_else(terraform, job_resource):
    assert terraform["locals"]["schedules"] == (
        '${{for job in yamldecode(file("${path.module}/schedules.yaml")).jobs : job.name => job}}')
    assert job_resource["for_each"] == "${local.schedules}"
    assert "scheduler_time_zone" not in terraform["variable"], "the time zone is per job, from the file"


def test_every_field_of_the_file_is_used_by_the_job_resource(job_resource):
    used = each_value_paths(job_resource)
    jobs = schedules_yaml()["jobs"]

    fields = {(key,) for job in jobs for key in job if key not in ("name", "retry")}
    retry_fields = {("retry", key) for job in jobs for key in job["retry"]}
    assert used == fields | retry_fields, f"unused: {sorted((fields | retry_fields) - used)}, invented: {sorted(used - fields - retry_fields)}"
    for job in jobs:  # the name is the for_each key (each.key)
        assert set(job) == {"name", "function", "schedule", "time_zone", "description", "body", "retry"}, job["name"]


@pytest.mark.parametrize("job", schedules_yaml()["jobs"], ids=lambda job: job["name"])
def test_each_terraform_job_is_the_files_job(job_resource, job):
    sent = render(job_resource, job, job["name"])
    retry = block(sent, "retry_config")
    target = block(sent, "http_target")

    assert sent["name"] == f"manga-{job['name']}"
    assert sent["schedule"] == job["schedule"] and CRON.match(job["schedule"])
    assert sent["time_zone"] == job["time_zone"]
    assert sent["description"] == job["description"]
    assert sent["attempt_deadline"] == f"{job['retry']['attempt_deadline_s']}s"
    assert retry == {
        "retry_count": job["retry"]["retry_count"],
        "min_backoff_duration": f"{job['retry']['min_backoff_s']}s",
        "max_backoff_duration": f"{job['retry']['max_backoff_s']}s",
        "max_doublings": job["retry"]["max_doublings"],
    }
    assert target["uri"] == f"${{google_cloudfunctions2_function.fn[{job['function']}].url}}"
    assert target["oidc_token"][0]["audience"] == target["uri"]
    # Terraform sends base64encode(jsonencode(body)): the file's body, as JSON.
    body = re.fullmatch(r"\$\{base64encode\(jsonencode\((.*)\)\)\}", target["body"])
    assert body and json.loads(body.group(1)) == job["body"]


def test_every_job_targets_a_function_the_scheduler_may_call(terraform):
    specs = function_specs(terraform)
    for job in schedules_yaml()["jobs"]:
        assert job["function"] in specs, job["name"]
        assert "scheduler" in specs[job["function"]]["callers"], job["name"]
        assert specs[job["function"]]["ingress"] == "ALLOW_INTERNAL_ONLY", job["name"]
        retry = job["retry"]
        assert 0 <= retry["retry_count"] <= 5 and retry["min_backoff_s"] <= retry["max_backoff_s"], job["name"]


def test_the_renderer_fails_on_a_field_the_file_lacks(job_resource):
    """The comparison above cannot pass by accident: a job missing a field the resource reads breaks it."""
    job = dict(schedules_yaml()["jobs"][0])
    del job["time_zone"]

    with pytest.raises(KeyError):
        render(job_resource, job, job["name"])
