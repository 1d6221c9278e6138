"""Phase 1: concept and world from the story; feedback changes tone, genre and audience."""
from datetime import datetime

from _text_phase_runs import GARDENER, LANTERN, run_text_phases, story, without_metadata


def concept(text: str, feedback: dict | None = None, **request) -> dict:
    return run_text_phases(text, upto=1, feedback=feedback, **request)["concept"]


def test_lantern_concept_is_japanese_rtl_with_its_themes_and_places():
    out = concept(story(LANTERN), style="shojo", title="灯籠")
    assert out["genre"] == "shojo"
    assert out["story_context"] == {**out["story_context"], "language": "ja", "reading_direction": "rtl",
                                    "title": "灯籠", "pages": 8, "style": "shojo"}
    assert "再会" in out["themes"] and "家族と継承" in out["themes"]
    assert "浜辺" in out["world_setting"] and "店" in out["world_setting"]
    assert 1 <= out["estimated_pages"] <= 32


def test_gardener_concept_is_english_ltr_and_names_no_character_as_keyword():
    out = concept(story(GARDENER))
    assert out["story_context"]["language"] == "en" and out["story_context"]["reading_direction"] == "ltr"
    assert "nature and care" in out["themes"]
    assert "bees" in out["keywords"] and "moss" not in out["keywords"]
    assert out["story_context"]["title"]  # derived when the request has none


def test_output_carries_processing_metadata_with_an_aware_timestamp():
    meta = concept("A cat sat on the wall.")["processing_metadata"]
    assert meta["phase"] == 1 and meta["status"] == "completed"
    assert datetime.fromisoformat(meta["timestamp"]).tzinfo is not None


def test_brighter_and_more_serious_move_the_tone_apart():
    text = story(LANTERN)
    base = concept(text)["tone"]
    brighter = concept(text, {"option": "brighter", "intensity": 1.0})["tone"]
    serious = concept(text, {"option": "more_serious", "intensity": 1.0})["tone"]
    assert len({base, brighter, serious}) == 3
    assert brighter == "bright" and serious in ("somber", "serious")


def test_free_text_feedback_is_understood():
    assert concept(story(LANTERN), {"text": "もっと明るくして"})["tone"] == "bright"


def test_change_genre_uses_the_named_genre():
    assert concept(story(GARDENER), {"option": "change_genre", "text": "make it seinen"})["genre"] == "seinen"


def test_change_target_age_younger_targets_children():
    out = concept(story(GARDENER), {"option": "change_target_age", "text": "for younger kids"})
    assert out["genre"] == "kodomo" and "children" in out["target_audience"]


def test_concept_is_deterministic():
    text = story(GARDENER)
    assert without_metadata(concept(text)) == without_metadata(concept(text))


def test_odd_stories_still_give_a_complete_concept():
    for text in ("猫が塀の上に座っていた。", "<b>{{x}}</b> SELECT 1; --", "x" * 50000):
        out = concept(text)
        assert all(out[k] for k in ("theme", "themes", "genre", "tone", "keywords", "world_setting"))
