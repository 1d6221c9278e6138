"""A Cloud Scheduler job: parsed with the official library's own message types, checked against the
API's rules (each error names its field), filled with the service's defaults, and timed: the next run
on its cron in its time zone, and the backoff between retries."""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from croniter import croniter
from google.cloud.scheduler_v1 import types as scheduler_types
from google.protobuf import field_mask_pb2, json_format
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from .errors import ApiError, invalid

JobPb = scheduler_types.Job.pb()
ENABLED, PAUSED = JobPb.State.Value("ENABLED"), JobPb.State.Value("PAUSED")
HTTP_METHODS = EnumTypeWrapper(scheduler_types.HttpTarget.pb().DESCRIPTOR.fields_by_name["http_method"].enum_type)
POST = HTTP_METHODS.Value("POST")
BODY_METHODS = {HTTP_METHODS.Value(name) for name in ("POST", "PUT", "PATCH")}

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
PARENT = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
MAX_JOB_BYTES = 1024 * 1024  # "The maximum allowed size for a job is 1MB."
MAX_URI_CHARS = 2083
MAX_RETRY_COUNT = 5
DEADLINE_RANGE_S = (15.0, 30 * 60.0)  # HTTP targets
DEFAULT_DEADLINE_S = 180
DEFAULT_TIME_ZONE = "Etc/UTC"
# Defaults the service reports for an unset retryConfig (gcloud shows the same).
DEFAULT_RETRY = {"min_backoff_duration": 5, "max_backoff_duration": 3600, "max_doublings": 5}
# Fields the service sets; anything a caller sends in them is ignored, as the API does.
OUTPUT_ONLY = ("user_update_time", "state", "status", "schedule_time", "last_attempt_time")


def parse_job(body: Any) -> Any:
    """The request body as a Job message; unknown fields and wrong types are the caller's 400."""
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received: the job must be a JSON object.", "job")
    job = JobPb()
    try:
        json_format.ParseDict(body, job, ignore_unknown_fields=False)
    except json_format.ParseError as err:
        raise invalid(f"Invalid JSON payload received. {err}", "job") from None
    for name in OUTPUT_ONLY:
        job.ClearField(name)
    return job


def parse_mask(text: str) -> field_mask_pb2.FieldMask:
    """updateMask as the REST transport sends it (camelCase, comma-separated); snake_case accepted too."""
    mask = field_mask_pb2.FieldMask()
    for path in filter(None, (p.strip() for p in text.split(","))):
        mask.paths.append(path if "_" in path else re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), path))
    for path in mask.paths:
        if path.split(".")[0] in OUTPUT_ONLY or path == "name":
            raise invalid(f"updateMask path '{path}' names a field that cannot be updated.", "updateMask")
    if not mask.IsValidForDescriptor(JobPb.DESCRIPTOR):
        raise invalid(f"updateMask '{text}' names a field that a Job does not have.", "updateMask")
    return mask


def job_name(parent: str, job_id: str) -> str:
    return f"{parent}/jobs/{job_id}"


def check_parent(parent: str) -> None:
    if not PARENT.match(parent):
        raise invalid(f"parent '{parent}' must be projects/PROJECT_ID/locations/LOCATION_ID.", "parent")


def validate(job: Any, parent: str) -> None:
    """The API's rules for a job under `parent` (the first broken one is a 400 naming its field); fills
    in what the service defaults."""
    if not job.name.startswith(parent + "/jobs/") or not JOB_ID.match(job.name[len(parent) + 6:]):
        raise invalid(f"job.name '{job.name}' must be {parent}/jobs/JOB_ID, JOB_ID being 1 to 500 letters, "
                      "digits, hyphens or underscores.", "job.name")
    target = job.WhichOneof("target")
    if target is None:
        raise invalid("job.httpTarget is required: a job needs a target.", "job.httpTarget")
    if target != "http_target":
        field = "job.pubsubTarget" if target == "pubsub_target" else "job.appEngineHttpTarget"
        raise ApiError(501, "UNIMPLEMENTED", f"{field}: the local scheduler fires HTTP targets only.", field)
    fill_defaults(job)
    _validate_http_target(job.http_target)
    _validate_schedule(job.schedule, job.time_zone)
    _validate_retry(job)
    if job.HasField("attempt_deadline"):
        seconds = job.attempt_deadline.ToTimedelta().total_seconds()
        if not DEADLINE_RANGE_S[0] <= seconds <= DEADLINE_RANGE_S[1]:
            raise invalid(f"job.attemptDeadline is {seconds:g}s; for an HTTP target it must be between 15s and "
                          "1800s (30 minutes).", "job.attemptDeadline")
    size = job.ByteSize()
    if size > MAX_JOB_BYTES:
        raise invalid(f"job.httpTarget.body is {len(job.http_target.body)} bytes, which makes the job {size} bytes; "
                      f"a job may be at most {MAX_JOB_BYTES} bytes (1 MB).", "job.httpTarget.body")


