"""Starting a Cloud Workflows execution: the REST v1 `workflowexecutions` API.

Locally `WORKFLOWS_EMULATOR_HOST` (host:port) points at the project's own engine and no
credentials are sent; in the cloud the call carries the function's service-account token.
"""
from __future__ import annotations

import json
import re
from typing import Any

import requests

from ..config import settings
from ..errors import UpstreamUnavailable

_SESSION = requests.Session()


def _base_and_headers() -> tuple[str, dict[str, str]]:
    emulator = settings().workflows_emulator_host
    if emulator:
        return f"http://{emulator}/v1", {}
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    return "https://workflowexecutions.googleapis.com/v1", {"Authorization": f"Bearer {credentials.token}"}


CLOUD_ENDPOINT = "https://workflowexecutions.googleapis.com"


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


def workflow_name() -> str:
    """projects/{project}/locations/{region}/workflows/manga_pipeline, or MANGAFLOW_WORKFLOW."""
    return settings().workflow_name


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


def execution_state(name: str) -> str | None:
    """ACTIVE, SUCCEEDED, FAILED, CANCELLED ... or None when the service no longer knows it.
    An unreachable service counts as ACTIVE: nothing is reclaimed on a guess."""
    base, headers = _base_and_headers()
    try:
        response = _SESSION.get(f"{base}/{name}", headers=headers, timeout=10)
    except requests.RequestException:
        return "ACTIVE"
    if response.status_code == 404:
        return None
    if response.status_code >= 300:
        return "ACTIVE"
    return str(response.json().get("state") or "ACTIVE")
