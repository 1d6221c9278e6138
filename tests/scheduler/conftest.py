"""Fixtures: `scheduler` / `shared_scheduler` (the local Cloud Scheduler in its own process, manual clock) and `target`
(a real HTTP server that records calls)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from scheduler_support import RecordingTarget, SchedulerProcess, serve_target


@pytest.fixture
def target() -> Iterator[RecordingTarget]:
    recorder, server = serve_target()
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[SchedulerProcess]:
    server = SchedulerProcess(tmp_path / "scheduler").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchedulerProcess]:
    """One server for a module's tests that leave no jobs behind (bad input is refused)."""
    server = SchedulerProcess(tmp_path_factory.mktemp("scheduler")).start()
    yield server
    server.stop()
