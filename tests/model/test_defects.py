"""The models refuse what the hand-written schemas refused before (tests/functions/test_output_schemas.py,
tests/phases/test_condensed_schema.py) and more; the pydantic model and the generated JSON Schema refuse
the same outputs and name the same field (pydantic at times the item inside it)."""
from __future__ import annotations

import copy
from typing import Any, Callable

import pydantic
import pytest

from mangaflow import model
from mangaflow.errors import DomainError
from mangaflow.model.examples import EXAMPLES
from mangaflow.schemas import validate_output


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(output: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for step in parents:
            output = output[step]
        output[last] = value
    return change


def _drop(path: str) -> Callable[[dict], None]:
    def change(output: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for step in parents:
            output = output[step]
        del output[last]
    return change


def _append(path: str, value: Any) -> Callable[[dict], None]:
    def change(output: dict) -> None:
        for step in [int(p) if p.isdigit() else p for p in path.split(".")]:
            output = output[step]
        output.append(copy.deepcopy(value))
    return change


# (model, what is wrong, change, the field both validators name)
DEFECTS = [
    (model.Storyboard, "a bbox wider than the page", _set("pages.0.panels.0.bbox.2", 1.7), "pages.0.panels.0.bbox.2"),
    (model.Storyboard, "a condensed entry with an unknown reason",
     _append("condensed", {"source": [0, 3], "text": "港町の", "reason": "boredom"}), "condensed.1.reason"),
    (model.Storyboard, "a panel id that is no pNN-k", _set("pages.0.panels.1.panel_id", "panel-2"),
     "pages.0.panels.1.panel_id"),
    (model.Storyboard, "ten panels on a page",
     lambda o: o["pages"][0]["panels"].extend(copy.deepcopy(o["pages"][0]["panels"][0]) for _ in range(8)),
     "pages.0.panels"),
    (model.Storyboard, "a reading direction that is neither", _set("reading_direction", "up"), "reading_direction"),
    (model.Storyboard, "a speaker that is a number", _set("pages.0.panels.1.dialogues.0.speaker", 2),
     "pages.0.panels.1.dialogues.0.speaker"),
    (model.Plot, "a beat source of one offset", _set("scenes.0.beats.0.source", [5]), "scenes.0.beats.0.source"),
    (model.Plot, "a negative story offset", _set("scenes.0.beats.0.source", [-1, 4]), "scenes.0.beats.0.source"),
    (model.Plot, "an importance above 1", _set("scenes.0.importance", 1.5), "scenes.0.importance"),
    (model.Plot, "no scenes", _set("scenes", []), "scenes"),
    (model.Concept, "a page estimate as a string", _set("estimated_pages", "8"), "estimated_pages"),
    (model.Concept, "an empty theme", _set("theme", ""), "theme"),
    (model.Concept, "a story context in another language", _set("story_context.language", "fr"),
     "story_context.language"),
    (model.Concept, "metadata of phase 9", _set("processing_metadata.phase", 9), "processing_metadata.phase"),
    (model.Characters, "a hair colour that is a word", _set("characters.0.palette.hair", "red"),
     "characters.0.palette.hair"),
    (model.Characters, "three reference images",
     lambda o: o["reference_images"].extend([o["reference_images"][0]] * 2), "reference_images"),
    (model.Characters, "a reference image on the web", _set("reference_images.0.uri", "https://example.com/a.png"),
     "reference_images.0.uri"),
    (model.PanelImage, "attempt 0", _set("attempt", 0), "attempt"),
    (model.PanelImage, f"attempt {model.MAX_ATTEMPTS + 1}", _set("attempt", model.MAX_ATTEMPTS + 1), "attempt"),
    (model.PanelImage, "a fallback nobody draws", _set("fallback", "sketch"), "fallback"),
    (model.PanelImage, "a head outside the panel", _set("staging.0.x", 1.2), "staging.0.x"),
    (model.Lettering, "a font too small to read", _set("dialogue_placements.0.placements.0.font_size_px", 4),
     "dialogue_placements.0.placements.0.font_size_px"),
    (model.Lettering, "a bubble with no lines", _set("dialogue_placements.0.placements.0.lines", []),
     "dialogue_placements.0.placements.0.lines"),
    (model.Final, "an overall score above 1", _set("quality_checks.overall", 1.2), "quality_checks.overall"),
    (model.Final, "no pages", _set("pages", []), "pages"),
]

MISSING = [(model.Concept, "genre"), (model.Characters, "characters.0.figure"), (model.Storyboard, "pages"),
           (model.PanelImage, "image_uri"), (model.Final, "exports.manifest"), (model.Lettering, "lettering")]


def _schema_field(shape: type[model.PhaseOutput], output: dict) -> str:
    with pytest.raises(DomainError) as caught:
        validate_output(shape.number, output, panel=shape is model.PanelImage)
    assert caught.value.status == 500
    return caught.value.field


def _model_field(shape: type[model.PhaseOutput], output: dict) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        shape.model_validate(output)
    return ".".join(str(p) for p in caught.value.errors()[0]["loc"])


@pytest.mark.parametrize("shape,what,change,field", DEFECTS, ids=[d[1] for d in DEFECTS])
def test_a_defect_is_refused_by_both_naming_the_field(shape, what, change, field):
    output = copy.deepcopy(EXAMPLES[shape])
    change(output)
    assert _schema_field(shape, output) == field
    named = _model_field(shape, output)  # pydantic may go on to the item inside a nullable field
    assert named == field or named.startswith(field + ".")


@pytest.mark.parametrize("shape,path", MISSING, ids=[m[1] for m in MISSING])
def test_a_missing_field_is_refused_by_both(shape, path):
    output = copy.deepcopy(EXAMPLES[shape])
    _drop(path)(output)
    parent, _, name = path.rpartition(".")
    assert _schema_field(shape, output) == (parent or "(output)")
    with pytest.raises(DomainError, match=f"'{name}' is a required property"):
        validate_output(shape.number, output, panel=shape is model.PanelImage)
    assert _model_field(shape, output) == path


@pytest.mark.parametrize("shape", list(model.PHASE_OUTPUTS) + [model.PanelImage], ids=lambda m: m.__name__)
def test_fields_a_phase_adds_are_kept(shape):
    output = {**copy.deepcopy(EXAMPLES[shape]), "mood_board": ["lanterns", {"colour": "#ff9900"}]}
    validate_output(shape.number, output, panel=shape is model.PanelImage)
    parsed = shape.model_validate(output)
    assert parsed.model_extra == {"mood_board": ["lanterns", {"colour": "#ff9900"}]}
    assert parsed.model_dump(mode="json", exclude_unset=True) == output


def test_exports_may_leave_out_a_format_a_person_did_not_ask_for():
    output = copy.deepcopy(EXAMPLES[model.Final])
    output["exports"]["cbz"] = None
    validate_output(7, output)
    assert model.Final.model_validate(output).exports.cbz is None
