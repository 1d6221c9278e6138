"""The quality gate on defects a reader would see: each deliberately broken output scores below 0.60
with a hint naming the defect; a mild one passes with a warning; the gate loop retries with the
evaluator's hints, keeps the best attempt, and the offline rules act on those hints."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mangaflow import quality
from mangaflow.offline import characters as offline_characters
from mangaflow.phases import phase1_concept, phase2_characters, phase3_plot, phase4_name
from mangaflow.phases.phase5_images import describe_panel
from mangaflow.providers import OfflineProvider
from mangaflow.quality import annotated
from mangaflow.story import normalise

CORPUS = annotated.load_corpus(Path(__file__).resolve().parents[2] / "examples" / "corpus")
JUDO = next(s for s in CORPUS if s.name == "judo-club.ja")
HARBOUR = next(s for s in CORPUS if s.name == "harbour-captain.en")


def run(text: str, pages: int) -> dict:
    provider = OfflineProvider()
    inputs: dict = {"text": text, "pages": pages}
    for key, module in (("concept", phase1_concept), ("characters", phase2_characters), ("plot", phase3_plot),
                        ("storyboard", phase4_name)):
        inputs[key] = module.run(inputs, None, provider)
    return inputs


@pytest.fixture(scope="module")
def judo() -> dict:
    return run(JUDO.text, 4)


@pytest.fixture(scope="module")
def harbour() -> dict:
    return run(HARBOUR.text, 4)


def panels(board: dict) -> list[dict]:
    return [p for page in board["pages"] for p in page["panels"]]


def judged(phase: int, output: dict, inputs: dict) -> dict:
    return quality.evaluate(phase, output, inputs)


# ---------------------------------------------------------------- each defect fails the gate

def _drop_captions(board: dict) -> None:
    for panel in panels(board)[:5]:
        panel["dialogues"] = [d for d in panel["dialogues"] if d["kind"] != "narration"]


def _cut_caption(board: dict) -> None:
    """'ところが部員の一' instead of the whole clause: the issue's own reproduction."""
    for panel in panels(board):
        for line in panel["dialogues"]:
            if line["text"].startswith("ところが部員の一人"):
                line["text"] = "ところが部員の一"


def _speakers_left_out(board: dict) -> None:
    for panel in panels(board):
        speakers = {d["speaker"] for d in panel["dialogues"] if d["speaker"]}
        panel["characters"] = [c for c in panel["characters"] if c not in speakers]


def _crowd(board: dict) -> None:
    """Every line of each page poured, in order, into the page's smallest panel."""
    for page in board["pages"]:
        ordered = sorted(page["panels"], key=lambda p: p["reading_order"])
        small = min(ordered, key=lambda p: p["bbox"][2] * p["bbox"][3])
        small["dialogues"] = [d for p in ordered for d in p["dialogues"]]
        small["characters"] = list(dict.fromkeys(c for p in ordered for c in p["characters"]))
        for panel in ordered:
            if panel is not small:
                panel["dialogues"] = []


@pytest.mark.parametrize("damage, check, words", [
    (_drop_captions, "text_kept", "reach no caption or bubble"),
    (_cut_caption, "captions_whole", "cut mid-clause"),
    (_speakers_left_out, "speakers_in_panels", "put each speaker in the panel where they speak"),
    (_crowd, "lettering_room", "condense narration"),
], ids=["text lost", "caption cut", "speaker missing", "crowded"])
def test_a_defective_storyboard_scores_below_the_retry_line(judo, damage, check, words):
    board = copy.deepcopy(judo["storyboard"])
    damage(board)
    result = judged(4, board, judo)
    assert result["score"] < 0.60 and result["checks"][check] < 1
    assert any(words in h for h in result["hints"]), result["hints"]
    assert quality.gate(result["score"], 0)["decision"] == "retry"


def test_one_person_split_in_two_characters_is_retried(judo):
    cast = copy.deepcopy(judo["characters"])
    taro = next(c for c in cast["characters"] if c["name"] == "山田太郎")
    split = dict(copy.deepcopy(taro), id="c9", name="太郎", aliases=[], role="minor")
    split["palette"]["outfit"] = "#123456"
    taro["aliases"] = [a for a in taro["aliases"] if a != "太郎"]
    cast["characters"].append(split)
    result = judged(2, cast, judo)
    assert result["score"] < 0.60 and result["checks"]["one_identity_per_person"] < 1
    assert any("'山田太郎' and '太郎' are one person" in h for h in result["hints"]), result["hints"]


def test_a_nickname_drawn_as_a_character_of_its_own_is_retried(harbour):
    cast = copy.deepcopy(harbour["characters"])
    eleanor = next(c for c in cast["characters"] if c["name"] == "Eleanor Vance")
    eleanor["aliases"] = [a for a in eleanor["aliases"] if a != "Ellie"]
    ellie = dict(copy.deepcopy(eleanor), id="c9", name="Ellie", aliases=[], role="minor")
    ellie["palette"]["outfit"] = "#123456"
    cast["characters"].append(ellie)
    result = judged(2, cast, harbour)
    assert result["score"] < 0.60 and result["checks"]["one_identity_per_person"] < 1


def test_a_place_from_inside_a_longer_word_is_retried(judo):
    plot = copy.deepcopy(judo["plot"])
    plot["scenes"][0]["setting"].update(place="道", indoor=False)  # 道 inside 柔道部
    plot["scenes"][1]["setting"].update(place="道", indoor=False)
    result = judged(3, plot, judo)
    assert result["score"] < 0.60 and result["checks"]["places_consistent"] < 1
    assert any("'道' is not a place word of the story (only inside '柔道部" in h for h in result["hints"]), result["hints"]


