"""Redo one panel at the phase 5 gate, through the callback as any client answers (the CLI's words or the
page's option): only that panel is described and drawn again; every other panel of the version shown is
kept as it was, and the book goes on with the new set."""
from __future__ import annotations

import requests

from mangaflow.bootstrap import stores

STORY = ("The lighthouse keeper climbed the stairs at dusk. \"The lamp is out,\" Mara said. "
         "Her brother Tom ran up behind her. \"I brought oil,\" Tom said. They lit it together.")


def _panels(request_id: str, attempt: int) -> dict[str, dict]:
    made = stores()
    rows = [r for r in made.phase_runs.list(request_id, 5) if r.get("panel_id") and int(r["attempt"]) == attempt]
    return {r["panel_id"]: made.artifacts.get_json(r["output_uri"]) for r in rows}


def _redo(run_pipeline, answer_with) -> tuple[dict, str]:
    chosen: dict[str, str] = {}

    def answer(gate: dict) -> dict:
        if gate["phase"] == 5 and not chosen:
            panels = sorted(_panels(gate["request_id"], 1))
            assert len(panels) >= 2, panels
            chosen["panel"] = panels[-1]
            return {"decision": "modify", "token": gate["token"], "decided_by": "test", **answer_with(panels[-1])}
        return {"decision": "approve", "token": gate["token"], "decided_by": "test"}

    return run_pipeline(STORY, pages=1, answer=answer), chosen["panel"]


def _check_only_one_redrawn(request_id: str, target: str) -> tuple[dict, dict]:
    shown, redone = _panels(request_id, 1), _panels(request_id, 2)
    assert set(shown) == set(redone)
    for panel_id, before in shown.items():
        after = redone[panel_id]
        if panel_id == target:
            assert after["image_uri"] != before["image_uri"] and after.get("kept_from") is None
        else:
            assert after["image_uri"] == before["image_uri"] and after["kept_from"] == 1
            assert after["description"] == before["description"]
    return shown[target], redone[target]


def test_words_naming_a_panel_redraw_only_that_panel(run_pipeline):
    run, target = _redo(run_pipeline, lambda panel: {"feedback": f"redraw {panel} as a close-up in the rain"})
    _, after = _check_only_one_redrawn(run["request_id"], target)
    assert after["camera_angle"] == "close_up" and after["setting"]["weather"] == "rain", after
    final = run["state"]
    assert final["status"] == "completed"
    decisions = {p["phase"]: [g["decision"] for g in p["gates"]] for p in final["phases"]}
    assert decisions[5] == ["modify", "approve"]
    # The book goes on with the new set: phase 6 letters attempt 2's pictures.
    made = stores()
    lettering = [r for r in made.phase_runs.list(run["request_id"], 6) if r.get("output_uri")][-1]
    used = {i["panel_id"]: i["image_uri"] for i in made.artifacts.get_json(lettering["output_uri"])["image_descriptions"]}
    assert used == {pid: p["image_uri"] for pid, p in _panels(run["request_id"], 2).items()}


def test_the_option_with_a_panel_and_no_words_draws_a_new_variation(run_pipeline):
    run, target = _redo(run_pipeline, lambda panel: {"option": f"regenerate_panel:{panel}"})
    before, after = _check_only_one_redrawn(run["request_id"], target)
    assert after["variation"] == 2 and after["camera_angle"] == before["camera_angle"]


def test_a_panel_that_is_not_in_the_version_shown_is_refused_and_the_gate_stays_open(run_pipeline, stack):
    refused: dict[str, requests.Response] = {}

    def answer(gate: dict) -> dict:
        if gate["phase"] == 5 and not refused:
            refused["answer"] = requests.post(f"{stack['gateway']}/review_gate", timeout=60, json={
                "request_id": gate["request_id"], "phase": 5, "gate_id": gate["gate_id"], "token": gate["token"],
                "decision": "modify", "option": "regenerate_panel", "panel": "p99-9"})
        return {"decision": "approve", "token": gate["token"], "decided_by": "test"}

    run = run_pipeline(STORY, pages=1, answer=answer)
    assert refused["answer"].status_code == 422, refused["answer"].text
    assert "p99-9" in refused["answer"].json()["error"] and refused["answer"].json()["field"] == "option"
    decisions = {p["phase"]: [g["decision"] for g in p["gates"]] for p in run["state"]["phases"]}
    assert decisions[5] == ["approve"]
