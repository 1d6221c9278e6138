"""Every part of the local stack may die mid-run and come back through `mangaflow services up`: the
run completes with the same book as an undisturbed run, and every object and row it acknowledged is
still there. Each part is killed (SIGKILL) at a seeded random moment of its own 2-page run."""
from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from localcloud import supervisor

pytestmark = [pytest.mark.serial, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
STORY = ('Rin carried the last crate to the lighthouse. "Is that everything?" asked Oto. '
         '"Everything but the lamp," Rin said, and climbed the stairs. The light came on over the bay.')
PARTS = ("postgres", "redis", "storage", "firestore", "gateway", "workflows")
SEED = 20261129


def book_of(state: dict[str, Any]) -> list[str]:
    from mangaflow.stores import objects

    return [hashlib.sha256(objects.get_bytes(page["uri"])).hexdigest() for page in state["final_pages"]]


def services_up() -> None:
    """What a person runs: the services CLI brings back whatever is down."""
    done = subprocess.run([sys.executable, "-m", "mangaflow_cli", "services", "up"], cwd=REPO, capture_output=True,
                          text=True, timeout=180, env={**os.environ})
    assert done.returncode == 0, done.stdout + done.stderr


def acknowledged_things_are_there(state: dict[str, Any]) -> None:
    """Every output, panel image, preview, page and export the run recorded can still be read."""
    from mangaflow.stores import objects

    uris = set()
    for phase in state["phases"]:
        uris.update(a["output_uri"] for a in phase["attempts"] if a.get("output_uri"))
        uris.update(p["uri"] for p in phase["previews"])
        uris.update(phase["artifacts"])
        assert phase["gates"], f"phase {phase['phase']} has no gate recorded"
    uris.update(p["uri"] for p in state["final_pages"])
    uris.update(u for u in state["exports"].values() if u)
    missing = [uri for uri in sorted(uris) if not objects.exists(uri)]
    assert not missing, f"{len(missing)} acknowledged objects are gone, e.g. {missing[:3]}"


_REFERENCE: list[tuple[list[str], float]] = []


@pytest.fixture
def reference(run_pipeline) -> tuple[list[str], float]:
    """The undisturbed run's book, and how long it took (the kills land inside that span); made once."""
    if not _REFERENCE:
        started = time.monotonic()
        state = run_pipeline(STORY, pages=2)["state"]
        _REFERENCE.append((book_of(state), time.monotonic() - started))
    return _REFERENCE[0]


@pytest.mark.parametrize("part", PARTS)
def test_a_part_killed_mid_run_comes_back_and_the_book_is_the_same(run_pipeline, stack, owner, owner_id, reference, part):
    reference_book, span = reference
    rng = random.Random(f"{SEED}-{part}")
    delay = rng.uniform(0.15, 0.85) * span
    outage = rng.uniform(0.5, 3.0)
    happened: dict[str, Any] = {}
    chat: dict[str, Any] = {}

    def kill_later() -> None:
        time.sleep(delay)
        supervisor.kill(part)
        happened["killed_at"] = time.monotonic()
        time.sleep(outage)
        services_up()
        happened["back_at"] = time.monotonic()

    def answer(gate: dict[str, Any]) -> dict[str, Any]:
        if part == "firestore" and not chat:
            # An acknowledged chat message (Firestore) before the kill must outlive it.
            reply = requests.post(f"{stack['gateway']}/chat_message", headers=owner, timeout=60, json={
                "request_id": gate["request_id"], "phase": gate["phase"], "text": "looks good", "apply": False})
            assert reply.status_code == 200, reply.text
            chat.update(reply.json())
        return {"decision": "approve", "token": gate["token"], "decided_by": "fault-test"}

    killer = threading.Thread(target=kill_later, daemon=True)
    started = time.monotonic()
    killer.start()
    result = run_pipeline(STORY, pages=2, answer=answer, as_user=owner_id)
    killer.join(240)
    assert "back_at" in happened, f"{part} was never brought back"
    assert happened["killed_at"] - started < 120
    state = result["state"]
    assert state["status"] == "completed"
    assert book_of(state) == reference_book
    acknowledged_things_are_there(state)
    if part == "firestore":
        from mangaflow.stores.chat import chat_store

        messages = chat_store().list_messages(chat["session_id"])
        assert chat["message_id"] in [m["message_id"] for m in messages]
