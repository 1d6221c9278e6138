"""Fixtures of the incremental-work tests: runs on the local stack for a user of the test's own (the AI
tests' helpers), the Vertex AI stand-in, and the real stores to read what a run recorded."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ai"))  # Runs, StandIn, the example stories

from ai_support import Runs, real_stores, stand_in  # noqa: E402,F401 - the shared fixtures


@pytest.fixture(scope="module")
def book_runs(stack) -> Runs:
    return Runs(stack["gateway"])
