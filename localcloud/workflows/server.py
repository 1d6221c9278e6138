"""The Workflows and Workflow Executions REST API (v1) on aiohttp, and the server that also serves gRPC.

Paths follow the real services: /v1/projects/{project}/locations/{location}/workflows[/{id}[/executions[/{id}]]],
`:cancel`, `/callbacks` and the callback endpoints themselves. Errors use Google's JSON error shape. The
Executions API is also served over gRPC (grpc_api), as the official client library speaks only that.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import DeploymentError
from .journal import Journal
from .runtime import callback_payload
from .service import (ACTIVE, ARGUMENT_LIMIT, CALL_LOG_LEVELS, ApiError, ExecutionRecord, WorkflowRecord,
                      WorkflowService, parse_argument, rfc3339)

API_PREFIX = "/v1/projects/{project}/locations/{location}"
# Workflow.CallLogLevel / state enums as the REST transport of the client library may send them (numbers).
_WORKFLOW_CALL_LOG_LEVELS = {0: "CALL_LOG_LEVEL_UNSPECIFIED", 1: "LOG_ALL_CALLS", 2: "LOG_ERRORS_ONLY", 3: "LOG_NONE"}


def _error_response(exc: ApiError) -> web.Response:
    return web.json_response({"error": {"code": exc.code, "message": exc.message, "status": exc.status}},
                             status=exc.code)


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
            return _error_response(exc)
        except web.HTTPException as exc:
            if exc.status == 404:
                return _error_response(ApiError(404, "NOT_FOUND", f"no such resource: {request.path}"))
            if exc.status == 405:
                return _error_response(ApiError(405, "METHOD_NOT_ALLOWED",
                                                f"{request.method} not allowed on {request.path}"))
            raise
        except Exception as exc:  # never a traceback to the caller
            return _error_response(ApiError(500, "INTERNAL", f"{type(exc).__name__}: {exc}"))

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
        labels = body.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ApiError(400, "INVALID_ARGUMENT", "labels must map names to strings")
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise ApiError(400, "INVALID_ARGUMENT", "description must be a string")
        try:
            return service.deploy(workflow_id, source, env, description, labels)
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
        mask = [f.strip() for f in request.query.get("updateMask", "").split(",") if f.strip()]
        # The client library sends the whole Workflow with an updateMask; a bare REST PATCH sends only changes.
        merged.update({k: v for k, v in body.items() if v is not None and (not mask or k in mask)})
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
        service.delete(wf.workflow_id)
        target = f"projects/{project}/locations/{location}/workflows/{wf.workflow_id}"
        return web.json_response(_operation(project, location, "delete", target, None))

    async def create_execution(request: web.Request) -> web.Response:
        project, location = names(request)
        wf = workflow(request)
        body = await _json_body(request)
        text = body.get("argument")
        argument = parse_argument(text)
        level = body.get("callLogLevel", "CALL_LOG_LEVEL_UNSPECIFIED")
        if level not in CALL_LOG_LEVELS:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f"callLogLevel must be one of {', '.join(CALL_LOG_LEVELS)}, got {level!r}")
        labels = body.get("labels")
        if labels is not None and (not isinstance(labels, dict)
                                   or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
            raise ApiError(400, "INVALID_ARGUMENT", "labels must map strings to strings")
        record = service.start(wf.workflow_id, argument, project, location, argument_text=text or "",
                               call_log_level=level, labels=labels)
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
        if record is None or record.state != ACTIVE or cb.execution.finished or service.closing:
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
        delivered = service.services.receive(cb, callback_payload(request.method, request.path_qs, query, headers,
                                                                  body, request.headers.get("Content-Type"),
                                                                  time.time()))
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
    """Start/stop the REST (and optionally gRPC) server inside a running event loop.

    With `data_dir` every workflow and execution is journalled there and a restart resumes them; without it
    nothing is kept (the engine forgets everything when it stops).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, source_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, grpc_port: int | None = None):
        self.host = host
        self.port = port
        self.grpc_port = grpc_port
        self.journal = Journal(data_dir)
        self.service = WorkflowService(journal=self.journal)
        self.source_dir = source_dir
        self.resumed = 0
        self._runner: web.AppRunner | None = None
        self._grpc: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> "WorkflowsServer":
        self._runner = web.AppRunner(build_app(self.service), access_log=None)
        await self._runner.setup()
        # Callback URLs carry the base URL: with a fixed port the executions are restored (and their callbacks
        # registered again) before the first request can arrive.
        restored = bool(self.port)
        if restored:
            self.service.services.base_url = self.base_url
            self.resumed = self.service.restore()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.service.services.base_url = self.base_url
        if not restored:
            self.resumed = self.service.restore()
        if self.grpc_port is not None:
            from .grpc_api import start_grpc

            self._grpc, self.grpc_port = await start_grpc(self.service, self.host, self.grpc_port)
        if self.source_dir is not None:
            self.service.deploy_directory(self.source_dir)
        return self

    async def stop(self) -> None:
        await self.service.close()
        if self._grpc is not None:
            await self._grpc.stop(grace=1)
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.journal.close()


async def serve_forever(host: str, port: int, source_dir: str | None, data_dir: str | None = None,
                        grpc_port: int | None = None) -> None:
    server = WorkflowsServer(host, port, source_dir, data_dir, grpc_port)
    await server.start()
    where = f"journal in {data_dir}" if data_dir else "in memory only (no --data-dir: a restart forgets everything)"
    grpc = f", gRPC on {host}:{server.grpc_port}" if server.grpc_port else ""
    print(f"workflows server listening on {server.base_url}{grpc}; {where}; resumed {server.resumed} execution(s)",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


__all__ = ["ACTIVE", "ARGUMENT_LIMIT", "CALL_LOG_LEVELS", "ApiError", "ExecutionRecord", "WorkflowRecord",
           "WorkflowService", "WorkflowsServer", "build_app", "rfc3339", "serve_forever"]
