"""A small synchronous Workflow Executions client for project code.

With WORKFLOWS_EMULATOR_HOST=host:port set it talks to the local server; otherwise to
workflowexecutions.googleapis.com with an access token from google-auth (if installed).
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterable

REAL_ENDPOINT = "https://workflowexecutions.googleapis.com"
TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


class WorkflowsApiError(Exception):
    """A non-2xx answer from the API, with Google's error fields."""

    def __init__(self, code: int, status: str, message: str):
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message


@dataclass
class WorkflowsClient:
    project: str
    location: str
    endpoint: str
    timeout: float = 30.0

    @classmethod
    def from_env(cls, project: str | None = None, location: str | None = None) -> "WorkflowsClient":
        host = os.environ.get("WORKFLOWS_EMULATOR_HOST")
        endpoint = (host if host.startswith("http") else f"http://{host}") if host else REAL_ENDPOINT
        return cls(
            project=project or os.environ.get("GOOGLE_CLOUD_PROJECT", "local"),
            location=location or os.environ.get("WORKFLOWS_LOCATION", os.environ.get("GOOGLE_CLOUD_REGION", "local")),
            endpoint=endpoint.rstrip("/"),
        )

    # ------------------------------------------------------------------ plumbing
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.endpoint == REAL_ENDPOINT:
            try:
                import google.auth  # type: ignore[import-not-found]
                import google.auth.transport.requests  # type: ignore[import-not-found]
            except ImportError as exc:  # pragma: no cover - only against the real service
                raise RuntimeError("set WORKFLOWS_EMULATOR_HOST or install google-auth to reach the real API") from exc
            creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            creds.refresh(google.auth.transport.requests.Request())
            headers["Authorization"] = f"Bearer {creds.token}"
        return headers

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.endpoint}/v1/{path.lstrip('/')}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                err = json.loads(raw)["error"]
                raise WorkflowsApiError(int(err.get("code", exc.code)), err.get("status", ""), err.get("message", ""))
            except (ValueError, KeyError, TypeError):
                raise WorkflowsApiError(exc.code, "UNKNOWN", raw.decode("utf-8", "replace")) from None
        return json.loads(raw) if raw else {}

    def _workflow_path(self, workflow: str) -> str:
        if workflow.startswith("projects/"):
            return workflow
        return f"projects/{self.project}/locations/{self.location}/workflows/{workflow}"

    # ------------------------------------------------------------------ API
    def deploy_workflow(self, workflow_id: str, source: str, env_vars: dict[str, str] | None = None) -> dict:
        """Create the workflow, or patch it when it exists (the emulator answers synchronously)."""
        body = {"sourceContents": source, "userEnvVars": env_vars or {}}
        parent = f"projects/{self.project}/locations/{self.location}/workflows"
        try:
            return self.request("POST", f"{parent}?workflowId={workflow_id}", body)
        except WorkflowsApiError as exc:
            if exc.code != 409:
                raise
            return self.request("PATCH", f"{parent}/{workflow_id}", body)

    def create_execution(self, workflow: str, argument: Any = None) -> dict[str, Any]:
        body = {"argument": json.dumps(argument)} if argument is not None else {}
        return self.request("POST", f"{self._workflow_path(workflow)}/executions", body)

    def get_execution(self, execution: str | dict[str, Any]) -> dict[str, Any]:
        return self.request("GET", _name(execution))

    def cancel_execution(self, execution: str | dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"{_name(execution)}:cancel", {})

    def list_callbacks(self, execution: str | dict[str, Any]) -> list[dict[str, Any]]:
        return self.request("GET", f"{_name(execution)}/callbacks").get("callbacks", [])

    def wait_for(self, execution: str | dict[str, Any], states: Iterable[str] = TERMINAL_STATES,
                 timeout: float = 60.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll until the execution's state is one of `states`; TimeoutError otherwise."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_execution(execution)
            if current.get("state") in wanted:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {_name(execution)} still {current.get('state')} after {timeout}s")
            time.sleep(interval)


def _name(execution: str | dict[str, Any]) -> str:
    return execution["name"] if isinstance(execution, dict) else execution


def _default() -> WorkflowsClient:
    return WorkflowsClient.from_env()


def create_execution(workflow: str, argument: Any = None) -> dict[str, Any]:
    """Start an execution of `workflow` (an id or full resource name) with a JSON-able argument."""
    return _default().create_execution(workflow, argument)


def get_execution(execution: str | dict[str, Any]) -> dict[str, Any]:
    return _default().get_execution(execution)


def list_callbacks(execution: str | dict[str, Any]) -> list[dict[str, Any]]:
    return _default().list_callbacks(execution)


def wait_for(execution: str | dict[str, Any], states: Iterable[str] = TERMINAL_STATES,
             timeout: float = 60.0) -> dict[str, Any]:
    return _default().wait_for(execution, states, timeout)
