"""`vertex_schema(Model)`: the response schemas providers/vertex.py sends are generated from the phase
output models. The SDK takes each as it is, the fields a phase fills in are never asked, and `conform()`
with it keeps real answers whole."""
from __future__ import annotations

import copy
import json

import pytest
from google.genai import types

from mangaflow import model
from mangaflow.model.vertex_schema import NotAskable, vertex_schema
from mangaflow.providers import vertex
from mangaflow.providers.offline import OfflineProvider

ASKED = [model.Concept, model.Characters, model.Plot, model.Storyboard, model.PanelImage]
# The keywords the generated schemas use: the subset of OpenAPI Vertex AI takes.
KNOWN = {"type", "enum", "nullable", "minimum", "maximum", "min_length", "max_length", "min_items", "max_items",
         "pattern", "items", "properties", "required", "property_ordering", "description"}


def _keywords(schema: dict) -> set[str]:
    found = set(schema)
    for sub in list((schema.get("properties") or {}).values()) + ([schema["items"]] if "items" in schema else []):
        found |= _keywords(sub)
    return found


def test_the_provider_sends_the_generated_schemas():
    assert vertex.CONCEPT_SCHEMA == vertex_schema(model.Concept)
    assert vertex.STORYBOARD_SCHEMA == vertex_schema(model.Storyboard)
    assert vertex.PANEL_DESCRIPTION_SCHEMA == vertex_schema(model.PanelImage)


@pytest.mark.parametrize("shape", ASKED, ids=lambda m: m.__name__)
def test_only_keywords_vertex_takes(shape):
    assert _keywords(vertex_schema(shape)) <= KNOWN


@pytest.mark.parametrize("shape", ASKED, ids=lambda m: m.__name__)
def test_the_sdk_takes_it_and_sends_property_ordering(shape):
    schema = types.Schema.model_validate(vertex_schema(shape))  # the SDK's Schema forbids unknown keys
    wire = schema.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert wire["propertyOrdering"] == list(vertex_schema(shape)["properties"])
    types.GenerateContentConfig(response_mime_type="application/json", response_schema=vertex_schema(shape))


def test_fields_the_phase_fills_in_are_not_asked():
    assert "processing_metadata" not in vertex_schema(model.Concept)["properties"]
    assert "story_context" in vertex_schema(model.Concept)["properties"]  # phase 1 asks for it
    assert "story_context" not in vertex_schema(model.Characters)["properties"]  # later ones carry it
    assert "reference_images" not in vertex_schema(model.Characters)["properties"]
    beat = vertex_schema(model.Plot)["properties"]["scenes"]["items"]["properties"]["beats"]["items"]
    assert "source" not in beat["properties"]
    assert not {"image_uri", "attempt", "fallback", "provenance"} & set(vertex_schema(model.PanelImage)["properties"])


def test_null_is_asked_only_where_the_field_must_be_there():
    plot = vertex_schema(model.Plot)
    beat = plot["properties"]["scenes"]["items"]["properties"]["beats"]["items"]
    assert beat["properties"]["speaker"] == {"type": "STRING", "nullable": True,
                                              "description": "The speaking character's id for a line; null for prose."}
    assert "speaker" in beat["required"]
    assert plot["properties"]["pacing"] == {"type": "STRING", "enum": ["fast", "slow"],
                                            "description": "Only after pacing feedback."}
    assert "pacing" not in plot["required"]


def test_descriptions_can_be_left_out():
    bare = json.dumps(vertex_schema(model.Storyboard, descriptions=False))
    assert '"description"' not in bare


def test_a_shape_vertex_cannot_take_is_named():
    with pytest.raises(NotAskable, match=r"Evaluation\.checks"):
        vertex_schema(model.Evaluation)


@pytest.fixture(scope="module")
def answers() -> dict:
    """The offline provider's answers for a Japanese and an English story: what the local stand-in
    answers, in the shape the phases ask the model for."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    provider, found = OfflineProvider(), {}
    for name in ("lantern-festival.ja.txt", "the-last-robot-gardener.en.txt"):
        inputs = {"text": (examples / name).read_text(encoding="utf-8"), "pages": 2}
        inputs["concept"] = provider.concept(inputs, None)
        inputs["characters"] = provider.characters(inputs, None)
        inputs["plot"] = provider.plot(inputs, None)
        inputs["storyboard"] = provider.storyboard(inputs, None)
        panel = inputs["storyboard"]["pages"][0]["panels"][0]["panel_id"]
        found[name] = {model.Concept: inputs["concept"], model.Characters: inputs["characters"],
                       model.Plot: inputs["plot"], model.Storyboard: inputs["storyboard"],
                       model.PanelImage: provider.panel_description(inputs, panel, None)}
    return found


def _asked_part(value, schema):
    if schema["type"] == "OBJECT" and isinstance(value, dict):
        return {k: _asked_part(v, schema["properties"][k]) for k, v in value.items() if k in schema["properties"]}
    if schema["type"] == "ARRAY" and isinstance(value, list):
        return [_asked_part(v, schema["items"]) for v in value]
    return value


@pytest.mark.parametrize("shape", ASKED, ids=lambda m: m.__name__)
def test_conform_keeps_real_answers_whole_with_the_generated_schema(answers, shape):
    schema = vertex_schema(shape)
    for story, by_shape in answers.items():
        answer = _asked_part(copy.deepcopy(by_shape[shape]), schema)
        # with nothing to fall back on, any field the schema refused would come back missing
        assert vertex.conform(copy.deepcopy(answer), schema, {}) == answer, story


def test_each_call_gives_a_schema_of_its_own():
    first = vertex_schema(model.Storyboard)
    first["properties"].clear()  # as the SDK may, editing in place
    assert set(vertex_schema(model.Storyboard)["properties"]) == {"reading_direction", "page_size_px", "pages",
                                                                    "applied_feedback", "condensed"}
