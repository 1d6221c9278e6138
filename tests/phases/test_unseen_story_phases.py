"""Phases 1-4 with the offline provider on stories the analysis was not written against."""
from pathlib import Path

import pytest

from _text_phase_runs import names_by_id, panels, run_text_phases

UNSEEN = Path(__file__).resolve().parents[1] / "story" / "unseen"
STORIES = sorted(p.name for p in UNSEEN.glob("*.txt"))


def run(name: str) -> dict:
    return run_text_phases((UNSEEN / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", STORIES)
def test_every_quoted_line_is_lettered_once_and_every_figure_drawn_is_in_the_cast(name):
    inputs = run(name)
    quoted = [b["text"] for s in inputs["plot"]["scenes"] for b in s["beats"] if b["kind"] == "dialogue"]
    lettered = [d["text"] for p in panels(inputs["storyboard"]) for d in p["dialogues"]
                if d["kind"] not in ("narration", "sfx")]
    assert "".join(lettered) == "".join(quoted)  # merged panels keep every line, in order
    cast = names_by_id(inputs)
    assert all(c in cast for p in panels(inputs["storyboard"]) for c in p["characters"])


def test_a_grandmother_only_talked_about_is_never_drawn():
    inputs = run("noquotes.ja.txt")
    ids = {n: i for i, n in names_by_id(inputs).items()}
    drawn = {c for p in panels(inputs["storyboard"]) for c in p["characters"]}
    assert ids["老人"] in drawn and ids["美咲"] in drawn
    assert ids.get("祖母") not in drawn


def test_nameless_story_stages_the_old_woman_where_she_speaks():
    inputs = run("nonames.en.txt")
    ids = {n: i for i, n in names_by_id(inputs).items()}
    speaking = [p for p in panels(inputs["storyboard"]) if any(d["speaker"] for d in p["dialogues"])]
    assert speaking and all(ids["the old woman"] in p["characters"] for p in speaking)
    places = [s["setting"]["place"] for s in inputs["plot"]["scenes"]]
    assert places[-1] == "harbour"
