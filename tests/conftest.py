"""Shared pytest fixtures. `services` (session scope) starts or reuses the local servers and sets
DATABASE_URL, REDIS_URL, STORAGE_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT."""

from localcloud.services.pytest_plugin import services  # noqa: F401  (re-exported fixture)


import os  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402


@pytest.fixture(scope="session")
def stack(services):  # noqa: F811 - `services` starts the stores; this adds gateway and engine
    """The whole local stack: stores, function gateway, Workflows engine, the pipeline deployed."""
    from localcloud import stack as local_stack

    info = local_stack.up()
    os.environ.update(info["stores"])
    return info


@pytest.fixture(scope="session")
def owner(stack) -> dict:
    """Headers that authenticate as the local developer (the owner of requests started with them)."""
    from localcloud import cli

    return cli.auth_headers()


@pytest.fixture(scope="session")
def stranger(stack) -> dict:
    """Headers of another authenticated person, who owns nothing here."""
    from localcloud import cli

    return cli.auth_headers("someone-else")


Answer = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def approve(gate: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "token": gate["token"], "decided_by": "test"}


@pytest.fixture(scope="session")
def run_pipeline(stack, owner) -> Callable[..., dict[str, Any]]:
    """Start a request through start_generation, answer gates with `answer`, wait for the end."""

    def run(text: str, pages: int = 2, answer: Answer = approve, expect: str = "SUCCEEDED", **options: Any) -> dict[str, Any]:
        body = {"text": text, "pages": pages, "hitl": {"mode": "review", "timeout_seconds": options.pop("timeout", 600)},
                **options}
        response = requests.post(f"{stack['gateway']}/start_generation", json=body, headers=owner, timeout=60)
        assert response.status_code == 202, response.text
        accepted = response.json()
        from localcloud import cli

        try:
            execution = cli.follow(accepted["request_id"], accepted["execution"], stack["workflows"], answer)
        except cli.CliError as err:
            if expect == "SUCCEEDED":
                raise
            execution = {"state": "FAILED", "error": str(err)}
        assert execution["state"] == expect, execution
        status = requests.post(f"{stack['gateway']}/get_status", json={"request_id": accepted["request_id"]},
                               headers=owner, timeout=60)
        assert status.status_code == 200, status.text
        return {"request_id": accepted["request_id"], "execution": execution, "state": status.json()}

    return run
