"""Starting, reading and cancelling Cloud Workflows executions through the official client library.

`google-cloud-workflows`' `executions_v1` client (gRPC) is used exactly as in the cloud; locally
`WORKFLOWS_GRPC_EMULATOR_HOST` (host:port) points it at the project's own engine over an insecure channel with
anonymous credentials. Without it, `WORKFLOWS_EMULATOR_HOST` (the engine's REST host:port) implies the engine's
default gRPC port, the next one up. In the cloud the client finds the function's service account itself.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any

from ..errors import NotFound, UpstreamUnavailable

# Errors worth a clear 503 (the service is unreachable or refused): everything the client library raises.
_TIMEOUT_S = 30.0


def emulator_grpc_host() -> str | None:
    """host:port of the local engine's gRPC API, or None in the cloud."""
    explicit = os.environ.get("WORKFLOWS_GRPC_EMULATOR_HOST")
    if explicit:
        return explicit
    rest = os.environ.get("WORKFLOWS_EMULATOR_HOST")
    if not rest:
        return None
    host, _, port = rest.rpartition(":")
    return f"{host}:{int(port) + 1}"


@functools.lru_cache(maxsize=4)
def _client(grpc_host: str | None) -> Any:
    # Made once per process (and per endpoint): a client holds a channel and its connection.
    from google.cloud.workflows import executions_v1

    if grpc_host is None:
        return executions_v1.ExecutionsClient()
    import grpc
    from google.cloud.workflows.executions_v1.services.executions.transports import ExecutionsGrpcTransport

    return executions_v1.ExecutionsClient(transport=ExecutionsGrpcTransport(channel=grpc.insecure_channel(grpc_host)))


def client() -> Any:
    return _client(emulator_grpc_host())


def workflow_name() -> str:
    name = os.environ.get("MANGAFLOW_WORKFLOW")
    if name:
        return name
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "mangaflow-local")
    location = os.environ.get("MANGAFLOW_REGION", "asia-northeast1")
    return f"projects/{project}/locations/{location}/workflows/manga_pipeline"


def _resource(execution: Any) -> dict[str, Any]:
    """The fields callers use, as plain values (the REST resource's names)."""
    out: dict[str, Any] = {"name": execution.name, "state": execution.state.name, "argument": execution.argument,
                           "workflowRevisionId": execution.workflow_revision_id}
    if execution.result:
        out["result"] = execution.result
    if execution.error and (execution.error.payload or execution.error.context):
        out["error"] = {"payload": execution.error.payload, "context": execution.error.context}
    return out


def _call(what: str, method: Any, **request: Any) -> Any:
    from google.api_core import exceptions

    try:
        return method(**request, timeout=_TIMEOUT_S)
    except exceptions.NotFound as err:
        raise NotFound(f"the Workflows service does not know {what}: {err.message}") from None
    except exceptions.GoogleAPICallError as err:
        raise UpstreamUnavailable(f"the Workflows service refused to {what} ({err.code.name if err.code else err})") \
            from None
    except exceptions.RetryError as err:
        raise UpstreamUnavailable(f"the Workflows service is unreachable ({err.message})") from None


def start_execution(argument: dict[str, Any]) -> dict[str, Any]:
    """Create an execution of the pipeline with `argument`; returns {name, state, ...}."""
    from google.cloud.workflows import executions_v1

    execution = executions_v1.Execution(argument=json.dumps(argument))
    made = _call("start the execution", client().create_execution, parent=workflow_name(), execution=execution)
    return _resource(made)


def get_execution(name: str) -> dict[str, Any]:
    return _resource(_call(f"read {name}", client().get_execution, name=name))


def cancel_execution(name: str) -> dict[str, Any]:
    return _resource(_call(f"cancel {name}", client().cancel_execution, name=name))
