"""The jobs and their runs: one task watches the clock and starts each enabled job when its
scheduleTime comes; a run calls the job's HTTP target and retries a failure as the job's retryConfig
says, recording every attempt. Everything is asyncio: a job waiting for its time holds no thread.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
import uuid
from typing import Any

import aiohttp

from . import jobs as job_rules
from .clock import Clock
from .errors import ApiError, not_found
from .store import Attempt, JobStore

log = logging.getLogger("localcloud.scheduler")

USER_AGENT = "Google-Cloud-Scheduler"
# Headers the scheduler computes itself (the API says these are ignored or replaced).
COMPUTED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
# google.rpc.Code for an HTTP answer, as Google maps them (google.rpc.code.proto's HTTP mapping).
HTTP_TO_RPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 412: 9, 416: 11, 429: 8, 499: 1, 500: 13, 501: 12,
               503: 14, 504: 4}
OK, UNKNOWN, DEADLINE_EXCEEDED, FAILED_PRECONDITION, UNAVAILABLE = 0, 2, 4, 9, 14
TICK_MAX_S = 30.0


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rpc_code(status: int) -> int:
    if 200 <= status < 300:
        return OK
    if status in HTTP_TO_RPC:
        return HTTP_TO_RPC[status]
    return FAILED_PRECONDITION if 400 <= status < 500 else UNKNOWN


def _identity_token(service_account: str) -> str | None:
    """What stands in for Google's OIDC token locally: a developer identity for the job's service account,
    signed with MANGAFLOW_SIGNING_KEY, which the local functions check (mangaflow.auth)."""
    if not service_account or not os.environ.get("MANGAFLOW_SIGNING_KEY"):
        return None
    from mangaflow.auth import issue_local_token

    return issue_local_token(service_account)


class Scheduler:
    """The jobs of every project and location this server has been given, keyed by full name."""

    def __init__(self, store: JobStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.jobs: dict[str, Any] = store.load_jobs()
        self._scheduled_runs: dict[str, asyncio.Task] = {}
        self._other_runs: set[asyncio.Task] = set()
        self._jobs_changed = asyncio.Event()
        self._ticker: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # No session-wide timeout: each attempt has the job's own deadline, up to 30 minutes. A fresh
        # connection per attempt: a kept-alive one the target closes while idle (gunicorn after 2 s,
        # about a retry's backoff) would fail the attempt before it reached the function.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
                                              connector=aiohttp.TCPConnector(force_close=True))
        now = self.clock.now()
        for job in self.jobs.values():
            # Runs missed while the server was down are not made up, as the cloud never backfills a schedule.
            if job.state == job_rules.ENABLED and job.schedule_time.ToDatetime(dt.timezone.utc) <= now:
                job_rules.set_time(job.schedule_time, job_rules.next_run(job, now))
                self.store.save_job(job)
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        tasks = [t for t in (self._ticker, *self._scheduled_runs.values(), *self._other_runs) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self.store.close()

    # --- the API's operations -------------------------------------------------------------------------

    def get(self, name: str) -> Any:
        job = self.jobs.get(name)
        if job is None:
            raise not_found(f"Job not found: {name}.")
        return job

    def create(self, job: Any) -> Any:
        if job.name in self.jobs:
            raise ApiError(409, "ALREADY_EXISTS", f"Job {job.name} already exists.", "job.name")
        job.state = job_rules.ENABLED
        now = self.clock.now()
        job_rules.set_time(job.user_update_time, now)
        job_rules.set_time(job.schedule_time, job_rules.next_run(job, now))
        self._save(job)
        return job

    def replace(self, job: Any) -> Any:
        """An updated job (already merged and checked) keeps its state and history; its next run is recomputed."""
        now = self.clock.now()
        job_rules.set_time(job.user_update_time, now)
        if job.state == job_rules.ENABLED:
            job_rules.set_time(job.schedule_time, job_rules.next_run(job, now))
        self._save(job)
        return job

    def delete(self, name: str) -> None:
        self.get(name)
        del self.jobs[name]
        self.store.delete_job(name)
        run = self._scheduled_runs.pop(name, None)
        if run is not None:
            run.cancel()
        self._jobs_changed.set()

    def pause(self, name: str) -> Any:
        job = self.get(name)
        if job.state != job_rules.ENABLED:
            raise ApiError(400, "FAILED_PRECONDITION", f"Job {name} is not ENABLED; only an enabled job can be paused.")
        job.state = job_rules.PAUSED
        job.ClearField("schedule_time")
        job_rules.set_time(job.user_update_time, self.clock.now())
        self._save(job)
        return job

    def resume(self, name: str) -> Any:
        job = self.get(name)
        if job.state != job_rules.PAUSED:
            raise ApiError(400, "FAILED_PRECONDITION", f"Job {name} is not PAUSED; only a paused job can be resumed.")
        job.state = job_rules.ENABLED
        now = self.clock.now()
        job_rules.set_time(job.user_update_time, now)
        job_rules.set_time(job.schedule_time, job_rules.next_run(job, now))
        self._save(job)
        return job

    def run_now(self, name: str) -> Any:
        """The :run method: dispatch at once, even if the job is paused or a run is already going."""
        job = self.get(name)
        task = asyncio.create_task(self._run(name, self.clock.now(), "RUN_NOW"))
        self._other_runs.add(task)
        task.add_done_callback(self._other_runs.discard)
        return job

    def attempts(self, name: str, after_id: int, limit: int) -> list[tuple[int, Attempt]]:
        self.get(name)
        return self.store.attempts(name, after_id, limit)

    def _save(self, job: Any) -> None:
        self.jobs[job.name] = job
        self.store.save_job(job)
        self._jobs_changed.set()

    # --- the clock ---------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            self._jobs_changed.clear()
            now = self.clock.now()
            next_due: dt.datetime | None = None
            for job in list(self.jobs.values()):
                if job.state != job_rules.ENABLED:
                    continue
                due = job.schedule_time.ToDatetime(dt.timezone.utc)
                if due <= now:
                    self._fire(job, due)
                    due = job.schedule_time.ToDatetime(dt.timezone.utc)
                next_due = due if next_due is None else min(next_due, due)
            wait_s = TICK_MAX_S if next_due is None else min(TICK_MAX_S, (next_due - self.clock.now()).total_seconds())
            await self.clock.wait(wait_s, also=self._jobs_changed)

    def _fire(self, job: Any, due: dt.datetime) -> None:
        # The next occurrence is counted from now, so a clock moved far ahead fires once, not once per gap.
        job_rules.set_time(job.schedule_time, job_rules.next_run(job, max(due, self.clock.now())))
        self.store.save_job(job)
        running = self._scheduled_runs.get(job.name)
        if running is not None and not running.done():
            log.warning("job %s: the run of an earlier occurrence is still retrying; the one due at %s is skipped",
                        job.name, rfc3339(due))
            return
        self._scheduled_runs[job.name] = asyncio.create_task(self._run(job.name, due, "SCHEDULED"))

    # --- a run: attempts and retries ----------------------------------------------------------------

    async def _run(self, name: str, schedule_time: dt.datetime, dispatch: str) -> None:
        run_id = uuid.uuid4().hex[:16]
        started = self.clock.now()
        attempt = 0
        while True:
            job = self.jobs.get(name)
            if job is None:
                return  # deleted while waiting to retry
            attempt += 1
            ok = await self._attempt(job, run_id, dispatch, attempt, schedule_time)
            job = self.jobs.get(name)
            if ok or job is None or not self._may_retry(job, attempt, started, dispatch):
                return
            await self.clock.sleep_until(self.clock.now() + dt.timedelta(seconds=job_rules.backoff_s(job, attempt - 1)))

    def _may_retry(self, job: Any, attempt: int, started: dt.datetime, dispatch: str) -> bool:
        if dispatch == "SCHEDULED" and job.state != job_rules.ENABLED:
            return False  # paused while it ran: the cloud stops retrying too
        retry = job.retry_config
        retries_left = attempt - 1 < retry.retry_count
        limit_s = retry.max_retry_duration.ToTimedelta().total_seconds()
        # With both limits set, the API retries until both are reached; 0 means "no time limit".
        time_left = limit_s > 0 and (self.clock.now() - started).total_seconds() < limit_s
        return retries_left or (time_left and retry.retry_count > 0)

    async def _call(self, method: str, uri: str, headers: dict[str, str], body: bytes | None) -> int:
        assert self._session is not None
        async with self._session.request(method, uri, headers=headers, data=body, allow_redirects=True) as response:
            await response.read()
            return response.status

    async def _attempt(self, job: Any, run_id: str, dispatch: str, number: int, schedule_time: dt.datetime) -> bool:
        target = job.http_target
        method = job_rules.HTTP_METHODS.Name(target.http_method or job_rules.POST)
        headers = {k: v for k, v in target.headers.items() if k.lower() not in COMPUTED_HEADERS}
        if target.body and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/octet-stream"
        user_agent = headers.pop("User-Agent", headers.pop("user-agent", ""))
        headers["User-Agent"] = f"{user_agent} {USER_AGENT}".strip()
        headers.update({"X-CloudScheduler": "true", "X-CloudScheduler-JobName": job.name.rsplit("/", 1)[-1],
                        "X-CloudScheduler-ScheduleTime": rfc3339(schedule_time)})
        token = _identity_token(target.oidc_token.service_account_email or target.oauth_token.service_account_email)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        deadline_s = job.attempt_deadline.ToTimedelta().total_seconds() or job_rules.DEFAULT_DEADLINE_S
        attempt_time = self.clock.now()
        started = time.monotonic()
        response_code: int | None = None
        error: str | None = None
        # The deadline runs on the scheduler's clock, so under --manual-clock a test can make it pass.
        call = asyncio.ensure_future(self._call(method, target.uri, headers, bytes(target.body) or None))
        deadline = asyncio.ensure_future(self.clock.sleep_until(attempt_time + dt.timedelta(seconds=deadline_s)))
        try:
            await asyncio.wait({call, deadline}, return_when=asyncio.FIRST_COMPLETED)
            if not call.done():
                rpc_code, error = DEADLINE_EXCEEDED, f"DEADLINE_EXCEEDED: no answer from {target.uri} within {deadline_s:g}s"
            else:
                response_code = call.result()
                rpc_code = _rpc_code(response_code)
                error = None if rpc_code == OK else f"HTTP {response_code} from {target.uri}"
        except aiohttp.ClientError as err:
            rpc_code, error = UNAVAILABLE, f"UNAVAILABLE: {target.uri}: {err}"
        finally:
            call.cancel()
            deadline.cancel()
        duration_ms = (time.monotonic() - started) * 1000
        current = self.jobs.get(job.name)
        record = Attempt(job.name, run_id, dispatch, number, rfc3339(schedule_time), rfc3339(attempt_time),
                         duration_ms, response_code, rpc_code, error)
        if current is not None:  # not deleted meanwhile
            job_rules.set_time(current.last_attempt_time, attempt_time)
            current.status.Clear()
            current.status.code = rpc_code
            if error:
                current.status.message = error
            self.store.record_attempt(record, current)
        log.info("job %s %s attempt %d: %s", job.name, dispatch, number, error or f"HTTP {response_code}")
        return rpc_code == OK
