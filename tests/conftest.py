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
