"""Every quick option the review page offers changes the phase's output as it says; feedback a
phase cannot apply is refused with words naming what would work (NotApplicable, 422), never an
error that would fail the run."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "phases"))
from _text_phase_runs import GARDENER, LANTERN, run_text_phases, story, without_metadata  # noqa: E402

from mangaflow.hitl import intents, options  # noqa: E402
from mangaflow.phases import phase6_lettering, phase7_finalize  # noqa: E402

KEYS = {1: "concept", 2: "characters", 3: "plot", 4: "storyboard"}


def _feedback(phase: int, option: str, value: str | None = None, text: str = "") -> dict:
    answer = {"decision": "modify", "feedback": text, "option": f"{option}:{value}" if value else option}
    return intents.feedback_for_phase(phase, answer, intents.parse(phase, text, answer["option"]))


@pytest.mark.parametrize("name", [LANTERN, GARDENER])
@pytest.mark.parametrize("phase", [1, 2, 3, 4])
def test_every_offered_text_phase_option_changes_the_output(name, phase):
    base = run_text_phases(story(name), pages=4, upto=phase)[KEYS[phase]]
    for option in options.offered(phase):
        changed = run_text_phases(story(name), pages=4, upto=phase, feedback=_feedback(phase, option.name))[KEYS[phase]]
        differs = [k for k in set(base) | set(changed) if k not in ("processing_metadata", "applied_feedback")
                   and base.get(k) != changed.get(k)]
        assert differs, f"phase {phase} option {option.name} changed nothing on {name}"


@pytest.mark.parametrize("name", [LANTERN, GARDENER])
@pytest.mark.parametrize("pages", [1, 2, 3])
def test_panel_layout_redivides_the_pages_of_a_short_book(name, pages):
    """A short book's panel count is set by its text, so the layout option re-divides each page (one
    dominant panel drawn taller) instead, and never buries more panels' art under their lettering."""
    from mangaflow.quality.room import CROWDED_AT, load

    inputs = run_text_phases(story(name), pages=pages, upto=3)
    language = "ja" if name == LANTERN else "en"
    from mangaflow.phases import phase4_name
    from mangaflow.providers import OfflineProvider

    base = phase4_name.run(inputs, None, OfflineProvider())
    laid = phase4_name.run(inputs, _feedback(4, "panel_layout"), OfflineProvider())
    divisions = [[(q["panel_id"], q["bbox"]) for q in page["panels"]] for page in base["pages"]]
    changed = [[(q["panel_id"], q["bbox"]) for q in page["panels"]] for page in laid["pages"]]
    assert len(changed) == pages
    assert sum(a != b for a, b in zip(divisions, changed)) == pages, "every page is divided anew"

    def crowded(storyboard):
        return sum(load(q, storyboard["page_size_px"], language) > CROWDED_AT
                   for page in storyboard["pages"] for q in page["panels"])

    assert crowded(laid) <= crowded(base)


def _lettering_inputs() -> dict:
    inputs = run_text_phases(story(LANTERN), pages=2, upto=4)
    return {"storyboard": inputs["storyboard"], "images": {}, "language": "ja"}


def _placements(output: dict) -> list[dict]:
    return [p for d in output["dialogue_placements"] for p in d["placements"]]


def test_every_offered_lettering_option_changes_the_bubbles_as_asked():
    inputs = _lettering_inputs()
    base = phase6_lettering.run(inputs, None)
    offered = {o.name: o for o in options.offered(6)}
    assert set(offered) == {"move_bubble", "font", "add_sfx", "bubble_shape"}
    serif = phase6_lettering.run(inputs, _feedback(6, "font", "serif"), previous=base)
    assert {p["font"] for p in _placements(serif) if p["kind"] == "speech"} == {"serif"}
    sans_again = phase6_lettering.run(inputs, _feedback(6, "font"), previous=serif)  # the option alone: the other one
    assert {p["font"] for p in _placements(sans_again) if p["kind"] == "speech"} == {"sans"}
    for shape in offered["bubble_shape"].values:
        shaped = phase6_lettering.run(inputs, _feedback(6, "bubble_shape", shape), previous=base)
        assert {p["shape"] for p in _placements(shaped) if p["kind"] == "speech"} == {shape}
    with_sfx = phase6_lettering.run(inputs, _feedback(6, "add_sfx"), previous=base)
    assert sum(p["kind"] == "sfx" for p in _placements(with_sfx)) == sum(p["kind"] == "sfx" for p in _placements(base)) + 1
    moved = phase6_lettering.run(inputs, _feedback(6, "move_bubble", text="move the first bubble up a little"),
                                 previous=base)
    first = base["dialogue_placements"][0]["placements"][0]
    now = moved["dialogue_placements"][0]["placements"][0]
    assert now["box"][1] < first["box"][1] or first["box"][1] == 0, (first["box"], now["box"])


@pytest.mark.parametrize("words, edit", [("move the first bubble up a little", {"direction": "up", "amount": 0.05}),
                                         ("吹き出しを少し上に移動して", {"direction": "up", "amount": 0.05}),
                                         ("make the bubbles round", {"shape": "oval"})])
def test_the_words_of_issue_10_are_read_into_edits(words, edit):
    inputs = _lettering_inputs()
    base = phase6_lettering.run(inputs, None)
    feedback = intents.feedback_for_phase(6, {"feedback": words}, intents.parse(6, words))
    changed = phase6_lettering.run(inputs, feedback, previous=base)
    assert edit.items() <= changed["bubble_edits"][-1].items()


@pytest.mark.parametrize("phase, words", [(6, "make it prettier"), (6, "move the bubble"), (6, "change the shape"),
                                          (7, "make it nicer")])
def test_feedback_a_phase_cannot_apply_is_refused_with_what_would_work(phase, words):
    intent = intents.parse(phase, words)
    feedback = intents.feedback_for_phase(phase, {"feedback": words}, intent)
    with pytest.raises(intents.NotApplicable) as refused:
        if phase == 6:
            inputs = _lettering_inputs()
            phase6_lettering.run(inputs, feedback, previous=phase6_lettering.run(inputs, None))
        else:
            phase7_finalize._options(feedback)
    assert refused.value.status == 422 and len(refused.value.message) > 30


def test_every_offered_final_option_changes_the_book():
    inputs = _lettering_inputs()
    lettered = phase6_lettering.run(inputs, None)
    art = {q["panel_id"]: Image.new("RGB", (64, 64), "white") for p in lettered["pages"] for q in p["panels"]}
    base, base_files = phase7_finalize.run(lettered, None, panel_images=art)
    assert {o.name for o in options.offered(7)} == {"final_touches", "format"}
    a5, a5_files = phase7_finalize.run(lettered, _feedback(7, "format", "A5"), panel_images=art, previous=base)
    assert a5["finish_options"]["paper"] == "A5" and a5_files["manga.pdf"] != base_files["manga.pdf"]
    bare, bare_files = phase7_finalize.run(lettered, _feedback(7, "final_touches"), panel_images=art, previous=a5)
    assert bare["finish_options"] == {"paper": "A5", "exports": ["pdf", "cbz"], "page_numbers": False}
    assert bare_files["pages/001.png"] != base_files["pages/001.png"]
