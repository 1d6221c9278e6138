"""A retried call (same request, phase, attempt, panel) returns what was stored and writes nothing twice."""
from __future__ import annotations

import uuid

import requests

from mangaflow_cli.api import local_client
from mangaflow_cli.follow import follow
from mangaflow.stores import postgres


def test_replayed_phase_calls_return_the_stored_result(run_pipeline, stack):
    state = run_pipeline("Kai planted a seed. \"Grow,\" said Kai. It grew.", pages=1)["state"]
    request_id = state["request_id"]
    before = postgres.list_phase_runs(request_id)
    selected = {str(n): 1 for n in range(1, 5)}

    replay = requests.post(f"{stack['gateway']}/phase3_plot", timeout=30,
                           json={"request_id": request_id, "attempt": 1, "selected": {"1": 1, "2": 1}})
    assert replay.status_code == 200, replay.text
    original = next(r for r in before if r["phase"] == 3)
    assert replay.json()["idempotent_replay"] is True
    assert replay.json()["output_uri"] == original["output_uri"]

    panel = next(r for r in before if r["phase"] == 5 and r["panel_id"])
    again = requests.post(f"{stack['gateway']}/phase5_images", timeout=30,
                          json={"request_id": request_id, "attempt": 1, "selected": selected,
                                "operation": "panel", "panel_id": panel["panel_id"]})
    assert again.status_code == 200 and again.json()["idempotent_replay"] is True
    assert again.json()["output_uri"] == panel["output_uri"]

    after = postgres.list_phase_runs(request_id)
    assert [(r["phase"], r["attempt"], r["panel_id"], r["run_id"]) for r in after] == \
           [(r["phase"], r["attempt"], r["panel_id"], r["run_id"]) for r in before]


def test_start_generation_with_the_same_idempotency_key_starts_once(stack, owner, owner_id):
    body = {"text": "Mo waited for the bus.", "pages": 1, "idempotency_key": f"key-{uuid.uuid4().hex}",
            "hitl": {"mode": "auto"}}
    first = requests.post(f"{stack['gateway']}/start_generation", json=body, headers=owner, timeout=30)
    second = requests.post(f"{stack['gateway']}/start_generation", json=body, headers=owner, timeout=30)
    assert first.status_code == 202 and second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    assert first.json()["execution"] == second.json()["execution"]
    finished = follow(local_client(owner_id), first.json()["request_id"], lambda gate: None,
                      execution=first.json()["execution"])
    assert finished["status"] == "completed"
