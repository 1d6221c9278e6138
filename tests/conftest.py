"""Shared pytest fixtures: `services` (the stores) and `stack` (the whole local stack) come from
localcloud/services/pytest_plugin.py, on the tests' own stack under `.local/test`; here are the
identities and `run_pipeline`, which runs a request as the CLI would."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

pytest_plugins = ["localcloud.services.pytest_plugin"]

Answer = Callable[[dict[str, Any]], "dict[str, Any] | None"]


@pytest.fixture
def owner_id(stack) -> str:
    """A developer identity of this test's own: its runs hold its own run slots, so tests running at
    once on several workers never use up one person's three slots."""
    import uuid

    return f"dev-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def owner(owner_id: str) -> dict:
    """Headers that authenticate as `owner_id` (the owner of requests started with them)."""
    from mangaflow_cli.api import auth_headers

    return auth_headers(owner_id)


@pytest.fixture(scope="session")
def stranger(stack) -> dict:
    """Headers of another authenticated person, who owns nothing here."""
    from mangaflow_cli.api import auth_headers

    return auth_headers("someone-else")


def approve(gate: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "token": gate["token"], "decided_by": "test"}


@pytest.fixture(scope="session")
def run_pipeline(stack) -> Callable[..., dict[str, Any]]:
    """Start a request through start_generation, follow it through get_progress and answer its gates
    with `answer`, as the CLI does; then read its whole state. Each run is started by a developer
    identity of its own (or `as_user`), so runs on several workers never share one person's slots;
    the result carries that identity's `headers`."""
    import uuid

    from mangaflow_cli.api import auth_headers, local_client
    from mangaflow_cli.follow import follow

    def run(text: str, pages: int = 2, answer: Answer = approve, expect: str = "SUCCEEDED",
            as_user: str | None = None, **options: Any) -> dict[str, Any]:
        user = as_user or f"dev-{uuid.uuid4().hex[:10]}"
        headers = auth_headers(user)
        body = {"text": text, "pages": pages, "hitl": {"mode": "review", "timeout_seconds": options.pop("timeout", 600)},
                **options}
        response = requests.post(f"{stack['gateway']}/start_generation", json=body, headers=headers, timeout=60)
        assert response.status_code == 202, response.text
        accepted = response.json()
        final = follow(local_client(user), accepted["request_id"], answer, execution=accepted["execution"])
        execution = {"state": {"completed": "SUCCEEDED", "cancelled": "CANCELLED"}.get(final["status"], "FAILED"),
                     "status": final["status"]}
        assert execution["state"] == expect, execution
        status = requests.post(f"{stack['gateway']}/get_status", json={"request_id": accepted["request_id"]},
                               headers=headers, timeout=60)
        assert status.status_code == 200, status.text
        return {"request_id": accepted["request_id"], "execution": execution, "state": status.json(),
                "user": user, "headers": headers}

    return run
