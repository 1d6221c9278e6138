"""The whole local stack for end-to-end tests: stores, function gateway and Workflows engine."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from mangaflow_cli.api import local_client
from mangaflow_cli.follow import follow


Answer = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def approve(gate: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "token": gate["token"], "decided_by": "test"}


@pytest.fixture(scope="session")
def run_pipeline(stack) -> Callable[..., dict[str, Any]]:
    """Start a request through start_generation, answer gates with `answer`, wait for the end."""

    def run(text: str, pages: int = 2, answer: Answer = approve, expect: str = "SUCCEEDED", **options: Any) -> dict[str, Any]:
        body = {"text": text, "pages": pages, "hitl": {"mode": "review", "timeout_seconds": options.pop("timeout", 600)},
                **options}
        response = requests.post(f"{stack['gateway']}/start_generation", json=body, timeout=60)
        assert response.status_code == 202, response.text
        accepted = response.json()
        # As the CLI follows a run: get_progress, gates answered through their callbacks.
        final = follow(local_client("local-user"), accepted["request_id"], answer, execution=accepted["execution"])
        execution = {"state": {"completed": "SUCCEEDED", "cancelled": "CANCELLED"}.get(final["status"], "FAILED"),
                     "status": final["status"]}
        assert execution["state"] == expect, execution
        status = requests.post(f"{stack['gateway']}/get_status", json={"request_id": accepted["request_id"]}, timeout=60)
        assert status.status_code == 200, status.text
        return {"request_id": accepted["request_id"], "execution": execution, "state": status.json()}

    return run
