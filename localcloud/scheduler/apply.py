"""`mangaflow schedules apply`: make the scheduler's jobs those of infra/schedules.yaml, through the
official `google-cloud-scheduler` client, exactly as a deploy script does in the cloud.

Jobs are named `manga-<name>` (as infra/scheduler.tf names them); a `manga-` job no longer in the
file is deleted, any other job is left alone. Running it twice changes nothing the second time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from mangaflow.errors import DomainError

EMULATOR_HOST_VARIABLE = "CLOUD_SCHEDULER_EMULATOR_HOST"  # host:port of the local scheduler
JOB_PREFIX = "manga-"
DEFAULT_PROJECT = "mangaflow-local"
DEFAULT_LOCATION = "local"
# The fields apply() owns; anything else on a job (state, history) is the scheduler's.
MANAGED_FIELDS = ("description", "schedule", "time_zone", "http_target", "retry_config", "attempt_deadline")
RETRY_KEYS = {"retry_count", "min_backoff_s", "max_backoff_s", "max_doublings", "attempt_deadline_s"}


class SchedulesFileError(DomainError):
    """infra/schedules.yaml says something apply() cannot carry out; `field` is the path in the file."""

    status = 422


@dataclass(frozen=True)
class Schedule:
    """One job of infra/schedules.yaml."""

    name: str
    function: str
    schedule: str
    time_zone: str
    description: str
    body: dict[str, Any]
    retry: dict[str, int]


def load_schedules(path: str | Path) -> list[Schedule]:
    """The jobs of the file, each field checked (the error names the job and field)."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise SchedulesFileError(f"cannot read {path}: {err}", field="jobs") from None
    if not isinstance(document, dict) or not isinstance(document.get("jobs"), list):
        raise SchedulesFileError(f"{path} must have a list 'jobs'", field="jobs")
    schedules = []
    for index, item in enumerate(document["jobs"]):
        where = f"jobs[{index}]"
        if not isinstance(item, dict):
            raise SchedulesFileError(f"{path}: {where} must be a mapping", field=where)
        for key in ("name", "function", "schedule", "time_zone"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise SchedulesFileError(f"{path}: {where}.{key} is missing or not text", field=f"{where}.{key}")
        body, retry = item.get("body", {}), item.get("retry", {})
        if not isinstance(body, dict):
            raise SchedulesFileError(f"{path}: {where}.body must be a mapping (the JSON body)", field=f"{where}.body")
        if not isinstance(retry, dict) or set(retry) - RETRY_KEYS or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in retry.values()):
            raise SchedulesFileError(f"{path}: {where}.retry takes non-negative integers for "
                                     f"{', '.join(sorted(RETRY_KEYS))}", field=f"{where}.retry")
        schedules.append(Schedule(item["name"], item["function"], item["schedule"], item["time_zone"],
                                  str(item.get("description", "")), body, retry))
    names = [s.name for s in schedules]
    if len(set(names)) != len(names):
        raise SchedulesFileError(f"{path}: job names repeat: {names}", field="jobs")
    return schedules


def scheduler_client(endpoint: str | None) -> Any:
    """The official client: on the REST transport at a local endpoint (given, or CLOUD_SCHEDULER_EMULATOR_HOST),
    or the cloud's with its own credentials."""
    from google.cloud import scheduler_v1

    endpoint = endpoint or os.environ.get(EMULATOR_HOST_VARIABLE) or None
    if endpoint is None:
        return scheduler_v1.CloudSchedulerClient()
    from google.auth.credentials import AnonymousCredentials

    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    return scheduler_v1.CloudSchedulerClient(transport="rest", client_options={"api_endpoint": url},
                                             credentials=AnonymousCredentials())


