"""Offline phase 3: the story's scenes in order, with acts, settings, emotions, importance and beats."""
from __future__ import annotations

import re

from ..story import SceneDraft, StoryAnalysis
from ..story.places import PlaceIndex
from ..story.text import shorten
from .cast import characters as cast_characters
from .common import language_of, max_scenes_for, pages_of, story_of
from .feedback import Request, read as read_feedback


def cast_of(inputs: dict) -> list[dict]:
    """Phase 2's characters, or the offline cast when phase 2 was not run (a direct call)."""
    given = inputs.get("characters")
    if isinstance(given, dict):
        given = given.get("characters")
    if isinstance(given, list) and all(isinstance(c, dict) and c.get("id") for c in given):
        return given
    return cast_characters(inputs, None)["characters"]


def id_lookup(cast: list[dict]) -> dict[str, str]:
    """Every name and alias of the cast -> character id."""
    table: dict[str, str] = {}
    for char in cast:
        for name in [char.get("name", ""), *(char.get("aliases") or [])]:
            if name:
                table.setdefault(str(name), char["id"])
    return table


def plot(inputs: dict, feedback: dict | None) -> dict:
    request = read_feedback(feedback, 3)
    pages = pages_of(inputs)
    language = language_of(inputs)
    limit = max_scenes_for(pages)
    if request.wants("faster_pacing"):
        limit = max(2, round(limit * (1 - 0.5 * request.intensity)))
        limit = min(limit, max(2, len(story_of(inputs).scenes) - 1 - round(request.intensity * 2)))
    elif request.wants("slower_pacing"):
        limit = min(30, round(limit * (1 + request.intensity)))
    story = story_of(inputs, limit)
    ids = id_lookup(cast_of(inputs))
    scenes = [_scene(f"s{i + 1}", draft, ids, language) for i, draft in enumerate(story.scenes)]
    condensed = [condensed_entry(story.text, span, "attribution") for span in story.attributions]
    if request.wants("faster_pacing"):
        for scene in scenes:
            condensed += _trim_narration(scene, story.text, keep=1 if request.intensity >= 0.5 else 2)
    if request.asks("place"):
        _replace(scenes, story, request.hints)
    if request.wants("add_episode"):
        _add_episode(scenes, request, cast_of(inputs), language)
    if request.wants("stronger_climax"):
        for scene in scenes:
            if scene["emotion"] != "climax":
                scene["importance"] = round(scene["importance"] * (1 - 0.35 * request.intensity - 0.1), 3)
    if request.wants("slower_pacing"):
        for scene in scenes:  # quiet scenes get room to breathe
            scene["importance"] = round(0.5 + 0.5 * scene["importance"], 3)
    structure = "kishotenketsu" if language == "ja" else "three_act"
    result = {
        "story_structure": structure,
        "scenes": scenes,
        "emotional_arc": [_arc_value(s) for s in scenes],
        "page_allocation": _allocation(scenes, pages),
        "condensed": sorted(condensed, key=lambda c: c["source"]),
    }
    if request.option in ("faster_pacing", "slower_pacing"):
        result["pacing"] = "fast" if request.option == "faster_pacing" else "slow"
    return result


def _scene(scene_id: str, draft: SceneDraft, ids: dict[str, str], language: str) -> dict:
    characters = list(dict.fromkeys(ids[k] for k in draft.figures if k in ids))
    beats = [{"kind": b.kind, "text": b.text, "speaker": ids.get(b.speaker) if b.speaker else None,
              "delivery": b.delivery, **({"source": [b.pos, b.end]} if b.end > b.pos else {})}
             for b in draft.beats]
    for beat in beats:  # a speaker who is on stage is in the scene's cast
        if beat["speaker"] and beat["speaker"] not in characters:
            characters.append(beat["speaker"])
    prose = [b["text"] for b in beats if b["kind"] != "dialogue" and b["delivery"] != "sfx"][:2]
    description = ("" if language == "ja" else " ").join(prose) or next((b["text"] for b in beats), "")
    importance = 1.0 if draft.climax else round(min(0.9, 0.3 + 0.55 * draft.intensity), 3)
    return {"scene_id": scene_id, "act": draft.act,
            "description": shorten(description, language, 80 if language == "ja" else 200),
            "characters": characters,
            "setting": {"place": draft.place, "time_of_day": draft.time_of_day, "weather": draft.weather,
                        "indoor": draft.indoor},
            "emotion": draft.emotion, "importance": importance, "beats": beats}


