"""Evaluators: good outputs score 1.0; each kind of breakage lowers its check and gives a hint."""
import copy
import sys
from pathlib import Path

import pytest

from mangaflow import quality
from mangaflow.phases.phase5_images import describe_panel
from mangaflow.providers import OfflineProvider

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "phases"))
from _text_phase_runs import LANTERN, panels, run_text_phases, story  # noqa: E402


@pytest.fixture(scope="module")
def good() -> dict:
    return run_text_phases(story(LANTERN))


def judge(phase: int, output: dict, inputs: dict) -> dict:
    return quality.evaluate(phase, output, inputs)


@pytest.mark.parametrize("phase, key", [(1, "concept"), (2, "characters"), (3, "plot"), (4, "storyboard")])
def test_offline_outputs_score_full_marks(good, phase, key):
    result = judge(phase, good[key], good)
    assert result["score"] == 1.0 and result["hints"] == []


def test_not_a_dict_or_unknown_phase_scores_zero(good):
    assert judge(1, [], good)["score"] == 0.0
    assert judge(9, {}, good)["score"] == 0.0 and judge(9, {}, good)["hints"]


def broken(good: dict, key: str, change) -> dict:
    output = copy.deepcopy(good[key])
    change(output)
    return output


# ---- phase 1

@pytest.mark.parametrize("change, check", [
    (lambda o: o.pop("theme"), "fields_complete"),
    (lambda o: o.update(genre="noir"), "genre_known"),
    (lambda o: o.update(estimated_pages=99), "estimated_pages_in_range"),
    (lambda o: o["story_context"].update(reading_direction="ltr"), "reading_direction_matches_language"),
    (lambda o: o["story_context"].update(pages=3), "pages_carried"),
    (lambda o: o["processing_metadata"].update(timestamp="2026-01-01T00:00:00"), "processing_metadata"),
])
def test_phase1_checks_catch_breakage(good, change, check):
    result = judge(1, broken(good, "concept", change), good)
    assert result["checks"][check] < 1 and result["score"] < 1 and result["hints"]


# ---- phase 2

def _same_outfit(o):
    o["characters"][1]["palette"]["outfit"] = o["characters"][0]["palette"]["outfit"]


@pytest.mark.parametrize("change, check", [
    (lambda o: o["characters"][0].pop("palette"), "character_fields"),
    (lambda o: o["characters"][1].update(id="c1"), "ids_unique"),
    (_same_outfit, "palettes_distinct"),
    (lambda o: o["characters"][1].update(role="protagonist"), "one_protagonist"),
    (lambda o: o["relationships"].append({"a": "c1", "b": "c99", "kind": "x"}), "relationships_known"),
    (lambda o: o.update(reference_images=[{}, {}, {}]), "reference_images_limit"),
    (lambda o: o["characters"][0]["figure"].update(height=3), "character_fields"),
])
def test_phase2_checks_catch_breakage(good, change, check):
    result = judge(2, broken(good, "characters", change), good)
    assert result["checks"][check] < 1 and result["hints"]


# ---- phase 3

def _drop_line(o):
    scene = next(s for s in o["scenes"] if any(b["kind"] == "dialogue" for b in s["beats"]))
    scene["beats"] = [b for b in scene["beats"] if b["kind"] != "dialogue"]


def _double_line(o):
    scene = next(s for s in o["scenes"] if any(b["kind"] == "dialogue" for b in s["beats"]))
    scene["beats"].append(dict(next(b for b in scene["beats"] if b["kind"] == "dialogue")))


@pytest.mark.parametrize("change, check", [
    (_drop_line, "quotes_once"),
    (_double_line, "quotes_once"),
    (lambda o: o["scenes"][0]["characters"].append("c42"), "scene_characters_exist"),
    (lambda o: next(b for s in o["scenes"] for b in s["beats"] if b["kind"] == "dialogue").update(speaker="c9"),
     "speakers_exist"),
    (lambda o: o["scenes"][0].update(beats=[b for b in o["scenes"][0]["beats"] if b["kind"] == "dialogue"]),
     "narration_in_every_scene"),
    (lambda o: o["scenes"][1].update(scene_id="s1"), "scene_ids_unique"),
    (lambda o: o["emotional_arc"].pop(), "emotional_arc_matches"),
    (lambda o: o["page_allocation"][0].update(pages=40), "page_allocation_matches"),
    (lambda o: o["scenes"][0].update(importance=1.0) or o["scenes"][-2].update(importance=0.1)
     or [s.update(importance=min(s["importance"], 0.5)) for s in o["scenes"][1:]], "climax_weighted"),
    (lambda o: o["scenes"][0]["setting"].update(weather="tornado"), "scene_fields"),
    (lambda o: o.update(story_structure="five_act"), "structure_known"),
])
def test_phase3_checks_catch_breakage(good, change, check):
    result = judge(3, broken(good, "plot", change), good)
    assert result["checks"][check] < 1 and result["hints"]