def desired_job(schedule: Schedule, url: str, parent: str, service_account: str | None) -> Any:
    from google.cloud import scheduler_v1
    from google.protobuf import duration_pb2

    retry = schedule.retry
    target: dict[str, Any] = {
        "uri": url,
        "http_method": scheduler_v1.HttpMethod.POST,
        "headers": {"Content-Type": "application/json"},
        # Compact with sorted keys: the bytes Terraform's jsonencode() gives, so the two never disagree.
        "body": json.dumps(schedule.body, sort_keys=True, separators=(",", ":")).encode("utf-8"),
    }
    if service_account:
        target["oidc_token"] = {"service_account_email": service_account, "audience": url}
    job: dict[str, Any] = {
        "name": f"{parent}/jobs/{JOB_PREFIX}{schedule.name}",
        "description": schedule.description,
        "schedule": schedule.schedule,
        "time_zone": schedule.time_zone,
        "http_target": target,
        "retry_config": {"retry_count": retry.get("retry_count", 0)},
    }
    for key, field in (("min_backoff_s", "min_backoff_duration"), ("max_backoff_s", "max_backoff_duration")):
        if key in retry:
            job["retry_config"][field] = duration_pb2.Duration(seconds=retry[key])
    if "max_doublings" in retry:
        job["retry_config"]["max_doublings"] = retry["max_doublings"]
    if "attempt_deadline_s" in retry:
        job["attempt_deadline"] = duration_pb2.Duration(seconds=retry["attempt_deadline_s"])
    return scheduler_v1.Job(job)


def _differing_fields(current: Any, wanted: Any) -> list[str]:
    """The managed fields where the scheduler's job differs from the file's (defaults it filled in are not differences)."""
    changed = []
    for field in MANAGED_FIELDS:
        have, want = getattr(type(current).pb(current), field), getattr(type(wanted).pb(wanted), field)
        if field == "retry_config":
            # The scheduler fills in defaults the file leaves out: equal when everything the file says holds.
            probe = type(have)()
            probe.CopyFrom(have)
            probe.MergeFrom(want)
            same = probe == have
        elif field == "attempt_deadline" and not wanted.attempt_deadline:
            same = True
        else:
            same = have == want
        if not same:
            changed.append(field)
    return changed


def apply(schedules_file: str | Path, function_urls: Mapping[str, str], endpoint: str | None = None,
          project: str = DEFAULT_PROJECT, location: str = DEFAULT_LOCATION,
          service_account: str | None = None) -> dict[str, list[str]]:
    """Create, update and delete `manga-*` jobs until the scheduler holds what the file says.

    Returns the job ids under "created", "updated", "deleted" and "left" (already as the file says).
    """
    from google.protobuf import field_mask_pb2

    schedules = load_schedules(schedules_file)
    for index, schedule in enumerate(schedules):
        if schedule.function not in function_urls:
            raise SchedulesFileError(f"no URL for function '{schedule.function}' (jobs[{index}].function); "
                                     f"known: {', '.join(sorted(function_urls)) or 'none'}",
                                     field=f"jobs[{index}].function")
    client = scheduler_client(endpoint)
    parent = f"projects/{project}/locations/{location}"
    existing = {job.name: job for job in client.list_jobs(parent=parent)}
    result: dict[str, list[str]] = {"created": [], "updated": [], "deleted": [], "left": []}
    wanted_names = set()
    for schedule in schedules:
        job = desired_job(schedule, function_urls[schedule.function], parent, service_account)
        wanted_names.add(job.name)
        job_id = job.name.rsplit("/", 1)[-1]
        current = existing.get(job.name)
        if current is None:
            client.create_job(parent=parent, job=job)
            result["created"].append(job_id)
        elif changed := _differing_fields(current, job):
            client.update_job(job=job, update_mask=field_mask_pb2.FieldMask(paths=changed))
            result["updated"].append(job_id)
        else:
            result["left"].append(job_id)
    for name in sorted(existing):
        job_id = name.rsplit("/", 1)[-1]
        if job_id.startswith(JOB_PREFIX) and name not in wanted_names:
            client.delete_job(name=name)
            result["deleted"].append(job_id)
    return result
