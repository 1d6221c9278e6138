"""`condensed[]` and beat `source` spans are part of the phase 3 and 4 JSON Schemas (additive fields)."""
from __future__ import annotations

import copy

import pytest

from mangaflow.errors import DomainError
from mangaflow.schemas import validate_output

from _text_phase_runs import LANTERN, run_text_phases, story


@pytest.fixture(scope="module")
def outputs() -> dict:
    return run_text_phases(story(LANTERN), pages=4)


def test_the_offline_outputs_carry_condensed_and_match_their_schemas(outputs):
    validate_output(3, outputs["plot"])
    validate_output(4, outputs["storyboard"])
    assert outputs["storyboard"]["condensed"] == outputs["plot"]["condensed"]
    assert outputs["plot"]["condensed"] and all(c["reason"] == "attribution" for c in outputs["plot"]["condensed"])


def test_a_condensed_entry_with_an_unknown_reason_is_refused_naming_it(outputs):
    board = copy.deepcopy(outputs["storyboard"])
    board["condensed"].append({"source": [0, 3], "text": "港町の", "reason": "boredom"})
    with pytest.raises(DomainError) as caught:
        validate_output(4, board)
    assert caught.value.field == f"condensed.{len(board['condensed']) - 1}.reason"


def test_a_beat_source_is_two_offsets(outputs):
    plot = copy.deepcopy(outputs["plot"])
    beat = next(b for s in plot["scenes"] for b in s["beats"] if "source" in b)
    beat["source"] = [5]
    with pytest.raises(DomainError):
        validate_output(3, plot)
