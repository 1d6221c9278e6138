"""The pytest fixture `services`: brings the local stack up once per test session (or reuses a
running one), exports the client environment and yields service info."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from localcloud.services import manager

ENV_KEYS = ("DATABASE_URL", "REDIS_URL", "STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")


def reset_client_caches() -> None:
    """Makes cached settings and per-process store clients pick up a changed environment."""
    from mangaflow import config
    from mangaflow.stores import chat, objects, postgres, sessions

    config.settings.cache_clear()
    postgres.reset_database()
    sessions.reset_session_store()
    objects.reset_object_store()
    chat.reset_chat_store()


def start_stack() -> tuple[dict, list[str]]:
    """Starts what is missing; returns (info, names of the services this call started)."""
    before = {row["name"]: row["healthy"] for row in manager.status()}
    state = manager.up()
    started = [name for name in manager.SERVICE_NAMES if not before.get(name)]
    variables = manager.env()
    os.environ.update(variables)
    reset_client_caches()
    info = {name: dict(state[name]) for name in manager.SERVICE_NAMES}
    info["env"] = variables
    info["local_dir"] = str(manager.local_dir())
    info["started_here"] = started
    return info, started


@pytest.fixture(scope="session")
def services() -> Iterator[dict]:
    """{"postgres": {...pid, port, endpoint}, "redis": ..., "storage": ..., "firestore": ...,
    "env": {DATABASE_URL...}, "local_dir": ..., "started_here": [...]}. Services this session
    started are stopped at the end unless MANGAFLOW_KEEP_SERVICES=1 (or under pytest-xdist,
    where another worker may still use them)."""
    info, started = start_stack()
    yield info
    keep = os.environ.get("MANGAFLOW_KEEP_SERVICES") == "1" or "PYTEST_XDIST_WORKER" in os.environ
    if not keep:
        for name in started:
            manager.stop(name)
