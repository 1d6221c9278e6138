"""The Workflows and Workflow Executions REST API (v1) on aiohttp, backed by the local engine.

Paths follow the real services: /v1/projects/{project}/locations/{location}/workflows[/{id}[/executions[/{id}]]],
`:cancel`, `/callbacks` and the callback endpoints themselves. Errors use Google's JSON error shape.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .engine import Execution, Program, deploy, error_context, error_payload, internal_error
from .errors import DeploymentError, WorkflowError
from .runtime import Services, callback_payload
from .values import from_json_text, to_json_text

API_PREFIX = "/v1/projects/{project}/locations/{location}"
ACTIVE, SUCCEEDED, FAILED, CANCELLED = "ACTIVE", "SUCCEEDED", "FAILED", "CANCELLED"
ARGUMENT_LIMIT = 32 * 1024
# Execution.CallLogLevel values of the REST reference.
CALL_LOG_LEVELS = ("CALL_LOG_LEVEL_UNSPECIFIED", "LOG_ALL_CALLS", "LOG_ERRORS_ONLY", "LOG_NONE")


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    """An API failure rendered as {"error": {"code", "message", "status"}}."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return web.json_response({"error": {"code": self.code, "message": self.message, "status": self.status}},
                                 status=self.code)


@dataclass
class WorkflowRecord:
    workflow_id: str
    source: str
    program: Program
    env_vars: dict[str, str]
    revision: int
    revision_id: str
    created: float
    updated: float
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def resource(self, project: str, location: str) -> dict[str, Any]:
        return {
            "name": f"projects/{project}/locations/{location}/workflows/{self.workflow_id}",
            "description": self.description,
            "state": "ACTIVE",
            "revisionId": self.revision_id,
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(self.updated),
            "revisionCreateTime": rfc3339(self.updated),
            "labels": self.labels,
            "sourceContents": self.source,
            "userEnvVars": self.env_vars,
            "callLogLevel": "CALL_LOG_LEVEL_UNSPECIFIED",
        }


@dataclass
class ExecutionRecord:
    execution_id: str
    name: str
    workflow_id: str
    revision_id: str
    argument: str
    execution: Execution
    start: float
    state: str = ACTIVE
    end: float | None = None
    result: str | None = None
    error: dict[str, Any] | None = None
    task: asyncio.Task | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    call_log_level: str = "CALL_LOG_LEVEL_UNSPECIFIED"
    labels: dict[str, str] | None = None
    error_exc: WorkflowError | None = None

    def _current_steps(self) -> list[dict[str, str]]:
        # REST reference, Execution.status.currentSteps: the currently executing step or, once the execution
        # has succeeded or failed, "the last attempted or executed step"; a failure names the failing step.
        loc = getattr(self.error_exc, "wf_location", None) if self.error_exc is not None else None
        if loc is not None:
            return [{"routine": loc[0], "step": loc[1]}]
        current = self.execution.current_step
        return [{"routine": current[0], "step": current[1]}] if current else []

    def resource(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "createTime": rfc3339(self.start),
            "startTime": rfc3339(self.start),
            "state": self.state,
            "argument": self.argument,
            "workflowRevisionId": self.revision_id,
            "callLogLevel": self.call_log_level,
            "status": {"currentSteps": self._current_steps()},
        }
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.end is not None:
            out["endTime"] = rfc3339(self.end)
            out["duration"] = f"{self.end - self.start:.6f}s"
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


