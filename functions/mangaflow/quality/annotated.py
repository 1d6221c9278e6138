"""Phase outputs scored against a hand annotation of the story (the corpus in examples/corpus/):
are the people merged right, is each quoted line given to its speaker, is each scene where the story
says, and how much of the prose reaches a caption or a bubble. Used by the tests and bench_story.py.

An annotation (`<story>.json` beside `<story>.txt`) holds `language`, `pages`, `people` (`name`,
`aliases`), `quotes` (every quoted line in order with its `speaker`) and `scenes` (`from`: the
words a scene starts with, `place`: the acceptable place words or null when the story names none,
`indoor`: true, false or null).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..story import normalise
from ..story.coverage import Coverage, coverage
from ..story.lexicon import GENERAL_PLACES


@dataclass
class Annotated:
    """One corpus story with its annotation."""

    name: str
    text: str
    gold: dict[str, Any]


def load_corpus(folder: Path) -> list[Annotated]:
    """Every `*.txt` story of `folder` that has a `.json` annotation beside it, by name."""
    stories = []
    for path in sorted(folder.glob("*.txt")):
        gold_path = path.with_suffix(".json")
        if gold_path.exists():
            stories.append(Annotated(path.stem, normalise(path.read_text(encoding="utf-8")),
                                     json.loads(gold_path.read_text(encoding="utf-8"))))
    return stories


def _key(name: str) -> str:
    folded = " ".join(str(name).split()).casefold()
    for article in ("the ", "a "):
        folded = folded.removeprefix(article)
    return folded


def character_names(character: dict) -> set[str]:
    return {_key(n) for n in [character.get("name", ""), *(character.get("aliases") or [])] if n}


def person_names(person: dict) -> set[str]:
    return {_key(n) for n in [person["name"], *person.get("aliases", [])]}


def people_merged(gold: dict, characters: list[dict]) -> tuple[int, int, list[str]]:
    """(people right, people annotated, what is wrong). A person is right when exactly one character
    carries any of their names, it carries all of them, and it carries nobody else's."""
    people = gold.get("people", [])
    problems = []
    right = 0
    for person in people:
        names = person_names(person)
        holders = [c for c in characters if character_names(c) & names]
        others = set().union(*(person_names(p) for p in people if p is not person)) if len(people) > 1 else set()
        if len(holders) != 1:
            problems.append(f"{person['name']}: {len(holders)} characters ({', '.join(c['name'] for c in holders)})")
            continue
        missing = names - character_names(holders[0])
        mixed = character_names(holders[0]) & others
        if missing or mixed:
            problems.append(f"{person['name']}: as {holders[0]['name']}, missing {sorted(missing)}, "
                            f"also {sorted(mixed)}")
            continue
        right += 1
    return right, len(people), problems


def speakers_right(gold: dict, plot: dict, characters: list[dict]) -> tuple[int, int, list[str]]:
    """(lines given to their speaker, quoted lines annotated, the wrong ones)."""
    by_id = {c.get("id"): c for c in characters}
    people = {p["name"]: person_names(p) for p in gold.get("people", [])}
    spoken = [b for s in plot.get("scenes") or [] for b in s.get("beats") or [] if b.get("kind") == "dialogue"]
    right, problems = 0, []
    cursor = 0
    for line in gold.get("quotes", []):
        found = next((i for i in range(cursor, len(spoken)) if spoken[i].get("text") == line["text"]), None)
        if found is None:
            problems.append(f"missing line {line['text']!r}")
            continue
        cursor = found + 1
        who = by_id.get(spoken[found].get("speaker"))
        if who is not None and character_names(who) & people.get(line["speaker"], {_key(line["speaker"])}):
            right += 1
        else:
            problems.append(f"{line['text'][:24]!r}: {who['name'] if who else None} instead of {line['speaker']}")
    return right, len(gold.get("quotes", [])), problems


def places_right(gold: dict, text: str, plot: dict) -> tuple[int, int, list[str]]:
    """(scenes placed right, scenes annotated, the wrong ones). The scene judged is the one whose
    beats hold the annotated opening words."""
    scenes = plot.get("scenes") or []
    right, problems = 0, []
    for expected in gold.get("scenes", []):
        start = text.find(expected["from"])
        scene = _scene_at(scenes, start, expected["from"])
        setting = (scene or {}).get("setting") or {}
        place, indoor = setting.get("place"), setting.get("indoor")
        wanted = expected.get("place")
        place_ok = (not place or place in GENERAL_PLACES) if wanted is None else place in wanted
        indoor_ok = expected.get("indoor") is None or indoor == expected["indoor"]
        if scene is not None and place_ok and indoor_ok:
            right += 1
        else:
            problems.append(f"{expected['from']!r}: {place} (indoor {indoor}) instead of {wanted} "
                            f"(indoor {expected.get('indoor')})")
    return right, len(gold.get("scenes", [])), problems


def _scene_at(scenes: list[dict], start: int, words: str) -> dict | None:
    for scene in scenes:
        for beat in scene.get("beats") or []:
            source = beat.get("source")
            if isinstance(source, list) and len(source) == 2 and source[0] <= start < source[1]:
                return scene
    probe = words.strip("「」\"“” ")[:8]
    return next((s for s in scenes if any(probe in str(b.get("text")) for b in s.get("beats") or [])), None)


def storyboard_pieces(storyboard: dict) -> list[str]:
    """Every caption and bubble of a storyboard in reading order (sound effects are not the story's prose)."""
    pieces = []
    for page in sorted(storyboard.get("pages") or [], key=lambda p: p.get("page", 0)):
        for panel in sorted(page.get("panels") or [], key=lambda p: p.get("reading_order", 0)):
            pieces += [str(d.get("text") or "") for d in panel.get("dialogues") or [] if d.get("kind") != "sfx"]
    return pieces


def declared(entries: list[dict], reason: str | None, exclude: bool = False) -> list[tuple[int, int]]:
    """Spans of `condensed[]` entries with (or, with `exclude`, without) the given reason."""
    spans = []
    for entry in entries or []:
        source = entry.get("source") if isinstance(entry, dict) else None
        if not (isinstance(source, list) and len(source) == 2):
            continue
        if reason is None or (entry.get("reason") == reason) != exclude:
            spans.append((int(source[0]), int(source[1])))
    return spans


def prose_kept(text: str, storyboard: dict) -> Coverage:
    """In-order coverage of the story by the storyboard's captions and bubbles; attributions the bubble
    makes redundant count as kept, condensed prose is counted apart."""
    entries = storyboard.get("condensed") or []
    return coverage(text, storyboard_pieces(storyboard), exempt=declared(entries, "attribution"),
                    condensed=declared(entries, "attribution", exclude=True))
