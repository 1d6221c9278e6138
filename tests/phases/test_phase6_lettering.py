"""Phase 6 lettering: every quote lettered, nothing overflows, bubbles stay in their panel, clear
of each other, read in order, and point at their speakers; feedback changes the result."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from mangaflow.phases import phase6_lettering
from mangaflow.render.lettering import measure_lettering
from mangaflow.render.pages import panel_rects_px
from mangaflow.render.typesetting import join_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Three-tier page templates (bbox in the live area, with gutters), panels listed in rtl reading order.
_TEMPLATES = [
    [[0.51, 0.0, 0.49, 0.32], [0.0, 0.0, 0.49, 0.32], [0.0, 0.34, 1.0, 0.32], [0.51, 0.68, 0.49, 0.32], [0.0, 0.68, 0.49, 0.32]],
    [[0.0, 0.0, 1.0, 0.45], [0.34, 0.47, 0.66, 0.26], [0.0, 0.47, 0.32, 0.26], [0.0, 0.75, 1.0, 0.25]],
    [[0.51, 0.0, 0.49, 0.24], [0.0, 0.0, 0.49, 0.24], [0.51, 0.26, 0.49, 0.24], [0.0, 0.26, 0.49, 0.24],
     [0.0, 0.52, 1.0, 0.48]],
    [[0.41, 0.0, 0.59, 0.38], [0.0, 0.0, 0.39, 0.38], [0.51, 0.40, 0.49, 0.28], [0.0, 0.40, 0.49, 0.28],
     [0.51, 0.70, 0.49, 0.30], [0.0, 0.70, 0.49, 0.30]],
]


def story_dialogues(language: str) -> list[dict]:
    """The sample story as phase 4 would hand it over: quotes as speech (alternating speakers),
    the prose between them as narration captions, plus a thought, a shout and sound effects."""
    text = (EXAMPLES / ("lantern-festival.ja.txt" if language == "ja" else "the-last-robot-gardener.en.txt")).read_text("utf-8")
    quote = r"「([^」]+)」" if language == "ja" else r"\"([^\"]+)\""
    sentence_end = r"(?<=[。])" if language == "ja" else r"(?<=[.!?])\s+"
    out: list[dict] = []
    speaker = 0
    for paragraph in [p for p in text.split("\n") if p.strip()]:
        pos = 0
        for m in re.finditer(quote, paragraph):
            prose = paragraph[pos:m.start()].strip()
            if len(prose) > 8:
                out.append({"speaker": None, "text": re.split(sentence_end, prose)[0].strip(), "kind": "narration"})
            out.append({"speaker": ["c1", "c2"][speaker % 2], "text": m.group(1), "kind": "speech"})
            speaker += 1
            pos = m.end()
        rest = paragraph[pos:].strip()
        if len(rest) > 8:
            out.append({"speaker": None, "text": re.split(sentence_end, rest)[0].strip(), "kind": "narration"})
    extras = (
        [{"speaker": "c2", "text": "もう無理だ！", "kind": "shout"},
         {"speaker": "c1", "text": "きっと、間に合う……", "kind": "thought"},
         {"speaker": None, "text": "ザアアア", "kind": "sfx"}, {"speaker": None, "text": "ドン", "kind": "sfx"}]
        if language == "ja" else
        [{"speaker": "c2", "text": "Stop right there!", "kind": "shout"},
         {"speaker": "c1", "text": "Twelve bees... there were only eleven.", "kind": "thought"},
         {"speaker": None, "text": "BZZZ", "kind": "sfx"}, {"speaker": None, "text": "KRAK", "kind": "sfx"}])
    return out + extras


def sample_story(language: str, pages: int = 8) -> tuple[dict, dict]:
    """(storyboard, phase 5 aggregate) for an 8-page book of about 40 panels."""
    dialogues = story_dialogues(language)
    direction = "rtl" if language == "ja" else "ltr"
    all_panels = []
    page_list = []
    for number in range(1, pages + 1):
        panels = []
        for order, bbox in enumerate(_TEMPLATES[(number - 1) % len(_TEMPLATES)], start=1):
            if direction == "ltr":
                bbox = [round(1 - bbox[0] - bbox[2], 4), bbox[1], bbox[2], bbox[3]]
            panel = {"panel_id": f"p{number:02d}-{order}", "page": number, "reading_order": order,
                     "layout_type": "tier", "size": "large" if bbox[2] * bbox[3] > 0.3 else "medium",
                     "camera_angle": "medium", "bbox": bbox, "scene_id": "s1",
                     "scene_description": "harbour town at night", "characters": ["c1", "c2"], "dialogues": []}
            panels.append(panel)
            all_panels.append(panel)
        page_list.append({"page": number, "panels": panels})
    # Spread the dialogue over the panels: one or two per panel, as a storyboard would.
    slot = 0
    for i, dialogue in enumerate(dialogues):
        all_panels[slot % len(all_panels)]["dialogues"].append(dialogue)
        slot += 1 if i % 3 else 2
    storyboard = {"reading_direction": direction, "page_size_px": [2150, 3035], "pages": page_list,
                  "story_context": {"language": language, "title": "灯籠の夏" if language == "ja" else "The Last Robot Gardener",
                                    "summary": "A summer festival story", "reading_direction": direction},
                  "characters": [{"id": "c1", "name": "春香"}, {"id": "c2", "name": "蒼太"}]}
    descriptions = []
    for page in page_list:
        rects = panel_rects_px(page, (2150, 3035))
        for panel in page["panels"]:
            _, _, w, h = rects[panel["panel_id"]]
            descriptions.append({"panel_id": panel["panel_id"], "size_px": [w, h], "fallback": "none",
                                 "staging": [{"character_id": "c1", "x": 0.3, "y": 0.55, "scale": 1.0, "facing": "right"},
                                             {"character_id": "c2", "x": 0.72, "y": 0.5, "scale": 1.0, "facing": "left"}]})
    return storyboard, {"image_descriptions": descriptions}


def lettered(language: str, feedback: dict | None = None, storyboard=None, images=None) -> dict:
    if storyboard is None:
        storyboard, images = sample_story(language)
    return phase6_lettering.run({"storyboard": storyboard, "images": images, "language": language}, feedback)


@pytest.fixture(scope="module", params=["ja", "en"])
def result(request):
    return request.param, lettered(request.param)


def _px(box, size):
    return box[0] * size[0], box[1] * size[1], (box[0] + box[2]) * size[0], (box[1] + box[3]) * size[1]


def test_no_overflow_for_the_sample_stories(result):
    _, output = result
    assert output["lettering"]["overflow"] == 0
    assert output["lettering"]["collisions"] == 0
    for panel in output["dialogue_placements"]:
        assert measure_lettering(panel["placements"], panel["panel_size_px"])["overflow"] == 0


def test_every_dialogue_text_is_lettered(result):
    _, output = result
    for panel in output["dialogue_placements"]:
        for index, dialogue in enumerate(panel["dialogues"]):
            parts = [p for p in panel["placements"] if p["dialogue_index"] == index]
            assert parts, dialogue
            joined = "".join(join_lines(p["lines"], p["vertical"]) for p in parts)
            assert "".join(joined.split()) == "".join(dialogue["text"].split())


def test_bubbles_stay_inside_their_panel_and_apart(result):
    _, output = result
    for panel in output["dialogue_placements"]:
        boxes = [_px(p["box"], panel["panel_size_px"]) for p in panel["placements"]]
        for x0, y0, x1, y1 in boxes:
            assert x0 >= -0.5 and y0 >= -0.5
            assert x1 <= panel["panel_size_px"][0] + 0.5 and y1 <= panel["panel_size_px"][1] + 0.5
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert min(a[2], b[2]) - max(a[0], b[0]) <= 0 or min(a[3], b[3]) - max(a[1], b[1]) <= 0, (a, b)


def test_tails_point_toward_the_speaker(result):
    _, output = result
    heads = {"c1": (0.3, 0.55), "c2": (0.72, 0.5)}
    checked = 0
    for panel in output["dialogue_placements"]:
        w, h = panel["panel_size_px"]
        for p in panel["placements"]:
            speaker = panel["dialogues"][p["dialogue_index"]]["speaker"]
            if p["kind"] in ("narration", "sfx") or speaker is None:
                assert p["tail"] is None
                continue
            if p["tail"] is None:
                continue  # a linked second bubble, or one sitting on its speaker
            cx, cy = (p["box"][0] + p["box"][2] / 2) * w, (p["box"][1] + p["box"][3] / 2) * h
            to_tip = math.atan2(p["tail"][1] * h - cy, p["tail"][0] * w - cx)
            to_head = math.atan2(heads[speaker][1] * h - cy, heads[speaker][0] * w - cx)
            assert abs(math.remainder(to_tip - to_head, 2 * math.pi)) < math.radians(12)
            checked += 1
    assert checked >= 3


def test_japanese_is_vertical_and_english_horizontal(result):
    language, output = result
    kinds = {p["kind"]: p for panel in output["dialogue_placements"] for p in panel["placements"]}
    assert set(kinds) == {"speech", "thought", "shout", "narration", "sfx"}
    assert {p["shape"] for p in kinds.values()} == {"oval", "cloud", "burst", "rect", "none"}
    for p in kinds.values():
        assert p["vertical"] is (language == "ja")
    assert kinds["narration"]["font"] == "serif" and kinds["speech"]["font"] == "sans"


def test_narration_sits_in_the_reading_start_corner(result):
    language, output = result
    for panel in output["dialogue_placements"]:
        first = panel["placements"][0] if panel["placements"] else None
        if first and first["kind"] == "narration":
            x, y, w, _ = first["box"]
            assert y < 0.02
            assert (x + w > 0.98) if language == "ja" else (x < 0.02)


def test_first_bubble_is_nearest_the_reading_start():
    storyboard, images = sample_story("ja", pages=1)
    panel = storyboard["pages"][0]["panels"][2]
    panel["dialogues"] = [{"speaker": "c2", "text": "まだ灯籠、作ってるの？", "kind": "speech"},
                          {"speaker": "c1", "text": "三日あれば、間に合うよ", "kind": "speech"}]
    output = lettered("ja", storyboard=storyboard, images=images)
    first, second = next(p for p in output["dialogue_placements"] if p["panel_id"] == panel["panel_id"])["placements"]
    # Right-to-left: the first line's bubble starts further right or higher than the second's.
    assert first["box"][0] + first["box"][2] > second["box"][0] + second["box"][2] or first["box"][1] < second["box"][1]


def test_a_long_speech_in_a_small_panel_wraps_grows_or_splits_without_overflow():
    storyboard, images = sample_story("en", pages=1)
    small = storyboard["pages"][0]["panels"][1]
    small["dialogues"] = [{"speaker": "c1", "text": " ".join(["The garden will outlive every one of us, if we let it grow."] * 4),
                           "kind": "speech"}]
    output = lettered("en", storyboard=storyboard, images=images)
    panel = next(p for p in output["dialogue_placements"] if p["panel_id"] == small["panel_id"])
    assert measure_lettering(panel["placements"], panel["panel_size_px"])["overflow"] == 0
    assert output["lettering"]["overflow"] == 0


def test_feedback_font_serif_changes_every_bubble_deterministically():
    a = lettered("ja", {"option": "font", "font": "serif"})
    b = lettered("ja", {"option": "font", "font": "serif"})
    fonts = {p["font"] for panel in a["dialogue_placements"] for p in panel["placements"] if p["kind"] != "sfx"}
    assert fonts == {"serif"}
    assert a["dialogue_placements"] == b["dialogue_placements"]


def test_feedback_moves_a_bubble_and_adds_a_sound_effect():
    base = lettered("en")
    target = next(p for p in base["dialogue_placements"] if p["placements"])
    moved = lettered("en", {"modifications": [
        {"option": "move_bubble", "panel_id": target["panel_id"], "dialogue_index": 0, "direction": "down", "amount": 0.2},
        {"option": "add_sfx", "panel_id": target["panel_id"], "text": "WHOOSH"}]})
    after = next(p for p in moved["dialogue_placements"] if p["panel_id"] == target["panel_id"])
    before_box = next(p["box"] for p in target["placements"] if p["dialogue_index"] == 0)
    after_box = next(p["box"] for p in after["placements"] if p["dialogue_index"] == 0)
    assert after_box[1] > before_box[1]
    assert any(p["kind"] == "sfx" and "WHOOSH" in "".join(p["lines"]) for p in after["placements"])


def test_feedback_bubble_shape():
    output = lettered("ja", {"option": "bubble_shape", "shape": "cloud"})
    shapes = {p["shape"] for panel in output["dialogue_placements"] for p in panel["placements"] if p["kind"] == "speech"}
    assert shapes == {"cloud"}


def test_bad_dialogue_kind_is_named():
    storyboard, images = sample_story("en", pages=1)
    storyboard["pages"][0]["panels"][0]["dialogues"] = [{"speaker": None, "text": "hi", "kind": "whisper"}]
    with pytest.raises(phase6_lettering.LetteringError, match="kind must be one of"):
        lettered("en", storyboard=storyboard, images=images)
