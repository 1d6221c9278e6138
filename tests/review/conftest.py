"""Browser tests of the review app: the whole local stack and a real Chromium."""
from __future__ import annotations

from pathlib import Path

import pytest

from _browser import Browser


@pytest.fixture
def browser():
    page = Browser()
    yield page
    page.close()


@pytest.fixture
def shots(request) -> Path:
    """The test's output folder for screenshots (kept after the run: look at them)."""
    folder = Path(__file__).resolve().parents[2] / ".local" / "test-output" / "review" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def started(stack, owner):
    """Request ids a test started; any still running at the end is cancelled (its slot freed)."""
    import requests

    ids: list[str] = []
    yield ids
    for request_id in ids:
        requests.post(f"{stack['gateway']}/cancel_generation", headers=owner, json={"request_id": request_id},
                      timeout=60)
