"""Fixtures of the incremental-work tests: runs on the local stack for a user of the test's own (the AI
tests' helpers), the Vertex AI stand-in, and the real stores to read what a run recorded."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ai"))  # Runs, StandIn, the example stories

from ai_support import Runs, StandIn  # noqa: E402


@pytest.fixture(scope="session")
def stand_in(stack) -> StandIn:
    from localcloud import supervisor

    return StandIn(supervisor.env(["vertex"])["VERTEX_AI_EMULATOR_HOST"])


@pytest.fixture(scope="session")
def real_stores(stack):
    from mangaflow import bootstrap

    return bootstrap.build()


@pytest.fixture(scope="module")
def book_runs(stack) -> Runs:
    return Runs(stack["gateway"])
