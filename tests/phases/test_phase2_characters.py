"""Phase 2: the story's real people with consistent looks; feedback adds, removes and restyles."""
from _text_phase_runs import GARDENER, LANTERN, run_text_phases, story, without_metadata


def cast(text: str, feedback: dict | None = None) -> dict:
    return run_text_phases(text, upto=2, feedback=feedback)["characters"]


def by_name(out: dict) -> dict:
    return {c["name"]: c for c in out["characters"]}


def test_lantern_characters_are_haruka_sota_and_grandfather_with_aliases():
    out = cast(story(LANTERN))
    chars = by_name(out)
    assert list(chars) == ["春香", "蒼太", "祖父"]
    assert chars["春香"]["role"] == "protagonist" and chars["蒼太"]["role"] == "deuteragonist"
    assert set(chars["祖父"]["aliases"]) == {"じいちゃん", "おじいさん"}
    assert chars["祖父"]["figure"]["age"] == "elder"
    kinds = {(r["a"], r["b"]): r["kind"] for r in out["relationships"]}
    assert kinds[(chars["春香"]["id"], chars["蒼太"]["id"])] == "childhood friends"
    assert kinds[(chars["蒼太"]["id"], chars["祖父"]["id"])] == "grandfather"


def test_gardener_moss_is_a_robot_and_ines_a_teenage_girl():
    chars = by_name(cast(story(GARDENER)))
    assert {"Moss", "Ines", "the Chief Inspector"} <= set(chars)
    assert chars["Moss"]["figure"]["build"] == "robot" and chars["Moss"]["role"] == "protagonist"
    assert chars["Ines"]["figure"]["age"] == "teen" and "girl" in chars["Ines"]["visual_description"]


def test_palettes_are_distinct_and_valid():
    for name in (LANTERN, GARDENER):
        chars = cast(story(name))["characters"]
        outfits = [c["palette"]["outfit"] for c in chars]
        assert len(set(outfits)) == len(outfits)
        assert all(len(v) == 7 and v.startswith("#") for c in chars for v in c["palette"].values())


def test_reference_requests_name_at_most_two_main_characters():
    out = cast(story(LANTERN))
    assert [r["character_id"] for r in out["reference_requests"]] == ["c1", "c2"]
    assert out["reference_images"] == []


def test_characters_are_deterministic():
    assert without_metadata(cast(story(GARDENER))) == without_metadata(cast(story(GARDENER)))


def test_add_character_uses_the_name_given():
    out = cast(story(LANTERN), {"option": "add_character", "text": "「美咲」という妹を追加して"})
    added = out["characters"][-1]
    assert added["name"] == "美咲" and added["id"] == "c4" and added["role"] == "supporting"


def test_remove_character_drops_the_named_one():
    names = [c["name"] for c in cast(story(GARDENER), {"option": "remove_character",
                                                        "text": "remove the City Council"})["characters"]]
    assert "the City Council" not in names and "Moss" in names


def test_visual_feedback_changes_the_named_characters_hair():
    before = by_name(cast(story(LANTERN)))["蒼太"]
    after = by_name(cast(story(LANTERN), {"option": "visual", "text": "蒼太の髪を赤に"}))["蒼太"]
    assert after["palette"]["hair"] != before["palette"]["hair"]
    assert by_name(cast(story(LANTERN)))["春香"]["palette"] == by_name(
        cast(story(LANTERN), {"option": "visual", "text": "蒼太の髪を赤に"}))["春香"]["palette"]


def test_personality_feedback_is_applied_to_the_protagonist_by_default():
    chars = by_name(cast(story(GARDENER), {"option": "personality", "text": "more stubborn"}))
    assert chars["Moss"]["personality"].startswith("more stubborn")


def test_a_story_without_people_has_an_empty_cast_and_a_speaker_only_story_a_stranger():
    assert cast("The rain fell on the empty town.")["characters"] == []
    assert [c["name"] for c in cast('"Who is there?" she asked.')["characters"]] == ["the stranger"]