_SCENE_HINT = re.compile(r"scene (s\d+):")


def _replace(scenes: list[dict], story: StoryAnalysis, hints: list[str]) -> None:
    """An evaluator says a scene's place contradicts it: set it where the scene's own words say, else
    where the scene before it was."""
    wrong = {m.group(1) for h in hints for m in _SCENE_HINT.finditer(h)}
    where = PlaceIndex(story.text, story.language, [], [(q.start, q.end) for q in story.quotes])
    for i, scene in enumerate(scenes):
        if scene["scene_id"] not in wrong:
            continue
        spans = [b["source"] for b in scene["beats"] if b.get("source")]
        found = where.place_of(spans[0][0], spans[-1][1]) if spans else None
        if found is not None and found.word != scene["setting"]["place"]:
            scene["setting"].update(place=found.word, indoor=found.indoor)
        elif i > 0:
            scene["setting"].update(place=scenes[i - 1]["setting"]["place"], indoor=scenes[i - 1]["setting"]["indoor"])


def condensed_entry(text: str, span: tuple[int, int], reason: str) -> dict:
    """One `condensed[]` record: the story span left off the page, its words and why."""
    start, end = span
    return {"source": [start, end], "text": text[start:end], "reason": reason}


def _trim_narration(scene: dict, text: str, keep: int) -> list[dict]:
    """Faster pacing: keep the first `keep` narration beats of the scene; the rest are recorded as condensed."""
    kept, narration, dropped = [], 0, []
    for beat in scene["beats"]:
        if beat["kind"] != "dialogue" and beat["delivery"] != "sfx":
            narration += 1
            if narration > keep:
                if beat.get("source"):
                    dropped.append(condensed_entry(text, tuple(beat["source"]), "faster_pacing"))
                continue
        kept.append(beat)
    scene["beats"] = kept
    return dropped


def _add_episode(scenes: list[dict], request: Request, cast: list[dict], language: str) -> None:
    peak = next((i for i, s in enumerate(scenes) if s["emotion"] == "climax"), len(scenes) - 1)
    leads = [c["id"] for c in cast if c.get("role") in ("protagonist", "deuteragonist")] or \
            [c["id"] for c in cast[:1]]
    text = request.text.strip() or ("二人だけの静かなひととき。" if language == "ja" else
                                    "A quiet moment the leads share before everything changes.")
    before = scenes[peak - 1] if peak > 0 else scenes[0]
    episode = {"scene_id": f"s{len(scenes) + 1}", "act": before["act"], "description": shorten(text, language),
               "characters": leads, "setting": dict(before["setting"]), "emotion": "warm", "importance": 0.55,
               "beats": [{"kind": "narration", "text": shorten(text, language), "speaker": None,
                          "delivery": "narration"}], "added_by_feedback": True}
    scenes.insert(peak, episode)


def _arc_value(scene: dict) -> float:
    base = {"calm": 0.2, "warm": 0.35, "joy": 0.45, "mystery": 0.5, "sad": 0.55, "tension": 0.7, "climax": 1.0}
    return round(min(1.0, 0.5 * base.get(scene["emotion"], 0.4) + 0.5 * scene["importance"]), 3)


def _allocation(scenes: list[dict], pages: int) -> list[dict]:
    weights = [s["importance"] * (0.6 + 0.1 * min(len(s["beats"]), 4)) for s in scenes]
    total = sum(weights) or 1.0
    shares = [round(pages * w / total, 2) for w in weights]
    shares[-1] = round(pages - sum(shares[:-1]), 2)
    return [{"scene_id": s["scene_id"], "pages": share} for s, share in zip(scenes, shares)]