def test_prose_dropped_from_the_plot_is_retried(judo):
    plot = copy.deepcopy(judo["plot"])
    for scene in plot["scenes"][:2]:
        scene["beats"] = [b for b in scene["beats"] if b["kind"] == "dialogue"] + scene["beats"][:1]
    result = judged(3, plot, judo)
    assert result["score"] < 0.60 and result["checks"]["text_kept"] < 0.95


def test_a_speaker_not_drawn_in_their_panel_is_retried(judo):
    board = judo["storyboard"]
    spoken = [p for p in panels(board) if any(d["speaker"] for d in p["dialogues"])]
    items = []
    for panel in panels(board):
        item = describe_panel(judo, panel["panel_id"], None, OfflineProvider())
        if panel in spoken[:4]:
            item["characters"] = []
            item["staging"] = []
        items.append(item)
    result = judged(5, {"image_descriptions": items}, judo)
    assert result["score"] < 0.60 and result["checks"]["speakers_drawn"] < 1


def test_an_attribution_that_is_really_a_paragraph_does_not_excuse_lost_text(judo):
    board = copy.deepcopy(judo["storyboard"])
    _drop_captions(board)
    story = normalise(JUDO.text)
    board["condensed"].append({"source": [0, 60], "text": story[:60], "reason": "attribution"})
    result = judged(4, board, judo)
    assert result["checks"]["condensed_recorded_honestly"] < 1 and result["score"] < 0.60


# ---------------------------------------------------------------- a mild defect passes with a warning

def test_one_crowded_panel_in_ten_passes_with_a_visible_warning(judo):
    board = copy.deepcopy(judo["storyboard"])
    page = board["pages"][-1]["panels"]
    page[0]["dialogues"] += [{"speaker": None, "text": "x" * 160, "kind": "narration"}]
    result = judged(4, board, judo)
    assert 0.60 <= result["score"] < 0.70, result
    assert quality.gate(result["score"], 0)["decision"] == "warn"
    assert result["warning"].startswith("phase 4 passed with a warning") and "lettering_room" in result["warning"]


def test_a_clean_output_has_no_warning(judo):
    assert judged(4, judo["storyboard"], judo)["warning"] is None


# ---------------------------------------------------------------- the gate loop

def test_the_gate_retries_with_the_hints_and_keeps_the_fixed_attempt(judo):
    broken = copy.deepcopy(judo["storyboard"])
    _drop_captions(broken)
    seen: list[list[str]] = []

    def produce(hints: list[str]) -> dict:
        seen.append(hints)
        return broken if len(seen) < 3 else judo["storyboard"]

    run = quality.produce_with_quality_gate(produce, lambda o: judged(4, o, judo))
    assert [a["decision"] for a in run.attempts] == ["retry", "retry", "pass"]
    assert seen[0] == [] and any("reach no caption" in h for h in seen[1]) and seen[2] == run.attempts[1]["hints"]
    assert run.kept == 2 and run.best["output"] is judo["storyboard"]


def test_the_gate_gives_up_after_three_retries_and_keeps_the_best(judo):
    worse = copy.deepcopy(judo["storyboard"])
    _drop_captions(worse)
    _speakers_left_out(worse)
    bad = copy.deepcopy(judo["storyboard"])
    _drop_captions(bad)
    sequence = [worse, bad, worse, worse]
    run = quality.produce_with_quality_gate(lambda hints: sequence.pop(0), lambda o: judged(4, o, judo))
    assert [a["decision"] for a in run.attempts] == ["retry", "retry", "retry", "give_up"]
    assert run.kept == 1 and run.best["score"] == max(a["score"] for a in run.attempts)


# ---------------------------------------------------------------- hints the offline rules act on

def test_the_offline_storyboard_condenses_when_the_gate_says_panels_are_crowded():
    inputs = run(HARBOUR.text, 1)
    provider = OfflineProvider()
    run_ = quality.produce_with_quality_gate(
        lambda hints: phase4_name.run(inputs, {"hints": hints} if hints else None, provider),
        lambda o: judged(4, o, inputs))
    first, last = run_.attempts[0], run_.attempts[-1]
    assert first["decision"] == "retry" and any(h.startswith("condense narration") for h in first["hints"])
    assert last["decision"] == "pass" and run_.best is last
    left_out = [c for c in last["output"]["condensed"] if c["reason"] == "page_budget"]
    assert left_out and all(HARBOUR.text[c["source"][0]:c["source"][1]] == c["text"] for c in left_out)
    kept = annotated.prose_kept(HARBOUR.text, last["output"])
    assert kept.lost_chars == 0 and kept.condensed > 0
    # the sentences left out of the captions are still in the pictures
    descriptions = " ".join(p["scene_description"] for p in panels(last["output"]))
    assert any(c["text"][:30] in descriptions for c in left_out)


def test_the_offline_cast_merges_two_characters_a_hint_names_as_one_person():
    text = "Mara met Theo at the pier. Theo waved. Mara laughed."
    hint = "'Theo' and 'Mara' are one person: merge them into one character (one look) and keep every name"
    cast = offline_characters({"text": text}, {"hints": [hint]})["characters"]
    assert len(cast) == 1 and {cast[0]["name"], *cast[0]["aliases"]} >= {"Mara", "Theo"}


def test_the_offline_plot_re_places_a_scene_a_hint_says_is_wrong(judo):
    hint = "scene s2: place '道' is not a place word of the story; set the scene where its own words say it is"
    plot = phase3_plot.run(judo, {"hints": [hint]}, OfflineProvider())
    assert plot["scenes"][1]["setting"]["place"] == "道場"
