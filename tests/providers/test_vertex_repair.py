"""How VertexProvider repairs a model's answer: schema conformance, quoted lines, page checks, shared clients."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from mangaflow.providers import OfflineProvider
from mangaflow.providers.vertex import (BEAT, CHARACTERS_SCHEMA, CONCEPT_SCHEMA, VertexProvider, build_prompt,
                                        conform, pages_are_sound, restore_plot_quotes, restore_storyboard_quotes,
                                        shared_client)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LANTERN = (EXAMPLES / "lantern-festival.ja.txt").read_text(encoding="utf-8")


def offline_chain() -> tuple[dict, dict, dict]:
    offline = OfflineProvider()
    inputs: dict = {"text": LANTERN, "pages": 4}
    inputs["characters"] = offline.characters(inputs, None)
    plot = offline.plot(inputs, None)
    inputs["plot"] = plot
    return inputs, plot, offline.storyboard(inputs, None)


def test_wrong_enums_and_types_are_replaced_and_numbers_clamped():
    fallback = OfflineProvider().concept({"text": LANTERN}, None)
    answer = copy.deepcopy(fallback)
    answer.update(genre="space opera", estimated_pages=99, keywords="not a list", theme="再会と約束")
    out = conform(answer, CONCEPT_SCHEMA, fallback)
    assert out["genre"] == fallback["genre"]
    assert out["estimated_pages"] == 32
    assert out["keywords"] == fallback["keywords"]
    assert out["theme"] == "再会と約束"  # what the model got right is kept


def test_a_null_speaker_stays_null_and_missing_fields_come_from_the_fallback():
    fallback = {"kind": "dialogue", "text": "まだ？", "speaker": "c1", "delivery": "speech"}
    assert conform({"kind": "narration", "text": "夜。", "speaker": None, "delivery": "narration"}, BEAT,
                   fallback)["speaker"] is None
    assert conform({"text": "まだ？"}, BEAT, fallback) == fallback


def test_a_new_character_without_required_fields_is_dropped_a_complete_one_kept():
    fallback = OfflineProvider().characters({"text": LANTERN}, None)
    answer = copy.deepcopy(fallback)
    full = copy.deepcopy(fallback["characters"][0])
    full.update(id="c99", name="灯籠職人")
    answer["characters"] += [{"id": "c98", "name": "half a character"}, full]
    answer["characters"][0]["palette"]["hair"] = "dark"  # not #rrggbb
    out = conform(answer, CHARACTERS_SCHEMA, fallback)
    ids = [c["id"] for c in out["characters"]]
    assert "c98" not in ids and "c99" in ids
    assert out["characters"][0]["palette"]["hair"] == fallback["characters"][0]["palette"]["hair"]


def test_repeated_and_paraphrased_lines_are_removed_and_a_lost_one_restored_in_place():
    _, plot, _ = offline_chain()
    answer = copy.deepcopy(plot)
    lines = [b["text"] for s in plot["scenes"] for b in s["beats"] if b["kind"] == "dialogue"]
    scene = next(s for s in answer["scenes"] if sum(b["kind"] == "dialogue" for b in s["beats"]) >= 2)
    second = [b for b in scene["beats"] if b["kind"] == "dialogue"][1]
    scene["beats"].remove(second)
    answer["scenes"][-1]["beats"].append(dict(answer["scenes"][0]["beats"][-1], kind="dialogue",
                                              text=lines[0]))
    scene["beats"].append(dict(second, text="a paraphrase of " + second["text"]))
    restored = restore_plot_quotes(answer, plot)
    assert restored == [second["text"]]
    assert [b["text"] for s in answer["scenes"] for b in s["beats"] if b["kind"] == "dialogue"] == lines


def test_storyboard_lines_are_restored_into_the_panel_of_the_previous_line():
    _, _, board = offline_chain()
    answer = copy.deepcopy(board)
    panels = [p for page in answer["pages"] for p in page["panels"]]
    holder = next(p for p in panels if any(d["kind"] not in ("narration", "sfx") for d in p["dialogues"]))
    dropped = next(d for d in holder["dialogues"] if d["kind"] not in ("narration", "sfx"))
    holder["dialogues"].remove(dropped)
    assert restore_storyboard_quotes(answer, board) == [dropped["text"]]
    texts = [d["text"] for p in panels for d in p["dialogues"]]
    assert texts.count(dropped["text"]) == 1


def test_pages_are_sound_checks_count_order_and_bounds():
    _, _, board = offline_chain()
    assert pages_are_sound(board["pages"], 4)
    assert not pages_are_sound(board["pages"], 5)
    broken = copy.deepcopy(board["pages"])
    broken[0]["panels"][0]["bbox"] = [0.5, 0.5, 0.8, 0.2]
    assert not pages_are_sound(broken, 4)
    broken = copy.deepcopy(board["pages"])
    broken[1]["panels"][0]["reading_order"] = 7
    assert not pages_are_sound(broken, 4)


def test_the_prompt_ends_with_the_inputs_as_fenced_json():
    payload = {"phase": "concept", "inputs": {"text": LANTERN}, "feedback": None}
    prompt = build_prompt("concept", payload, {"text": LANTERN}, None)
    assert "Japanese" in prompt and prompt.endswith("```")
    block = prompt.rsplit("```json\n", 1)[1][:-3]
    assert json.loads(block) == payload


def test_clients_are_made_once_per_process():
    first = shared_client("p-shared", "us-central1", "http://127.0.0.1:9")
    assert shared_client("p-shared", "us-central1", "http://127.0.0.1:9") is first
    a = VertexProvider(project="p-shared", location="us-central1", base_url="http://127.0.0.1:9")
    b = VertexProvider(project="p-shared", location="us-central1", base_url="http://127.0.0.1:9")
    assert a.client is b.client is first
    assert shared_client("p-shared", "europe-west4", "http://127.0.0.1:9") is not first