def _validate_http_target(target: Any) -> None:
    uri = target.uri
    if not uri:
        raise invalid("job.httpTarget.uri is required.", "job.httpTarget.uri")
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"job.httpTarget.uri '{uri[:200]}' must begin with http:// or https:// and name a host.",
                      "job.httpTarget.uri")
    if len(uri) > MAX_URI_CHARS:
        raise invalid(f"job.httpTarget.uri is {len(uri)} characters; the limit is {MAX_URI_CHARS}.",
                      "job.httpTarget.uri")
    method = target.http_method or POST
    if target.body and method not in BODY_METHODS:
        raise invalid(f"job.httpTarget.body is allowed only if the HTTP method is POST, PUT or PATCH, not "
                      f"{HTTP_METHODS.Name(method)}.", "job.httpTarget.body")
    for header, value in target.headers.items():
        if not header or not all(33 <= ord(c) <= 126 and c != ":" for c in header) or "\n" in value or "\r" in value:
            raise invalid(f"job.httpTarget.headers has an invalid header '{header[:100]}'.", "job.httpTarget.headers")


def _validate_schedule(schedule: str, time_zone: str) -> None:
    if not schedule:
        raise invalid("job.schedule is required (unix-cron, e.g. '0 1 * * *').", "job.schedule")
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise invalid(f"job.schedule '{schedule[:200]}' is not a unix-cron schedule of 5 fields "
                      "(minute hour day-of-month month day-of-week).", "job.schedule")
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise invalid(f"job.timeZone '{time_zone[:100]}' is not a time zone of the tz database "
                      "(e.g. 'Etc/UTC', 'Asia/Tokyo').", "job.timeZone") from None


def _validate_retry(job: Any) -> None:
    retry = job.retry_config
    if not 0 <= retry.retry_count <= MAX_RETRY_COUNT:
        raise invalid(f"job.retryConfig.retryCount is {retry.retry_count}; it must be between 0 and "
                      f"{MAX_RETRY_COUNT}.", "job.retryConfig.retryCount")
    if retry.max_doublings < 0:
        raise invalid(f"job.retryConfig.maxDoublings is {retry.max_doublings}; it cannot be negative.",
                      "job.retryConfig.maxDoublings")
    for field in ("max_retry_duration", "min_backoff_duration", "max_backoff_duration"):
        if getattr(retry, field).ToTimedelta().total_seconds() < 0:
            camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)
            raise invalid(f"job.retryConfig.{camel} cannot be negative.", f"job.retryConfig.{camel}")
    low, high = (retry.min_backoff_duration.ToTimedelta(), retry.max_backoff_duration.ToTimedelta())
    if low > high:
        raise invalid(f"job.retryConfig.minBackoffDuration ({low.total_seconds():g}s) is longer than "
                      f"maxBackoffDuration ({high.total_seconds():g}s).", "job.retryConfig.minBackoffDuration")


def fill_defaults(job: Any) -> None:
    """What the service itself fills in on create and update."""
    if not job.time_zone:
        job.time_zone = DEFAULT_TIME_ZONE
    if not job.http_target.http_method:
        job.http_target.http_method = POST
    if not job.HasField("attempt_deadline"):
        job.attempt_deadline.FromSeconds(DEFAULT_DEADLINE_S)
    retry = job.retry_config
    if not retry.HasField("min_backoff_duration"):
        retry.min_backoff_duration.FromSeconds(DEFAULT_RETRY["min_backoff_duration"])
    if not retry.HasField("max_backoff_duration"):
        retry.max_backoff_duration.FromSeconds(max(DEFAULT_RETRY["max_backoff_duration"],
                                                   retry.min_backoff_duration.seconds))
    if not retry.HasField("max_retry_duration"):
        retry.max_retry_duration.FromSeconds(0)
    if not retry.max_doublings:  # proto3: 0 and unset are one, and the API documents 5 as the default
        retry.max_doublings = DEFAULT_RETRY["max_doublings"]


def next_run(job: Any, after: dt.datetime) -> dt.datetime:
    """The first time strictly after `after` that the job's cron names, read in the job's time zone."""
    zone = zoneinfo.ZoneInfo(job.time_zone or DEFAULT_TIME_ZONE)
    local = croniter(job.schedule, after.astimezone(zone)).get_next(dt.datetime)
    return local.astimezone(dt.timezone.utc)


def backoff_s(job: Any, retry_index: int) -> float:
    """Seconds before retry number `retry_index` (0 for the first retry): minBackoff doubled maxDoublings
    times, then growing linearly by that last interval, never above maxBackoff (the API's own example:
    10s, 20s, 40s, 80s, 160s, 240s, 300s, 300s for 10s / 300s / 3 doublings)."""
    retry = job.retry_config
    low = retry.min_backoff_duration.ToTimedelta().total_seconds()
    high = retry.max_backoff_duration.ToTimedelta().total_seconds()
    doublings = retry.max_doublings
    if retry_index <= doublings:
        interval = low * 2 ** retry_index
    else:
        interval = low * 2 ** doublings * (retry_index - doublings + 1)
    return min(interval, high)


def render(job: Any, enums_as_ints: bool = False) -> dict[str, Any]:
    """The job's REST JSON (camelCase, durations as "30s", body as base64)."""
    return json_format.MessageToDict(job, use_integers_for_enums=enums_as_ints)


def set_time(field: Any, when: dt.datetime) -> None:
    field.FromDatetime(when.astimezone(dt.timezone.utc))
