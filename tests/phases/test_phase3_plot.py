"""Phase 3: scenes in story order with every quoted line once; pacing feedback."""
from collections import Counter

from mangaflow.story import extract_quotes, normalise

from _text_phase_runs import GARDENER, LANTERN, names_by_id, run_text_phases, story, without_metadata


def plot_inputs(text: str, pages: int = 8, feedback: dict | None = None) -> dict:
    return run_text_phases(text, pages=pages, upto=3, feedback=feedback)


def dialogue_lines(plot: dict) -> list[str]:
    return [b["text"] for s in plot["scenes"] for b in s["beats"] if b["kind"] == "dialogue"]


def test_every_quoted_line_is_one_dialogue_beat_in_story_order():
    for name in (LANTERN, GARDENER):
        text = story(name)
        lines = dialogue_lines(plot_inputs(text)["plot"])
        assert lines == [q.text for q in extract_quotes(normalise(text))]


def test_lantern_speakers_are_the_real_speakers():
    inputs = plot_inputs(story(LANTERN))
    names = names_by_id(inputs)
    speakers = [names[b["speaker"]] for s in inputs["plot"]["scenes"] for b in s["beats"] if b["kind"] == "dialogue"]
    assert speakers == ["春香", "蒼太", "春香", "蒼太", "春香", "蒼太"]


def test_lantern_structure_is_kishotenketsu_with_the_climax_in_the_second_half():
    plot = plot_inputs(story(LANTERN))["plot"]
    assert plot["story_structure"] == "kishotenketsu"
    acts = [s["act"] for s in plot["scenes"]]
    assert acts[0] == "ki" and "ten" in acts and acts[-1] == "ketsu"
    importance = [s["importance"] for s in plot["scenes"]]
    peak = importance.index(max(importance))
    assert peak >= len(importance) / 2 and plot["scenes"][peak]["emotion"] == "climax"
    assert len(plot["emotional_arc"]) == len(plot["scenes"])
    assert abs(sum(a["pages"] for a in plot["page_allocation"]) - 8) < 0.05


def test_storm_scene_has_storm_weather_at_night_indoors():
    plot = plot_inputs(story(LANTERN))["plot"]
    storm = next(s for s in plot["scenes"] if any("嵐が来た" in b["text"] for b in s["beats"]))
    assert storm["setting"] == {"place": "店", "time_of_day": "night", "weather": "storm", "indoor": True}


def test_gardener_is_three_acts_and_scene_characters_exist():
    inputs = plot_inputs(story(GARDENER))
    plot, ids = inputs["plot"], set(names_by_id(inputs))
    assert plot["story_structure"] == "three_act"
    assert all(set(s["characters"]) <= ids for s in plot["scenes"])
    assert [s["act"] for s in plot["scenes"]][-1] == "resolution"


def test_output_carries_characters_and_story_context():
    inputs = plot_inputs(story(GARDENER))
    assert inputs["plot"]["characters"] == inputs["characters"]["characters"]
    assert inputs["plot"]["story_context"] == inputs["concept"]["story_context"]


def test_faster_pacing_gives_fewer_scenes_and_slower_more_room():
    text = story(LANTERN)
    base = plot_inputs(text)["plot"]
    faster = plot_inputs(text, feedback={"option": "faster_pacing", "intensity": 1.0})["plot"]
    slower = plot_inputs(text, feedback={"option": "slower_pacing", "intensity": 1.0})["plot"]
    assert len(faster["scenes"]) < len(base["scenes"])
    assert Counter(dialogue_lines(faster)) == Counter(dialogue_lines(base))  # lines are never dropped
    assert faster["pacing"] == "fast" and slower["pacing"] == "slow"
    assert min(s["importance"] for s in slower["scenes"]) > min(s["importance"] for s in base["scenes"])


def test_stronger_climax_lowers_every_other_scene():
    text = story(GARDENER)
    base = plot_inputs(text)["plot"]["scenes"]
    strong = plot_inputs(text, feedback={"option": "stronger_climax", "intensity": 1.0})["plot"]["scenes"]
    for before, after in zip(base, strong):
        if before["emotion"] == "climax":
            assert after["importance"] == before["importance"] == 1.0
        else:
            assert after["importance"] < before["importance"]


def test_add_episode_inserts_a_scene_before_the_climax():
    plot = plot_inputs(story(GARDENER), feedback={"option": "add_episode",
                                                  "text": "Ines and Moss plant a seed together."})["plot"]
    added = next(i for i, s in enumerate(plot["scenes"]) if s.get("added_by_feedback"))
    assert plot["scenes"][added + 1]["emotion"] == "climax"
    assert plot["scenes"][added]["beats"][0]["text"] == "Ines and Moss plant a seed together."


def test_plot_is_deterministic():
    text = story(LANTERN)
    assert without_metadata(plot_inputs(text)["plot"]) == without_metadata(plot_inputs(text)["plot"])


def test_no_quotes_and_no_names_still_give_narrated_scenes():
    plot = plot_inputs("The rain fell on the empty town. Nobody came to the station that night.")["plot"]
    assert plot["scenes"] and all(s["beats"] for s in plot["scenes"])
    assert dialogue_lines(plot) == []


def test_a_character_removed_in_phase_2_disappears_from_the_plot():
    inputs = run_text_phases(story(LANTERN), upto=3, feedback={"option": "remove_character", "text": "祖父を削除"},
                             feedback_phase=2)
    assert "祖父" not in names_by_id(inputs).values()
    ids = set(names_by_id(inputs))
    for scene in inputs["plot"]["scenes"]:
        assert set(scene["characters"]) <= ids
        assert all(b["speaker"] is None or b["speaker"] in ids for b in scene["beats"])


def test_an_evaluator_hint_about_the_climax_is_answered_on_retry():
    text = story(GARDENER)
    base = plot_inputs(text)["plot"]["scenes"]
    hinted = plot_inputs(text, feedback={"hints": ["give the climax (in the second half) the highest importance"]})
    others = [s["importance"] for s in hinted["plot"]["scenes"] if s["emotion"] != "climax"]
    assert max(others) < max(s["importance"] for s in base if s["emotion"] != "climax")