class WorkflowService:
    """Deployed workflows and their executions; one asyncio task per execution."""

    def __init__(self, base_url: str | None = None):
        self.services = Services(base_url)
        self.workflows: dict[str, WorkflowRecord] = {}
        self.executions: dict[str, ExecutionRecord] = {}

    # ------------------------------------------------------------------ workflows
    def deploy(self, workflow_id: str, source: str, env_vars: dict[str, str] | None = None,
               description: str = "", labels: dict[str, str] | None = None) -> WorkflowRecord:
        """Deploy (or redeploy as a new revision); DeploymentError if the source is invalid."""
        program = deploy(source)
        now = time.time()
        old = self.workflows.get(workflow_id)
        revision = old.revision + 1 if old else 1
        record = WorkflowRecord(
            workflow_id=workflow_id, source=source, program=program, env_vars=dict(env_vars or {}),
            revision=revision, revision_id=f"{revision:06d}-{secrets.token_hex(2)}",
            created=old.created if old else now, updated=now, description=description,
            labels=dict(labels or {}),
        )
        self.workflows[workflow_id] = record
        return record

    def deploy_directory(self, directory: str | Path) -> list[str]:
        """Deploy every NAME.workflows.yaml in a folder under NAME."""
        names = []
        for path in sorted(Path(directory).glob("*.workflows.yaml")):
            name = path.name[: -len(".workflows.yaml")]
            try:
                self.deploy(name, path.read_text(encoding="utf-8"))
            except DeploymentError as exc:
                raise DeploymentError(f"{path.name}: {exc}") from None
            names.append(name)
        return names

    # ------------------------------------------------------------------ executions
    def start(self, workflow_id: str, argument: Any = None, project: str = "local", location: str = "local",
              argument_text: str | None = None) -> ExecutionRecord:
        wf = self.workflows.get(workflow_id)
        if wf is None:
            raise ApiError(404, "NOT_FOUND", f"Resource 'projects/{project}/locations/{location}/workflows/"
                                             f"{workflow_id}' was not found")
        execution_id = str(uuid.uuid4())
        name = f"projects/{project}/locations/{location}/workflows/{workflow_id}/executions/{execution_id}"
        env = dict(wf.env_vars)
        env.update({
            "GOOGLE_CLOUD_PROJECT_ID": project,
            "GOOGLE_CLOUD_LOCATION": location,
            "GOOGLE_CLOUD_WORKFLOW_ID": workflow_id,
            "GOOGLE_CLOUD_WORKFLOW_REVISION_ID": wf.revision_id,
            "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": execution_id,
        })
        ex = Execution(wf.program, env=env, execution_id=execution_id, services=self.services,
                       workflow_name=workflow_id)
        ex.resource_name = name  # type: ignore[attr-defined]
        text = argument_text if argument_text is not None else (
            to_json_text(argument) if argument is not None else "")
        record = ExecutionRecord(execution_id, name, workflow_id, wf.revision_id, text, ex, time.time())
        self.executions[execution_id] = record
        record.task = asyncio.get_running_loop().create_task(self._run(record, argument))
        return record

    async def _run(self, record: ExecutionRecord, argument: Any) -> None:
        try:
            result = await record.execution.run(argument)
            record.result = to_json_text(result)
            record.state = SUCCEEDED
        except asyncio.CancelledError:
            record.state = CANCELLED
        except WorkflowError as exc:
            record.state = FAILED
            record.error = _error_resource(exc)
            record.error_exc = exc
        except Exception as exc:  # a bug must fail the execution, not the server
            record.state = FAILED
            record.error = _error_resource(internal_error(exc))
        finally:
            record.end = time.time()
            record.done.set()
            self._drop_callbacks(record)

    def _drop_callbacks(self, record: ExecutionRecord) -> None:
        for cb in record.execution.callbacks.values():
            for fut in cb.waiters:
                if not fut.done():
                    fut.cancel()

    def cancel(self, execution_id: str) -> ExecutionRecord:
        record = self.get_execution(execution_id)
        if record.state != ACTIVE:
            raise ApiError(400, "FAILED_PRECONDITION", f"Execution {execution_id} is not ACTIVE (state {record.state})")
        if record.task is not None:
            record.task.cancel()
        record.state = CANCELLED
        return record

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        record = self.executions.get(execution_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", f"Execution '{execution_id}' was not found")
        return record

    async def close(self) -> None:
        for record in self.executions.values():
            if record.task is not None and not record.task.done():
                record.task.cancel()
        tasks = [r.task for r in self.executions.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.services.close()


def _error_resource(exc: WorkflowError) -> dict[str, Any]:
    out: dict[str, Any] = {"payload": error_payload(exc.value), "context": error_context(exc)}
    loc = getattr(exc, "wf_location", None)
    if loc:
        routine, step, line = loc
        element: dict[str, Any] = {"step": step, "routine": routine}
        if line is not None:
            element["position"] = {"line": str(line), "column": "1", "length": "0"}
        out["stackTrace"] = {"elements": [element]}
    return out


# ---------------------------------------------------------------------------------------------- HTTP


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "request body must be a JSON object")
    return data


def _operation(project: str, location: str, verb: str, target: str, response: dict[str, Any] | None) -> dict:
    now = rfc3339(time.time())
    op: dict[str, Any] = {
        "name": f"projects/{project}/locations/{location}/operations/operation-{uuid.uuid4().hex}",
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.workflows.v1.OperationMetadata",
            "createTime": now, "endTime": now, "target": target, "verb": verb, "apiVersion": "v1",
        },
        "done": True,
    }
    op["response"] = dict(response or {"@type": "type.googleapis.com/google.protobuf.Empty"})
    if response is not None:
        op["response"]["@type"] = "type.googleapis.com/google.cloud.workflows.v1.Workflow"
    return op


# What one callback request may carry (what await_callback hands the workflow must also fit its
# 512 KB of variables; a body over this is refused before the execution sees it).
CALLBACK_BODY_LIMIT = 1024 * 1024