# ---- phase 4

def _page_with_panels(o, n):
    return next(p for p in o["pages"] if len(p["panels"]) >= n)


def _overlap(o):
    page = _page_with_panels(o, 3)
    page["panels"][1]["bbox"] = list(page["panels"][0]["bbox"])


def _outside(o):
    o["pages"][0]["panels"][0]["bbox"] = [0.5, 0.5, 0.8, 0.8]


def _two_panels(o):
    page = _page_with_panels(o, 3)
    page["panels"] = page["panels"][:2]


def _order_gap(o):
    _page_with_panels(o, 3)["panels"][0]["reading_order"] = 7


def _wrong_first(o):
    page = _page_with_panels(o, 3)
    first = next(p for p in page["panels"] if p["reading_order"] == 1)
    last = max(page["panels"], key=lambda p: (p["bbox"][1], -p["bbox"][0]))
    first["reading_order"], last["reading_order"] = last["reading_order"], 1


def _lose_line(o):
    panel = next(p for page in o["pages"] for p in page["panels"] if any(d["speaker"] for d in p["dialogues"]))
    panel["dialogues"] = [d for d in panel["dialogues"] if not d["speaker"]]


def _overload(o):
    panel = o["pages"][0]["panels"][0]
    panel["dialogues"] = [{"speaker": None, "text": "長い台詞" * 5, "kind": "speech"} for _ in range(4)]


@pytest.mark.parametrize("change, check", [
    (lambda o: o["pages"].pop(), "page_count"),
    (_two_panels, "panels_per_page"),
    (_overlap, "panels_do_not_overlap"),
    (_outside, "bboxes_inside_page"),
    (_order_gap, "reading_order_permutation"),
    (_wrong_first, "reading_direction"),
    (_lose_line, "quotes_once"),
    (_overload, "dialogue_load"),
    (lambda o: o["pages"][0]["panels"][0]["characters"].append("c77"), "panel_characters_exist"),
    (lambda o: o["pages"][0]["panels"][0].update(camera_angle="dutch"), "panel_fields"),
    (lambda o: o["pages"][1]["panels"][0].update(panel_id=o["pages"][0]["panels"][0]["panel_id"]), "panel_ids_unique"),
    (lambda o: [p.update(size="medium") for pg in o["pages"] for p in pg["panels"] if p["size"] != "splash"]
     and [p.update(size="small") for pg in o["pages"] for p in pg["panels"]], "climax_emphasis"),
])
def test_phase4_checks_catch_breakage(good, change, check):
    result = judge(4, broken(good, "storyboard", change), good)
    assert result["checks"][check] < 1 and result["hints"]


def test_phase4_dropping_a_line_fails_the_gate_threshold_more_than_tidiness(good):
    lost = judge(4, broken(good, "storyboard", _lose_line), good)["score"]
    gap = judge(4, broken(good, "storyboard", lambda o: o["pages"][0]["panels"][0].update(camera_angle="x")), good)
    assert lost < gap["score"]


# ---- phase 5

@pytest.fixture(scope="module")
def described(good) -> dict:
    items = [dict(describe_panel(good, p["panel_id"], None, OfflineProvider()), image_uri="gs://b/p.png",
                  fallback="none") for p in panels(good["storyboard"])]
    return {"image_descriptions": items}


def test_phase5_complete_aggregate_scores_full(good, described):
    assert judge(5, described, good)["score"] == 1.0


