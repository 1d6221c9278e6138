"""Fixtures of the AI-art tests (helpers in ai_support.py): the stack's Vertex AI stand-in, runs for a
user of the test's own, and the real stores to read what a run recorded."""
from __future__ import annotations

import pytest

from ai_support import Runs, StandIn


@pytest.fixture(scope="session")
def stand_in(stack) -> StandIn:
    from localcloud import supervisor

    return StandIn(supervisor.env(["vertex"])["VERTEX_AI_EMULATOR_HOST"])


@pytest.fixture(scope="session")
def real_stores(stack):
    from mangaflow import bootstrap

    return bootstrap.build()


@pytest.fixture
def runs(stack) -> Runs:
    return Runs(stack["gateway"])
