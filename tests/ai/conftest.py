"""Fixtures of the AI-art tests (helpers in ai_support.py): the stack's Vertex AI stand-in, runs for a
user of the test's own, and the real stores to read what a run recorded."""
from __future__ import annotations

import pytest

from ai_support import Runs, real_stores, stand_in  # noqa: F401 - the shared fixtures


@pytest.fixture
def runs(stack) -> Runs:
    return Runs(stack["gateway"])
