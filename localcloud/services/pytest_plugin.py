"""The pytest fixtures `services` (the stores) and `stack` (the whole local stack), on a stack of
the tests' own: MANGAFLOW_LOCAL_DIR is set to MANGAFLOW_TEST_LOCAL_DIR (default `.local/test`), so
the tests have their own data, ports and processes and never stop or restart the stack a person
is using (one `make demo` left waiting at a gate, say)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from localcloud import supervisor

REPO_ROOT = Path(__file__).resolve().parents[2]


def local_dir_of_tests() -> Path:
    configured = os.environ.get("MANGAFLOW_TEST_LOCAL_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".local" / "test"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["MANGAFLOW_LOCAL_DIR"] = str(local_dir_of_tests())


def reset_client_caches() -> None:
    """Makes cached settings and per-process store clients pick up a changed environment."""
    from mangaflow import config
    from mangaflow.stores import chat, objects, postgres, sessions

    config.settings.cache_clear()
    postgres.reset_database()
    sessions.reset_session_store()
    objects.reset_object_store()
    chat.reset_chat_store()


def start(names: tuple[str, ...] | None) -> tuple[dict, list[str]]:
    """Starts what is missing of `names` (None: everything); returns (state, the parts started here)."""
    before = {row["name"]: row["running"] for row in supervisor.status()}
    state = supervisor.up(names)
    started = [name for name in state if state[name].get("pid") and not before.get(name)]
    os.environ.update(supervisor.env())
    reset_client_caches()
    return state, started


_STARTED: list[str] = []


@pytest.fixture(scope="session")
def services() -> Iterator[dict]:
    """{"postgres": {...pid, port, endpoint}, "redis": ..., "storage": ..., "firestore": ...,
    "env": {DATABASE_URL...}, "local_dir": ..., "started_here": [...]}. Parts this session started
    are stopped at the end unless MANGAFLOW_KEEP_SERVICES=1 (or under pytest-xdist, where another
    worker may still use them)."""
    state, started = start(supervisor.STORE_PARTS)
    _STARTED.extend(started)
    info = {name: dict(state[name]) for name in supervisor.STORE_PARTS}
    info.update(env=supervisor.env(supervisor.STORE_PARTS), local_dir=str(supervisor.local_dir()), started_here=started)
    yield info
    keep = os.environ.get("MANGAFLOW_KEEP_SERVICES") == "1" or "PYTEST_XDIST_WORKER" in os.environ
    if not keep:
        for name in reversed(_STARTED):
            supervisor.stop(name)


@pytest.fixture(scope="session")
def stack(services: dict) -> dict:
    """The whole local stack: the stores, the Workflows engine with the pipeline deployed, the
    function gateway. {"gateway": URL, "workflows": host:port, "stores": {variables}}."""
    state, started = start(None)
    _STARTED.extend(name for name in started if name not in _STARTED)
    return {"gateway": state["gateway"]["endpoint"], "workflows": state["workflows"]["endpoint"],
            "stores": supervisor.env(supervisor.STORE_PARTS), "local_dir": str(supervisor.local_dir())}
