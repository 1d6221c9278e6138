"""Starting a Cloud Workflows execution: the REST v1 `workflowexecutions` API.

Locally `WORKFLOWS_EMULATOR_HOST` (host:port) points at the project's own engine and no
credentials are sent; in the cloud the call carries the function's service-account token.
"""
from __future__ import annotations

import json
import os
from typing import Any

import requests

from ..errors import UpstreamUnavailable

_SESSION = requests.Session()


def _base_and_headers() -> tuple[str, dict[str, str]]:
    emulator = os.environ.get("WORKFLOWS_EMULATOR_HOST")
    if emulator:
        return f"http://{emulator}/v1", {}
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    return "https://workflowexecutions.googleapis.com/v1", {"Authorization": f"Bearer {credentials.token}"}


def workflow_name() -> str:
    name = os.environ.get("MANGAFLOW_WORKFLOW")
    if name:
        return name
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "mangaflow-local")
    location = os.environ.get("MANGAFLOW_REGION", "asia-northeast1")
    return f"projects/{project}/locations/{location}/workflows/manga_pipeline"


def start_execution(argument: dict[str, Any]) -> dict[str, Any]:
    """Create an execution of the pipeline with `argument`; returns the execution resource."""
    base, headers = _base_and_headers()
    try:
        response = _SESSION.post(f"{base}/{workflow_name()}/executions", headers=headers, timeout=30,
                                 json={"argument": json.dumps(argument)})
    except requests.RequestException as err:
        raise UpstreamUnavailable(f"the Workflows service is unreachable ({err.__class__.__name__})") from None
    if response.status_code >= 300:
        raise UpstreamUnavailable(f"the Workflows service refused the execution ({response.status_code})")
    return response.json()


def get_execution(name: str) -> dict[str, Any]:
    base, headers = _base_and_headers()
    response = _SESSION.get(f"{base}/{name}", headers=headers, timeout=30)
    if response.status_code >= 300:
        raise UpstreamUnavailable(f"the Workflows service answered {response.status_code} for {name}")
    return response.json()


def cancel_execution(name: str) -> dict[str, Any]:
    """Cancel a running execution (`POST {name}:cancel`); returns the execution resource."""
    base, headers = _base_and_headers()
    try:
        response = _SESSION.post(f"{base}/{name}:cancel", headers=headers, timeout=30, json={})
    except requests.RequestException as err:
        raise UpstreamUnavailable(f"the Workflows service is unreachable ({err.__class__.__name__})") from None
    if response.status_code >= 300:
        raise UpstreamUnavailable(f"the Workflows service refused to cancel {name} ({response.status_code})")
    return response.json()
