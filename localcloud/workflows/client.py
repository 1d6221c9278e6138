"""The engine (or the cloud) driven through Google's own client library, `google-cloud-workflows`.

Deploying goes through `workflows_v1` (REST transport), executions through `executions_v1` (gRPC, its only
transport), exactly as against Cloud Workflows; only the endpoints and credentials differ. Locally
WORKFLOWS_EMULATOR_HOST (REST host:port) and WORKFLOWS_GRPC_EMULATOR_HOST (gRPC host:port; default: the REST
port + 1, the engine's own default) point at the engine, with an insecure channel and anonymous credentials.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Iterable

import grpc
import requests
from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.workflows import executions_v1
from google.cloud.workflows.executions_v1.services.executions.transports import ExecutionsGrpcTransport
from google.cloud.workflows_v1 import WorkflowsClient, types as workflow_types

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
Execution = executions_v1.Execution


def grpc_host(rest_host: str | None = None) -> str | None:
    """The engine's gRPC host:port from the environment (or next to its REST port)."""
    explicit = os.environ.get("WORKFLOWS_GRPC_EMULATOR_HOST")
    if explicit:
        return explicit
    rest = rest_host or os.environ.get("WORKFLOWS_EMULATOR_HOST")
    if not rest:
        return None
    host, _, port = rest.rpartition(":")
    return f"{host}:{int(port) + 1}"


@dataclass
class EngineClient:
    """The two official clients for one project and location, plus the REST-only callbacks listing."""

    project: str
    location: str
    workflows: WorkflowsClient
    executions: executions_v1.ExecutionsClient
    rest_host: str | None = None

    @classmethod
    def local(cls, rest_host: str, grpc_address: str | None = None, project: str = "local",
              location: str = "local") -> "EngineClient":
        """Clients for the engine at rest_host (and grpc_address): insecure, anonymous."""
        workflows = WorkflowsClient(transport="rest", credentials=AnonymousCredentials(),
                                    client_options={"api_endpoint": f"http://{rest_host}"})
        channel = grpc.insecure_channel(grpc_address or grpc_host(rest_host))
        executions = executions_v1.ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))
        return cls(project, location, workflows, executions, rest_host)

    @classmethod
    def from_env(cls, project: str | None = None, location: str | None = None) -> "EngineClient":
        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT", "local")
        location = location or os.environ.get("WORKFLOWS_LOCATION", os.environ.get("GOOGLE_CLOUD_REGION", "local"))
        rest = os.environ.get("WORKFLOWS_EMULATOR_HOST")
        if rest:
            return cls.local(rest, grpc_host(rest), project, location)
        return cls(project, location, WorkflowsClient(), executions_v1.ExecutionsClient())

    # ------------------------------------------------------------------ names
    def workflow_name(self, workflow: str) -> str:
        if workflow.startswith("projects/"):
            return workflow
        return f"projects/{self.project}/locations/{self.location}/workflows/{workflow}"

    # ------------------------------------------------------------------ workflows_v1
    def deploy_workflow(self, workflow_id: str, source: str, env_vars: dict[str, str] | None = None,
                        timeout: float = 60) -> workflow_types.Workflow:
        """Create the workflow, or update it (a new revision) when it exists; waits for the operation."""
        workflow = workflow_types.Workflow(name=self.workflow_name(workflow_id), source_contents=source,
                                           user_env_vars=env_vars or {})
        try:
            operation = self.workflows.create_workflow(
                parent=f"projects/{self.project}/locations/{self.location}", workflow=workflow, workflow_id=workflow_id)
        except api_exceptions.Conflict:  # 409 ALREADY_EXISTS
            operation = self.workflows.update_workflow(workflow=workflow)
        return operation.result(timeout=timeout)

    # ------------------------------------------------------------------ executions_v1
    def create_execution(self, workflow: str, argument: Any = None) -> Execution:
        import json

        execution = Execution(argument=json.dumps(argument)) if argument is not None else Execution()
        return self.executions.create_execution(parent=self.workflow_name(workflow), execution=execution)

    def get_execution(self, execution: str | Execution) -> Execution:
        return self.executions.get_execution(name=_name(execution))

    def cancel_execution(self, execution: str | Execution) -> Execution:
        return self.executions.cancel_execution(name=_name(execution))

    def wait_for(self, execution: str | Execution, states: Iterable[str] = TERMINAL_STATES, timeout: float = 60.0,
                 interval: float = 0.02) -> Execution:
        """Poll until the execution's state is one of `states`; TimeoutError otherwise."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_execution(execution)
            if current.state.name in wanted:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {_name(execution)} still {current.state.name} after {timeout}s")
            time.sleep(interval)

    # ------------------------------------------------------------------ REST only
    def list_callbacks(self, execution: str | Execution) -> list[dict[str, Any]]:
        """executions.callbacks.list: in the REST API, not in the client library."""
        if self.rest_host is None:
            raise RuntimeError("listing callbacks needs WORKFLOWS_EMULATOR_HOST (the library has no such call)")
        response = requests.get(f"http://{self.rest_host}/v1/{_name(execution)}/callbacks", timeout=30)
        response.raise_for_status()
        return response.json().get("callbacks", [])


def _name(execution: str | Execution) -> str:
    return execution if isinstance(execution, str) else execution.name


def _default() -> EngineClient:
    return EngineClient.from_env()


def create_execution(workflow: str, argument: Any = None) -> Execution:
    """Start an execution of `workflow` (an id or full resource name) with a JSON-able argument."""
    return _default().create_execution(workflow, argument)


def get_execution(execution: str | Execution) -> Execution:
    return _default().get_execution(execution)


def list_callbacks(execution: str | Execution) -> list[dict[str, Any]]:
    return _default().list_callbacks(execution)


def wait_for(execution: str | Execution, states: Iterable[str] = TERMINAL_STATES, timeout: float = 60.0) -> Execution:
    return _default().wait_for(execution, states, timeout)
