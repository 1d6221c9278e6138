"""Every phase output is checked against schemas/phases/ before it is stored."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mangaflow.errors import DomainError
from mangaflow.phases import phase1_concept, phase2_characters, phase3_plot, phase4_name
from mangaflow.phases.request import validate_request
from mangaflow.providers import get_provider
from mangaflow.schemas import validate_output

STORY = (Path(__file__).resolve().parents[2] / "examples" / "lantern-festival.ja.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def outputs() -> dict:
    provider = get_provider("offline")
    inputs = validate_request({"text": STORY, "pages": 4})
    result = {}
    for number, key, module in ((1, "concept", phase1_concept), (2, "characters", phase2_characters),
                                (3, "plot", phase3_plot), (4, "storyboard", phase4_name)):
        inputs[key] = module.run(inputs, None, provider)
        result[number] = inputs[key]
    return result


@pytest.mark.parametrize("phase", [1, 2, 3, 4])
def test_offline_outputs_match_their_schema(outputs, phase):
    validate_output(phase, outputs[phase])


def test_a_broken_storyboard_is_refused_naming_the_place(outputs):
    broken = copy.deepcopy(outputs[4])
    broken["pages"][0]["panels"][0]["bbox"] = [0.1, 0.2, 1.7, 0.3]
    with pytest.raises(DomainError) as caught:
        validate_output(4, broken)
    assert caught.value.status == 500
    assert caught.value.field == "pages.0.panels.0.bbox.2"


def test_a_missing_field_is_refused(outputs):
    broken = copy.deepcopy(outputs[1])
    del broken["genre"]
    with pytest.raises(DomainError, match="genre"):
        validate_output(1, broken)
