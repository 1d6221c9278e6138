"""Starting, reading and cancelling Cloud Workflows executions through the official client library.

`google-cloud-workflows`' `executions_v1` client (gRPC) is used exactly as in the cloud; locally
`WORKFLOWS_GRPC_EMULATOR_HOST` (host:port) points it at the project's own engine over an insecure channel with
anonymous credentials. Without it, `WORKFLOWS_EMULATOR_HOST` (the engine's REST host:port) implies the engine's
default gRPC port, the next one up. In the cloud the client finds the function's service account itself.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any

from ..config import settings
from ..errors import NotFound, UpstreamUnavailable

_TIMEOUT_S = 30.0
CLOUD_ENDPOINT = "https://workflowexecutions.googleapis.com"


def emulator_grpc_host() -> str | None:
    """host:port of the local engine's gRPC API, or None in the cloud."""
    config = settings()
    if config.workflows_grpc_emulator_host:
        return config.workflows_grpc_emulator_host
    rest = config.workflows_emulator_host
    if not rest:
        return None
    host, _, port = rest.rpartition(":")
    return f"{host}:{int(port) + 1}"


def is_local() -> bool:
    """True when a local engine stands in for Cloud Workflows (WORKFLOWS_EMULATOR_HOST is set)."""
    return bool(settings().workflows_emulator_host)


def is_callback_url(url: str) -> bool:
    """A callback endpoint of an execution of this very workflow, on the Workflows service itself
    (the cloud endpoint, or the local engine): nothing else may receive a gate's credentials."""
    emulator = settings().workflows_emulator_host
    base = f"http://{emulator}" if emulator else CLOUD_ENDPOINT
    _, _, location, _, workflow = workflow_name().split("/")[1:6]
    pattern = (re.escape(base) + r"/v1/projects/[A-Za-z0-9_.:-]+/locations/" + re.escape(location) + "/workflows/"
               + re.escape(workflow) + r"/executions/[A-Za-z0-9_-]{1,128}/callbacks/[A-Za-z0-9_-]{1,128}")
    return isinstance(url, str) and re.fullmatch(pattern, url, flags=re.ASCII) is not None


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
    """projects/{project}/locations/{region}/workflows/manga_pipeline, or MANGAFLOW_WORKFLOW."""
    return settings().workflow_name


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


def execution_state(name: str) -> str | None:
    """ACTIVE, SUCCEEDED, FAILED, CANCELLED ... or None when the service no longer knows it.
    An unreachable service counts as ACTIVE: nothing is reclaimed on a guess."""
    try:
        return str(get_execution(name)["state"])
    except NotFound:
        return None
    except UpstreamUnavailable:
        return "ACTIVE"
