"""Shared pytest fixtures. `services` (session scope) starts or reuses the local servers and sets
DATABASE_URL, REDIS_URL, STORAGE_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT."""

from localcloud.services.pytest_plugin import services  # noqa: F401  (re-exported fixture)


import os  # noqa: E402

import pytest  # noqa: E402


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
