"""Fixtures: `pubsub` (the local Pub/Sub in its own process), `clients` (the official publisher and
subscriber pointed at it) and `push_endpoint` (a real HTTP server taking pushes)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from pubsub_support import Clients, PubSubProcess, PushEndpoint, serve_push_endpoint


@pytest.fixture
def pubsub(tmp_path: Path) -> Iterator[PubSubProcess]:
    server = PubSubProcess(tmp_path / "pubsub").start()
    yield server
    server.stop()


@pytest.fixture
def clients(pubsub: PubSubProcess) -> Iterator[Clients]:
    made = Clients(pubsub.address)
    yield made
    made.close()


@pytest.fixture
def push_endpoint() -> Iterator[PushEndpoint]:
    endpoint, server = serve_push_endpoint()
    yield endpoint
    server.shutdown()
    server.server_close()