def build_app(service: WorkflowService) -> web.Application:
    """The aiohttp application serving the REST API over `service`."""

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            if exc.status == 404:
                return ApiError(404, "NOT_FOUND", f"no such resource: {request.path}").response()
            if exc.status == 405:
                return ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} not allowed on {request.path}").response()
            raise
        except Exception as exc:  # never a traceback to the caller
            return ApiError(500, "INTERNAL", f"{type(exc).__name__}: {exc}").response()

    app = web.Application(middlewares=[errors], client_max_size=4 * 1024 * 1024)

    def names(request: web.Request) -> tuple[str, str]:
        return request.match_info["project"], request.match_info["location"]

    def workflow(request: web.Request) -> WorkflowRecord:
        project, location = names(request)
        wf_id = request.match_info["workflow"]
        wf = service.workflows.get(wf_id)
        if wf is None:
            raise ApiError(404, "NOT_FOUND",
                           f"Resource 'projects/{project}/locations/{location}/workflows/{wf_id}' was not found")
        return wf

    def execution(request: web.Request) -> ExecutionRecord:
        wf = workflow(request)
        record = service.get_execution(request.match_info["execution"])
        if record.workflow_id != wf.workflow_id:
            raise ApiError(404, "NOT_FOUND", f"Execution '{record.execution_id}' was not found")
        return record

    def _deploy(workflow_id: str, body: dict[str, Any]) -> WorkflowRecord:
        source = body.get("sourceContents")
        if not isinstance(source, str) or not source.strip():
            raise ApiError(400, "INVALID_ARGUMENT", "sourceContents: a workflow source is required")
        env = body.get("userEnvVars") or {}
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ApiError(400, "INVALID_ARGUMENT", "userEnvVars must map names to strings")
        try:
            return service.deploy(workflow_id, source, env, body.get("description", ""), body.get("labels"))
        except DeploymentError as exc:
            raise ApiError(400, "INVALID_ARGUMENT", f"Workflow failed to deploy: {exc}") from None

    async def create_workflow(request: web.Request) -> web.Response:
        project, location = names(request)
        wf_id = request.query.get("workflowId")
        if not wf_id:
            raise ApiError(400, "INVALID_ARGUMENT", "workflowId query parameter is required")
        if wf_id in service.workflows:
            raise ApiError(409, "ALREADY_EXISTS",
                           f"Resource 'projects/{project}/locations/{location}/workflows/{wf_id}' already exists")
        record = _deploy(wf_id, await _json_body(request))
        target = f"projects/{project}/locations/{location}/workflows/{wf_id}"
        return web.json_response(_operation(project, location, "create", target, record.resource(project, location)))

    async def patch_workflow(request: web.Request) -> web.Response:
        project, location = names(request)
        wf = workflow(request)
        body = await _json_body(request)
        merged = {"sourceContents": wf.source, "userEnvVars": wf.env_vars, "description": wf.description,
                  "labels": wf.labels}
        merged.update({k: v for k, v in body.items() if v is not None})
        record = _deploy(wf.workflow_id, merged)
        target = f"projects/{project}/locations/{location}/workflows/{wf.workflow_id}"
        return web.json_response(_operation(project, location, "update", target, record.resource(project, location)))

    async def get_workflow(request: web.Request) -> web.Response:
        project, location = names(request)
        return web.json_response(workflow(request).resource(project, location))

    async def list_workflows(request: web.Request) -> web.Response:
        project, location = names(request)
        return web.json_response({"workflows": [w.resource(project, location) for w in service.workflows.values()]})

    async def delete_workflow(request: web.Request) -> web.Response:
        project, location = names(request)
        wf = workflow(request)
        del service.workflows[wf.workflow_id]
        target = f"projects/{project}/locations/{location}/workflows/{wf.workflow_id}"
        return web.json_response(_operation(project, location, "delete", target, None))

    async def create_execution(request: web.Request) -> web.Response:
        project, location = names(request)
        wf = workflow(request)
        body = await _json_body(request)
        text = body.get("argument")
        argument: Any = None
        if text not in (None, ""):
            if not isinstance(text, str):
                raise ApiError(400, "INVALID_ARGUMENT", "argument must be a JSON-encoded string")
            if len(text.encode("utf-8")) > ARGUMENT_LIMIT:
                raise ApiError(400, "INVALID_ARGUMENT",
                               f"argument is {len(text.encode('utf-8'))} bytes; the limit is {ARGUMENT_LIMIT} bytes")
            try:
                argument = from_json_text(text)
            except WorkflowError as exc:
                raise ApiError(400, "INVALID_ARGUMENT", f"argument is not valid JSON: {exc}") from None
        level = body.get("callLogLevel", "CALL_LOG_LEVEL_UNSPECIFIED")
        if level not in CALL_LOG_LEVELS:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f"callLogLevel must be one of {', '.join(CALL_LOG_LEVELS)}, got {level!r}")
        labels = body.get("labels")
        if labels is not None and (not isinstance(labels, dict)
                                   or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
            raise ApiError(400, "INVALID_ARGUMENT", "labels must map strings to strings")
        record = service.start(wf.workflow_id, argument, project, location, argument_text=text or "")
        record.call_log_level = level
        record.labels = labels
        return web.json_response(record.resource())

    async def get_execution(request: web.Request) -> web.Response:
        return web.json_response(execution(request).resource())

    async def list_executions(request: web.Request) -> web.Response:
        wf = workflow(request)
        records = [r.resource() for r in service.executions.values() if r.workflow_id == wf.workflow_id]
        records.reverse()  # newest first, like the service
        return web.json_response({"executions": records})

    async def execution_action(request: web.Request) -> web.Response:
        raw = request.match_info["execution"]
        if not raw.endswith(":cancel"):
            raise ApiError(404, "NOT_FOUND", f"no such method: {raw}")
        wf = workflow(request)
        record = service.get_execution(raw[: -len(":cancel")])
        if record.workflow_id != wf.workflow_id:
            raise ApiError(404, "NOT_FOUND", f"Execution '{record.execution_id}' was not found")
        service.cancel(record.execution_id)
        await asyncio.sleep(0)
        return web.json_response(record.resource())

    async def list_callbacks(request: web.Request) -> web.Response:
        record = execution(request)
        return web.json_response({"callbacks": [cb.describe() for cb in record.execution.callbacks.values()]})

    async def callback(request: web.Request) -> web.Response:
        cb = service.services.callbacks.get(request.match_info["callback"])
        if cb is None or cb.execution.id != request.match_info["execution"]:
            raise ApiError(404, "NOT_FOUND", f"Callback '{request.match_info['callback']}' was not found")
        if request.method != cb.method:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f"callback expects HTTP method {cb.method}, got {request.method}")
        record = service.executions.get(cb.execution.id)
        if record is None or record.state != ACTIVE or cb.execution.finished:
            raise ApiError(400, "FAILED_PRECONDITION",
                           "the execution is no longer ACTIVE; the callback is not awaited anymore")
        if (request.content_length or 0) > CALLBACK_BODY_LIMIT:
            raise ApiError(413, "INVALID_ARGUMENT", f"a callback body is limited to {CALLBACK_BODY_LIMIT} bytes")
        body = await request.content.read(CALLBACK_BODY_LIMIT + 1)
        if len(body) > CALLBACK_BODY_LIMIT:
            raise ApiError(413, "INVALID_ARGUMENT", f"a callback body is limited to {CALLBACK_BODY_LIMIT} bytes")
        query: dict[str, list[str]] = {}
        for k, v in request.query.items():
            query.setdefault(k, []).append(v)
        headers = {str(k): str(v) for k, v in request.headers.items()}
        delivered = cb.deliver(callback_payload(request.method, request.path_qs, query, headers, body,
                                                request.headers.get("Content-Type"), time.time()))
        if not delivered:
            raise ApiError(429, "RESOURCE_EXHAUSTED",
                           "this callback already holds answers nobody has read; try again after it is awaited")
        return web.json_response({})

    base = API_PREFIX + "/workflows"
    app.router.add_post(base, create_workflow)
    app.router.add_get(base, list_workflows)
    app.router.add_get(base + "/{workflow}", get_workflow)
    app.router.add_patch(base + "/{workflow}", patch_workflow)
    app.router.add_delete(base + "/{workflow}", delete_workflow)
    app.router.add_post(base + "/{workflow}/executions", create_execution)
    app.router.add_get(base + "/{workflow}/executions", list_executions)
    app.router.add_get(base + "/{workflow}/executions/{execution}", get_execution)
    app.router.add_post(base + "/{workflow}/executions/{execution}", execution_action)
    app.router.add_get(base + "/{workflow}/executions/{execution}/callbacks", list_callbacks)
    app.router.add_route("*", base + "/{workflow}/executions/{execution}/callbacks/{callback}", callback)
    return app


class WorkflowsServer:
    """Start/stop the REST server inside a running event loop (tests, the `serve` and `run` commands)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, source_dir: str | Path | None = None):
        self.host = host
        self.port = port
        self.service = WorkflowService()
        self.source_dir = source_dir
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> "WorkflowsServer":
        if self.source_dir is not None:
            self.service.deploy_directory(self.source_dir)
        self._runner = web.AppRunner(build_app(self.service), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.service.services.base_url = self.base_url
        return self

    async def stop(self) -> None:
        await self.service.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_forever(host: str, port: int, source_dir: str | None) -> None:
    server = WorkflowsServer(host, port, source_dir)
    await server.start()
    print(f"workflows server listening on {server.base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
