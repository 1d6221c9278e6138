"""What a vertex run does when the model will not (or may not) draw: a safety-blocked panel is asked again
with a simpler prompt, then drawn procedurally; 429s back off and succeed; a budget is never passed: the
model is stopped before the call that would pass it, the rest is drawn procedurally, the gate says so."""
from __future__ import annotations

import json
from typing import Any

import pytest

from ai_support import GARDENER, Runs, approve, chosen_output

pytestmark = pytest.mark.slow


def _at_first_gate(stand_in, prepare):
    """Answers gates with approve; before the first one (phase 1 is done, nothing was drawn yet) it
    lets the test inject faults for the request."""
    done = {"prepared": False}

    def answer(gate: dict[str, Any]) -> dict[str, Any]:
        if not done["prepared"]:
            prepare(gate["request_id"])
            done["prepared"] = True
        return approve(gate)

    return answer


def test_blocked_panels_are_asked_again_simply_then_drawn_procedurally_and_429s_are_waited_out(stack, stand_in,
                                                                                              real_stores):
    runs = Runs(stack["gateway"])

    def prepare(rid: str) -> None:
        stand_in.inject(rid, block="image", count=2, operation="panel-image", item="p01-1")  # refused twice
        stand_in.inject(rid, block="prompt", count=1, operation="panel-image", item="p01-2")  # refused once
        stand_in.inject(rid, fail=429, count=2, operation="panel-image", item="p02-1")
        stand_in.inject(rid, fail=503, count=1, operation="sheet-image")

    accepted = runs.start(GARDENER, 2, provider="vertex")
    final = runs.follow(accepted, _at_first_gate(stand_in, prepare))
    assert final["status"] == "completed"
    rid = accepted["request_id"]
    state = runs.state(rid)
    panels = {p["panel_id"]: p for p in chosen_output(state, 5, runs)["image_descriptions"]}

    twice = panels["p01-1"]
    assert twice["fallback"] == "procedural" and twice["provenance"]["source"] == "procedural"
    assert "IMAGE_SAFETY" in twice["provenance"]["reason"] and "twice" in twice["provenance"]["reason"]
    once = panels["p01-2"]
    assert once["fallback"] == "simplified" and once["provenance"]["source"] == "model"
    assert once["provenance"]["fallback"] == "simplified" and "PROHIBITED_CONTENT" in once["provenance"]["reason"]
    waited = panels["p02-1"]
    assert waited["fallback"] == "none" and waited["provenance"]["source"] == "model"

    rows = real_stores.model_calls.list(rid)
    by_panel = {pid: [r["status"] for r in rows if r["panel_id"] == pid and r["kind"] == "image"]
                for pid in ("p01-1", "p01-2", "p02-1")}
    assert by_panel == {"p01-1": ["blocked", "blocked"], "p01-2": ["blocked", "ok"], "p02-1": ["error", "error", "ok"]}
    assert [r["http_status"] for r in rows if r["panel_id"] == "p02-1" and r["status"] == "error"] == [429, 429]
    sheets = [r["status"] for r in rows if r["operation"] == "sheet_image"]
    assert sheets.count("ok") == 2 and sheets.count("error") == 1
    # The simplified prompt is what was sent the second time (the stand-in saw both).
    sent = [r["body"]["contents"][0]["parts"][0]["text"] for r in stand_in.images(rid)
            if r["labels"].get("mangaflow-item") == "p01-2"]
    assert len(sent) == 2 and sent[1].startswith("Draw one quiet manga panel") and sent[0] != sent[1]
    # The gate's preview counts what was drawn how.
    summary = state["cost"]
    assert summary["blocked"] == 3 and summary["failed"] == 3


def test_the_budget_is_never_passed_the_rest_is_procedural_and_the_gate_says_so(stack, stand_in, real_stores):
    runs = Runs(stack["gateway"])
    budget = 0.15  # the text phases and the two sheets fit; a few panels, then the model is stopped
    # One model slot: panels reserve their worst case one after another, so which fit does not depend on how
    # many reservations happen to be outstanding at once (with 5 slots, 10 panel calls, none may fit).
    done = runs.run(GARDENER, 2, provider="vertex", budget_usd=budget, concurrency_limit=1)
    rid, state = done["accepted"]["request_id"], done["state"]
    cost = state["cost"]
    assert cost["budget_usd"] == budget and cost["budget_stopped"] is True
    assert cost["usd"] <= budget and "more than is left" in cost["stop_reason"]
    ledger = real_stores.model_calls.budget(rid)
    assert float(ledger["spent_usd"]) <= budget and float(ledger["reserved_usd"]) == pytest.approx(0, abs=1e-9)
    rows = real_stores.model_calls.list(rid)
    panels = chosen_output(state, 5, runs)["image_descriptions"]
    drawn = [p for p in panels if p["provenance"]["source"] == "model"]
    skipped = [p for p in panels if p["provenance"]["source"] == "procedural"]
    assert drawn and skipped and len(drawn) + len(skipped) == len(panels)
    assert all(p["fallback"] == "procedural" and p["provenance"]["reason"].startswith("budget") for p in skipped)
    # Each panel the model did not draw was refused by the budget before its call: never sent.
    refused = {r["panel_id"] for r in rows if r["status"] == "budget" and r["kind"] == "image"}
    assert refused == {p["panel_id"] for p in skipped}
    assert len(stand_in.images(rid)) == 2 + len(drawn)
    assert sum(1 for r in rows if r["kind"] == "image" and r["status"] == "ok") == 2 + len(drawn)
    preview = next(p for p in state["phases"] if p["phase"] == 5)["previews"][-1]
    text = json.loads(runs.artifact(rid, preview["uri"]))["summary"]
    assert f"budget reached (${budget:.2f})" in text and f"{len(skipped)} procedural" in text
