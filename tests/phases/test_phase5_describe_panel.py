"""Phase 5 (text part): panel descriptions and the staging phase 6 aims bubble tails at."""
import pytest

from mangaflow.errors import NotFound, ValidationError
from mangaflow.phases.phase5_images import describe_panel
from mangaflow.providers import OfflineProvider

from _text_phase_runs import GARDENER, LANTERN, panels, run_text_phases, story


@pytest.fixture(scope="module")
def lantern() -> dict:
    return run_text_phases(story(LANTERN))


def test_every_panel_has_a_description_with_setting_mood_and_staging(lantern):
    for panel in panels(lantern["storyboard"]):
        out = describe_panel(lantern, panel["panel_id"], None, OfflineProvider())
        assert out["panel_id"] == panel["panel_id"] and out["description"] and out["prompt"]
        assert out["camera_angle"] == panel["camera_angle"]
        assert {s["character_id"] for s in out["staging"]} <= set(out["characters"])
        assert all(0 <= s["x"] <= 1 and 0 <= s["y"] <= 1 for s in out["staging"])
        assert "image_uri" not in out


def test_two_figures_face_each_other_and_the_first_speaker_stands_right_in_rtl(lantern):
    panel = next(p for p in panels(lantern["storyboard"])
                 if len({d["speaker"] for d in p["dialogues"] if d["speaker"]}) == 2)
    out = describe_panel(lantern, panel["panel_id"], None, OfflineProvider())
    first_speaker = next(d["speaker"] for d in panel["dialogues"] if d["speaker"])
    staged = {s["character_id"]: s for s in out["staging"]}
    assert staged[first_speaker]["x"] > 0.5 and staged[first_speaker]["facing"] == "left"
    other = next(s for c, s in staged.items() if c != first_speaker)
    assert other["facing"] == "right"


def test_storm_scene_is_described_as_storm_at_night(lantern):
    storm = next(s["scene_id"] for s in lantern["plot"]["scenes"] if s["setting"]["weather"] == "storm")
    panel = next(p for p in panels(lantern["storyboard"]) if p["scene_id"] == storm)
    out = describe_panel(lantern, panel["panel_id"], None, OfflineProvider())
    assert out["setting"]["weather"] == "storm" and "storm" in out["description"]
    assert "night" in out["description"]


def test_close_ups_are_bigger_than_wide_shots():
    inputs = run_text_phases(story(GARDENER))
    scale = {}
    for panel in panels(inputs["storyboard"]):
        out = describe_panel(inputs, panel["panel_id"], None, OfflineProvider())
        for s in out["staging"]:
            scale.setdefault(out["camera_angle"], []).append(s["scale"])
    assert min(scale["close_up"]) > max(scale["wide"])


def test_expression_follows_a_shouted_line():
    inputs = run_text_phases("「待って！！」と春香は叫んだ。蒼太は振り向いた。", pages=1)
    panel = next(p for p in panels(inputs["storyboard"]) if any(d["kind"] == "shout" for d in p["dialogues"]))
    out = describe_panel(inputs, panel["panel_id"], None, OfflineProvider())
    assert out["staging"][0]["expression"] == "angry"


def test_feedback_changes_the_description(lantern):
    pid = panels(lantern["storyboard"])[0]["panel_id"]
    plain = describe_panel(lantern, pid, None, OfflineProvider())["description"]
    styled = describe_panel(lantern, pid, {"option": "art_style", "text": "watercolour"}, OfflineProvider())
    assert styled["description"] != plain and "watercolour" in styled["description"]


def test_unknown_panel_and_missing_storyboard_are_clear_errors(lantern):
    with pytest.raises(NotFound) as err:
        describe_panel(lantern, "p99-9", None, OfflineProvider())
    assert err.value.status == 404 and err.value.field == "panel_id"
    with pytest.raises(ValidationError):
        describe_panel({"text": "x"}, "p01-1", None, OfflineProvider())