@pytest.mark.parametrize("change, check", [
    (lambda o: o["image_descriptions"].pop(), "every_panel_once"),
    (lambda o: o["image_descriptions"][0].update(fallback="placeholder"), "placeholder_free"),
    (lambda o: o["image_descriptions"][0].update(image_uri=""), "images_stored"),
    (lambda o: o["image_descriptions"][0].update(staging=[{"character_id": "c1", "x": 2, "y": 0.5, "scale": 1,
                                                           "facing": "left", "expression": "smile"}]),
     "descriptions_complete"),
])
def test_phase5_checks_catch_breakage(good, described, change, check):
    output = copy.deepcopy(described)
    change(output)
    result = judge(5, output, good)
    assert result["checks"][check] < 1 and result["hints"]


# ---- phase 6

def lettering_output(good: dict) -> dict:
    entries = []
    for panel in panels(good["storyboard"]):
        placements = [{"dialogue_index": i, "box": [0.1, 0.1, 0.3, 0.3], "shape": "oval", "tail": [0.5, 0.5],
                       "vertical": True, "font": "sans", "font_size_px": 40, "lines": [d["text"]]}
                      for i, d in enumerate(panel["dialogues"])]
        entries.append({"panel_id": panel["panel_id"], "dialogues": panel["dialogues"], "placements": placements})
    return {"dialogue_placements": entries}


def test_phase6_complete_lettering_scores_full(good):
    assert judge(6, lettering_output(good), good)["score"] == 1.0


def _overflowing(o):
    o["dialogue_placements"][0]["placements"][0]["overflow"] = True


def _box_outside(o):
    o["dialogue_placements"][0]["placements"][0]["box"] = [0.9, 0.9, 0.5, 0.5]


def _unplaced(o):
    o["dialogue_placements"][0]["placements"].pop()


def _unlettered(o):
    entry = next(e for e in o["dialogue_placements"] if any(d["speaker"] for d in e["dialogues"]))
    entry["dialogues"] = [d for d in entry["dialogues"] if not d["speaker"]]
    entry["placements"] = entry["placements"][: len(entry["dialogues"])]


@pytest.mark.parametrize("change, check", [
    (_overflowing, "no_overflow"), (_box_outside, "every_dialogue_placed"), (_unplaced, "every_dialogue_placed"),
    (_unlettered, "quotes_lettered"),
])
def test_phase6_checks_catch_breakage(good, change, check):
    output = lettering_output(good)
    change(output)
    result = judge(6, output, good)
    assert result["checks"][check] < 1 and result["hints"]


# ---- phase 7

def final_output(categories: dict) -> dict:
    return {"pages": [{"page": i, "uri": f"gs://b/{i:03d}.png"} for i in range(1, 9)],
            "exports": {"pdf": "gs://b/m.pdf", "cbz": "gs://b/m.cbz", "manifest": "gs://b/m.json"},
            "quality_checks": {**categories, "overall": quality.weighted_overall(categories), "text_overflow": 0,
                               "quotes_lettered": 1.0}}


def test_weighted_overall_uses_the_pipeline_weights():
    assert sum(quality.CATEGORY_WEIGHTS.values()) == pytest.approx(1.0)
    only_visual = {k: (1.0 if k == "visual_consistency" else 0.0) for k in quality.CATEGORY_WEIGHTS}
    assert quality.weighted_overall(only_visual) == 0.25


def test_phase7_scores_the_categories_and_the_technical_checks(good):
    perfect = final_output({k: 1.0 for k in quality.CATEGORY_WEIGHTS})
    assert judge(7, perfect, good)["score"] == 1.0
    weak = final_output({k: 0.4 for k in quality.CATEGORY_WEIGHTS})
    assert judge(7, weak, good)["score"] < judge(7, perfect, good)["score"]


@pytest.mark.parametrize("change, check", [
    (lambda o: o["quality_checks"].update(text_overflow=2), "no_text_overflow"),
    (lambda o: o["quality_checks"].update(overall=0.1), "overall_consistent"),
    (lambda o: o["pages"].pop(), "page_count"),
    (lambda o: o["exports"].pop("cbz"), "exports_present"),
    (lambda o: o["quality_checks"].pop("pacing"), "categories_present"),
])
def test_phase7_checks_catch_breakage(good, change, check):
    output = final_output({k: 1.0 for k in quality.CATEGORY_WEIGHTS})
    change(output)
    result = judge(7, output, good)
    assert result["checks"][check] < 1 and result["score"] < 1
