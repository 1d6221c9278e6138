"""The Workflow Executions API over gRPC, as `google-cloud-workflows`' `executions_v1` client speaks it.

The library's executions client has only a gRPC transport, so the engine serves the same service
(google.cloud.workflows.executions.v1.Executions) beside its REST API. Message types and their wire format come
from the library itself (its proto-plus types); only the handlers are ours, on the engine's event loop.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Awaitable, Callable

import grpc
from google.cloud.workflows.executions_v1.types import executions as types

from .service import ApiError, ExecutionRecord, WorkflowService, parse_argument

# The service's full name, from the library's own descriptor: "google.cloud.workflows.executions.v1.Executions".
SERVICE = f"{types.Execution.pb().DESCRIPTOR.file.package}.Executions"
_WORKFLOW = re.compile(r"^projects/([^/]+)/locations/([^/]+)/workflows/([^/]+)$")
_EXECUTION = re.compile(r"^projects/([^/]+)/locations/([^/]+)/workflows/([^/]+)/executions/([^/]+)$")
# ListExecutions page sizes of the reference: at most 1000 for the BASIC view, 100 for FULL; 100 by default.
_PAGE_LIMITS = {types.ExecutionView.BASIC: 1000, types.ExecutionView.FULL: 100}
_STATUS = {"INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT, "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
           "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
           "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS, "UNIMPLEMENTED": grpc.StatusCode.UNIMPLEMENTED}


def _timestamp(ts: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)


def to_message(record: ExecutionRecord, view: int = types.ExecutionView.FULL) -> types.Execution:
    """The Execution message of a record; the BASIC view carries only the metadata the reference lists."""
    message = types.Execution(name=record.name, state=types.Execution.State[record.state],
                              workflow_revision_id=record.revision_id, start_time=_timestamp(record.start))
    if record.end is not None:
        message.end_time = _timestamp(record.end)
        message.duration = _dt.timedelta(seconds=record.end - record.start)
    if view == types.ExecutionView.BASIC:
        return message
    message.argument = record.argument
    message.call_log_level = types.Execution.CallLogLevel[record.call_log_level]
    if record.labels:
        message.labels = dict(record.labels)
    message.status = types.Execution.Status(current_steps=[
        types.Execution.Status.Step(routine=s["routine"], step=s["step"]) for s in record.current_steps()])
    if record.result is not None:
        message.result = record.result
    if record.error is not None:
        message.error = _error(record.error)
    return message


def _error(error: dict[str, Any]) -> types.Execution.Error:
    elements = []
    for element in (error.get("stackTrace") or {}).get("elements", []):
        position = element.get("position")
        elements.append(types.Execution.StackTraceElement(
            step=element.get("step", ""), routine=element.get("routine", ""),
            position=types.Execution.StackTraceElement.Position(
                line=int(position["line"]), column=int(position["column"]), length=int(position["length"]))
            if position else None))
    return types.Execution.Error(payload=error.get("payload", ""), context=error.get("context", ""),
                                 stack_trace=types.Execution.StackTrace(elements=elements))


class ExecutionsApi:
    """The four RPCs of the Executions service over the engine's WorkflowService."""

    def __init__(self, service: WorkflowService):
        self.service = service

    def _record(self, name: str) -> ExecutionRecord:
        m = _EXECUTION.match(name)
        if m is None:
            raise ApiError(400, "INVALID_ARGUMENT", f"name must be projects/*/locations/*/workflows/*/executions/*, "
                                                    f"got {name!r}")
        record = self.service.get_execution(m.group(4))
        if record.workflow_id != m.group(3):
            raise ApiError(404, "NOT_FOUND", f"Execution '{name}' was not found")
        return record

    def _workflow(self, parent: str) -> tuple[str, str, str]:
        m = _WORKFLOW.match(parent)
        if m is None:
            raise ApiError(400, "INVALID_ARGUMENT", f"parent must be projects/*/locations/*/workflows/*, got {parent!r}")
        project, location, workflow_id = m.groups()
        if workflow_id not in self.service.workflows:
            raise ApiError(404, "NOT_FOUND", f"Resource '{parent}' was not found")
        return project, location, workflow_id

    async def create_execution(self, request: types.CreateExecutionRequest) -> types.Execution:
        project, location, workflow_id = self._workflow(request.parent)
        execution = request.execution
        argument = parse_argument(execution.argument)
        labels = dict(execution.labels) or None
        record = self.service.start(workflow_id, argument, project, location, argument_text=execution.argument or "",
                                    call_log_level=types.Execution.CallLogLevel(execution.call_log_level).name,
                                    labels=labels)
        return to_message(record)

    async def get_execution(self, request: types.GetExecutionRequest) -> types.Execution:
        view = request.view or types.ExecutionView.FULL  # the reference: GetExecution defaults to FULL
        return to_message(self._record(request.name), view)

    async def cancel_execution(self, request: types.CancelExecutionRequest) -> types.Execution:
        record = self._record(request.name)
        self.service.cancel(record.execution_id)
        return to_message(record)

    async def list_executions(self, request: types.ListExecutionsRequest) -> types.ListExecutionsResponse:
        _, _, workflow_id = self._workflow(request.parent)
        if request.filter or request.order_by not in ("", "startTime desc", "createTime desc"):
            raise ApiError(400, "INVALID_ARGUMENT", "filter and order_by are not supported by the local engine; "
                                                    "executions are listed newest first")
        view = request.view or types.ExecutionView.BASIC  # ListExecutions defaults to BASIC
        limit = _PAGE_LIMITS[view]
        size = request.page_size or 100
        if size < 0 or size > limit:
            raise ApiError(400, "INVALID_ARGUMENT", f"page_size must be between 1 and {limit} for this view, got {size}")
        try:
            offset = int(request.page_token or "0")
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", f"page_token {request.page_token!r} is not one this API issued") \
                from None
        records = [r for r in self.service.executions.values() if r.workflow_id == workflow_id]
        records.reverse()  # newest first, like the service
        page = records[offset:offset + size]
        token = str(offset + size) if offset + size < len(records) else ""
        return types.ListExecutionsResponse(executions=[to_message(r, view) for r in page], next_page_token=token)


def _handler(method: Callable[[Any], Awaitable[Any]], request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(request)
        except ApiError as exc:
            await context.abort(_STATUS.get(exc.status, grpc.StatusCode.INTERNAL), exc.message)
        except Exception as exc:  # never a traceback to the caller
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=request_type.deserialize,
                                               response_serializer=response_type.serialize)


def generic_handler(service: WorkflowService) -> grpc.GenericRpcHandler:
    api = ExecutionsApi(service)
    return grpc.method_handlers_generic_handler(SERVICE, {
        "CreateExecution": _handler(api.create_execution, types.CreateExecutionRequest, types.Execution),
        "GetExecution": _handler(api.get_execution, types.GetExecutionRequest, types.Execution),
        "CancelExecution": _handler(api.cancel_execution, types.CancelExecutionRequest, types.Execution),
        "ListExecutions": _handler(api.list_executions, types.ListExecutionsRequest, types.ListExecutionsResponse),
    })


async def start_grpc(service: WorkflowService, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Serve the Executions API on host:port (0: any free port); returns the server and its port."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((generic_handler(service),))
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise OSError(f"gRPC port {port} on {host} is not free ({exc})") from None
    if not bound:
        raise OSError(f"gRPC port {port} on {host} is not free")
    await server.start()
    return server, bound
