"""The Cloud Scheduler REST API v1 on aiohttp: /v1/projects/{p}/locations/{l}/jobs[/{job}[:pause|:resume|:run]],
errors in Google's JSON shape, plus local extensions: GET .../jobs/{job}/attempts (every attempt),
GET /_health, and GET/POST /_clock (moving the clock needs --manual-clock).
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import signal
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from . import VERSION
from . import jobs as job_rules
from .clock import Clock
from .dispatcher import Scheduler, rfc3339
from .errors import ApiError, invalid
from .store import JobStore

log = logging.getLogger("localcloud.scheduler")

API = "/v1/projects/{project}/locations/{location}/jobs"
REQUEST_LIMIT = 8 * 1024 * 1024  # above the 1 MB job limit, so an oversized job gets the API's own 400
MAX_PAGE_SIZE = 500
ACTIONS = ("pause", "resume", "run")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise invalid(f"Invalid JSON payload received. {err}.", "body") from None


def _ints(request: web.Request) -> bool:
    # The official REST transport asks for numeric enums with `$alt=json;enum-encoding=int`.
    return "enum-encoding=int" in request.query.get("$alt", "")


def _page(request: web.Request) -> tuple[int, int]:
    try:
        size = int(request.query.get("pageSize") or MAX_PAGE_SIZE)
        after = int(base64.urlsafe_b64decode(request.query["pageToken"]).decode()) if request.query.get("pageToken") else 0
    except ValueError:
        raise invalid("pageSize must be an integer and pageToken one this server returned.", "pageToken") from None
    if not 0 < size <= MAX_PAGE_SIZE:
        raise invalid(f"pageSize is {size}; it must be between 1 and {MAX_PAGE_SIZE}.", "pageSize")
    return size, after


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def build_app(scheduler: Scheduler) -> web.Application:
    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPRequestEntityTooLarge:
            return ApiError(413, "INVALID_ARGUMENT",
                            f"The request is larger than this server's limit of {REQUEST_LIMIT} bytes; "
                            "a job may be at most 1 MB.", "job").response()
        except web.HTTPException as exc:
            if exc.status == 404:
                return ApiError(404, "NOT_FOUND", f"No such resource: {request.path}").response()
            if exc.status == 405:
                return ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}").response()
            raise
        except Exception:  # never a stack trace to the caller
            log.exception("internal error on %s %s", request.method, request.path)
            return ApiError(500, "INTERNAL", "Internal error in the local scheduler; see its log.").response()

    app = web.Application(middlewares=[errors], client_max_size=REQUEST_LIMIT)

    def parent_of(request: web.Request) -> str:
        parent = f"projects/{request.match_info['project']}/locations/{request.match_info['location']}"
        job_rules.check_parent(parent)
        return parent

    def reply(job: Any, request: web.Request) -> web.Response:
        return web.json_response(job_rules.render(job, _ints(request)))

    async def create_job(request: web.Request) -> web.Response:
        parent = parent_of(request)
        job = job_rules.parse_job(await _json_body(request))
        if not job.name:
            job.name = job_rules.job_name(parent, "job-" + uuid.uuid4().hex[:20])
        job_rules.validate(job, parent)
        return reply(scheduler.create(job), request)

    async def list_jobs(request: web.Request) -> web.Response:
        parent = parent_of(request)
        size, after = _page(request)
        names = sorted(name for name in scheduler.jobs if name.startswith(parent + "/jobs/"))
        page = names[after:after + size]
        body: dict[str, Any] = {"jobs": [job_rules.render(scheduler.jobs[n], _ints(request)) for n in page]}
        if after + size < len(names):
            body["nextPageToken"] = _token(after + size)
        return web.json_response(body)

    def name_of(request: web.Request) -> tuple[str, str]:
        return f"{parent_of(request)}/jobs/{request.match_info['job']}", parent_of(request)

    async def get_job(request: web.Request) -> web.Response:
        name, _ = name_of(request)
        return reply(scheduler.get(name), request)

    async def delete_job(request: web.Request) -> web.Response:
        name, _ = name_of(request)
        scheduler.delete(name)
        return web.json_response({})

    async def patch_job(request: web.Request) -> web.Response:
        name, parent = name_of(request)
        current = scheduler.get(name)
        change = job_rules.parse_job(await _json_body(request))
        if change.name and change.name != name:
            raise invalid(f"job.name '{change.name}' does not match the job in the URL ({name}).", "job.name")
        change.name = name
        merged = job_rules.JobPb()
        merged.CopyFrom(current)
        mask_text = request.query.get("updateMask", "")
        if mask_text:
            job_rules.parse_mask(mask_text).MergeMessage(change, merged, replace_message_field=True,
                                                         replace_repeated_field=True)
        else:  # no mask: every updatable field takes the request's value
            for field in job_rules.JobPb.DESCRIPTOR.fields:
                if field.name not in job_rules.OUTPUT_ONLY and field.name != "name":
                    merged.ClearField(field.name)
            merged.MergeFrom(change)
        job_rules.validate(merged, parent)
        return reply(scheduler.replace(merged), request)

    async def job_action(request: web.Request) -> web.Response:
        job_id, _, action = request.match_info["job"].partition(":")
        if action not in ACTIONS:
            raise ApiError(404, "NOT_FOUND", f"No such method: ':{action}' (the job methods are :pause, :resume, :run).")
        parent = parent_of(request)
        await _json_body(request)
        name = f"{parent}/jobs/{job_id}"
        job = {"pause": scheduler.pause, "resume": scheduler.resume, "run": scheduler.run_now}[action](name)
        return reply(job, request)

    async def list_attempts(request: web.Request) -> web.Response:
        name, _ = name_of(request)
        size, after = _page(request)
        rows = scheduler.attempts(name, after, size + 1)
        body: dict[str, Any] = {"attempts": [attempt.resource() for _, attempt in rows[:size]]}
        if len(rows) > size:
            body["nextPageToken"] = _token(rows[size - 1][0])
        return web.json_response(body)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"healthy": True, "version": VERSION, "jobs": len(scheduler.jobs),
                                  "manualClock": scheduler.clock.manual, "now": rfc3339(scheduler.clock.now())})

    async def get_clock(request: web.Request) -> web.Response:
        return web.json_response({"now": rfc3339(scheduler.clock.now()), "manual": scheduler.clock.manual})

    async def set_clock(request: web.Request) -> web.Response:
        if not scheduler.clock.manual:
            raise ApiError(400, "FAILED_PRECONDITION", "The clock is the wall clock; start the server with "
                                                       "--manual-clock to set it.", "now")
        body = await _json_body(request)
        if not isinstance(body, dict) or len(set(body) & {"now", "advance_s"}) != 1 or set(body) - {"now", "advance_s"}:
            raise invalid("Send exactly one of {\"now\": RFC 3339 time} or {\"advance_s\": seconds}.", "now")
        if "now" in body:
            try:
                now = dt.datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
            except ValueError:
                raise invalid(f"now '{body['now']}' is not an RFC 3339 time.", "now") from None
            if now.tzinfo is None:
                raise invalid("now needs a UTC offset (e.g. 2026-01-01T00:00:00Z).", "now")
            scheduler.clock.set(now)
        else:
            step = body["advance_s"]
            if isinstance(step, bool) or not isinstance(step, (int, float)) or not -1e9 < step < 1e9:
                raise invalid("advance_s must be a number of seconds.", "advance_s")
            scheduler.clock.advance(float(step))
        return await get_clock(request)

    app.router.add_get("/_health", health)
    app.router.add_get("/_clock", get_clock)
    app.router.add_post("/_clock", set_clock)
    app.router.add_post(API, create_job)
    app.router.add_get(API, list_jobs)
    app.router.add_get(API + "/{job}", get_job)
    app.router.add_delete(API + "/{job}", delete_job)
    app.router.add_patch(API + "/{job}", patch_job)
    app.router.add_post(API + "/{job}", job_action)
    app.router.add_get(API + "/{job}/attempts", list_attempts)
    return app


class SchedulerServer:
    """The API server and its scheduler on one event loop."""

    def __init__(self, host: str, port: int, data_dir: Path, manual_clock: bool = False) -> None:
        self.host, self.port = host, port
        self.scheduler = Scheduler(JobStore(data_dir), Clock(manual_clock))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        await self.scheduler.start()
        self._runner = web.AppRunner(build_app(self.scheduler), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.scheduler.stop()


async def serve_forever(host: str, port: int, data_dir: Path, manual_clock: bool) -> None:
    server = SchedulerServer(host, port, data_dir, manual_clock)
    await server.start()
    print(f"scheduler listening on http://{server.host}:{server.port} (data in {data_dir}"
          f"{', manual clock' if manual_clock else ''})", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await server.stop()
