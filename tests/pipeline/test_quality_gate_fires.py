"""A real run where the quality gate fires: a corpus story asked for on one page, through
start_generation, the real YAML on the local engine, the real functions and stores.

The story holds more text than one page letters comfortably. The first storyboard still letters every
sentence, so its panels crowd; phase 4's evaluator scores it below 0.60 with the hint to condense;
the workflow calls phase 4 again with that hint; the offline storyboard takes captions out of the
crowded panels, records each in `condensed[]`, and passes. Nothing is injected for the test.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from mangaflow.quality import annotated
from mangaflow.stores import objects

STORY = annotated.load_corpus(Path(__file__).resolve().parents[2] / "examples" / "corpus")
HARBOUR = next(s for s in STORY if s.name == "harbour-captain.en")


def _attempts(state: dict, phase: int) -> list[dict]:
    found = next(p for p in state["phases"] if p["phase"] == phase)
    return [a for a in found["attempts"] if a["panel_id"] is None]


_BOOK: list[dict] = []


@pytest.fixture
def one_page_book(run_pipeline) -> dict:
    """One real run, shared by the tests of this module."""
    if not _BOOK:
        _BOOK.append(run_pipeline(HARBOUR.text, pages=1))
    return _BOOK[0]


def test_the_gate_retries_the_crowded_storyboard_with_the_evaluators_hint(one_page_book):
    first, second = _attempts(one_page_book["state"], 4)
    assert first["score"] < 0.60 and first["decision"] == "retry"
    assert any(h.startswith("condense narration") for h in first["hints"]), first["hints"]
    assert second["score"] >= 0.70 and second["decision"] == "pass"
    crowded = objects.get_json(first["output_uri"])
    assert crowded["condensed"] and all(c["reason"] == "attribution" for c in crowded["condensed"])
    assert annotated.prose_kept(HARBOUR.text, crowded).kept >= 0.99  # the first try kept every word


def test_the_retry_records_what_it_condensed_and_loses_nothing(one_page_book):
    first, second = _attempts(one_page_book["state"], 4)
    board = objects.get_json(second["output_uri"])
    left_out = [c for c in board["condensed"] if c["reason"] == "page_budget"]
    assert left_out
    for entry in left_out:
        start, end = entry["source"]
        assert HARBOUR.text[start:end] == entry["text"]
    found = annotated.prose_kept(HARBOUR.text, board)
    assert found.lost_chars == 0 and found.condensed > 0


def test_the_book_is_made_from_the_attempt_that_passed(one_page_book):
    state = one_page_book["state"]
    assert state["status"] == "completed" and state["page_count"] == 1
    _, second = _attempts(state, 4)
    board = objects.get_json(second["output_uri"])
    manifest = objects.get_json(state["exports"]["manifest"])
    assert manifest["outputs"]["storyboard"]["condensed"] == board["condensed"]
    lettering = objects.get_json(_attempts(state, 6)[-1]["output_uri"])
    assert [e["panel_id"] for e in lettering["dialogue_placements"]] == \
        [p["panel_id"] for page in board["pages"] for p in page["panels"]]
    assert [a["decision"] for a in _attempts(state, 3)] == ["pass"]  # the other phases did not retry
