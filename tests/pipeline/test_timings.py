"""Honest timings: get_status gives each phase's wall span (phase 5's panel calls included), its runs' summed
time and its AI wait, measured on a real run through the workflow with the simulated provider (every model
call waits MANGAFLOW_SIMULATED_LATENCY_S, 0.05 s on the test stack)."""
from __future__ import annotations

from datetime import datetime

import pytest

STORY = ("The lantern festival began at dusk. \"Look,\" said Mika, pointing at the river. Ren laughed and "
         "followed her along the bank. The lanterns drifted past the old bridge. \"Make a wish,\" Ren said. "
         "Mika closed her eyes and the lights went on downstream.")
CONCURRENCY = 2


def _when(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


@pytest.fixture(scope="module")
def simulated_run(run_pipeline):
    return run_pipeline(STORY, pages=2, provider="simulated", concurrency_limit=CONCURRENCY)


def _phase(state: dict, number: int) -> dict:
    return next(p for p in state["phases"] if p["phase"] == number)


def test_phase5_span_covers_its_panel_calls(simulated_run):
    state = simulated_run["state"]
    phase = _phase(state, 5)
    timing = phase["timing"]
    panels = [a for a in phase["attempts"] if a["panel_id"]]
    assert timing["panel_calls"] == len(panels) >= state["panel_count"] >= 2
    assert timing["panels_s"] == pytest.approx(sum(a["duration_ms"] for a in panels) / 1000, abs=0.002)
    # The workflow ran at most 2 x CONCURRENCY panel calls at once (the model slots hold the model to
    # CONCURRENCY): the phase took at least their summed time over that.
    assert timing["span_s"] >= timing["panels_s"] / (2 * CONCURRENCY) > 0
    # The span runs from the first panel's start to `collect`'s end, not `collect` alone.
    starts = [_when(a["started_at"]) for a in phase["attempts"]]
    ends = [_when(a["finished_at"]) for a in phase["attempts"]]
    assert timing["span_s"] >= max(ends) - min(starts) - 0.002
    collect = [a for a in phase["attempts"] if a["panel_id"] is None]
    assert timing["work_s"] == pytest.approx(sum(a["duration_ms"] for a in collect) / 1000, abs=0.002)
    assert timing["span_s"] > timing["work_s"]


def test_ai_wait_comes_from_the_model_calls(simulated_run):
    state = simulated_run["state"]
    timing = _phase(state, 5)["timing"]
    # Each panel: a description (text) and a picture (image), each waiting at least 0.05 s.
    assert timing["ai_calls"] >= 2 * state["panel_count"]
    assert timing["ai_wait_s"] >= 0.05 * timing["ai_calls"] * 0.9
    assert timing["span_s"] >= timing["ai_wait_s"] / CONCURRENCY
    for number in (1, 3, 4):  # one text call each, inside the phase's own run
        text = _phase(state, number)["timing"]
        assert text["ai_calls"] >= 1 and text["ai_wait_s"] >= 0.045
        assert text["work_s"] >= text["ai_wait_s"] - 0.01 and text["span_s"] >= text["work_s"] - 0.002
        assert text["panel_calls"] == 0 and text["panels_s"] == 0
    for number in (6, 7):  # no model in lettering and finishing
        assert _phase(state, number)["timing"]["ai_calls"] == 0


def test_an_offline_run_waits_only_inside_its_runs(run_pipeline):
    """The offline provider's rules are its "model": their time is AI wait, and always inside the runs."""
    state = run_pipeline(STORY, pages=1, provider="offline")["state"]
    for phase in state["phases"]:
        timing = phase["timing"]
        assert timing["ai_wait_s"] <= timing["work_s"] + timing["panels_s"] + 0.01, phase["phase"]
        assert timing["span_s"] >= timing["work_s"] - 0.002


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_model_calls_keep_to_the_limit_while_panel_calls_exceed_it(simulated_run, services):
    """The workflow runs twice `concurrency_limit` panel calls; the model slots let only `concurrency_limit`
    of them wait on the model at once, so the rest resize, upload and record meanwhile."""
    from mangaflow import bootstrap

    calls = [c for c in bootstrap.stores().model_calls.list(simulated_run["request_id"])
             if c["phase"] == 5 and c["status"] == "ok"]
    # A row's created_at is when its try ended, taken before its slot is given back (the row itself is written
    # after); its start is `latency_ms` (whole milliseconds) earlier: trimmed by 3 ms for the rounding.
    waits = [(_when(c["created_at"]) - c["latency_ms"] / 1000 + 0.003, _when(c["created_at"]))
             for c in calls]
    assert len(waits) >= 4 and _most_at_once(waits) <= CONCURRENCY
    panels = [a for a in _phase(simulated_run["state"], 5)["attempts"] if a["panel_id"]]
    runs = [(_when(a["started_at"]), _when(a["finished_at"])) for a in panels]
    assert _most_at_once(runs) > CONCURRENCY
