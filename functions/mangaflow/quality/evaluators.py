"""Phase evaluators: each reads an output (and the request) and scores named checks 0..1.

They look only at the data shapes of docs/data-model.md and the story text, never at how the
output was made, so Vertex AI and the offline rules are judged alike.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable

from . import _checks as c

GENRES = ("shonen", "shojo", "seinen", "josei", "kodomo")
ROLES = ("protagonist", "deuteragonist", "supporting", "minor")
HAIR = ("long", "short", "ponytail", "spiky", "bob", "bald", "bun")
BUILDS = ("slim", "average", "broad", "robot", "small")
AGES = ("child", "teen", "adult", "elder")
ACTS = ("ki", "sho", "ten", "ketsu", "setup", "confrontation", "resolution")
TIMES = ("dawn", "day", "evening", "night")
WEATHERS = ("clear", "rain", "storm", "snow")
EMOTIONS = ("calm", "joy", "tension", "sad", "climax", "mystery", "warm")
BEAT_KINDS = ("narration", "dialogue", "action")
DELIVERIES = ("speech", "thought", "shout", "narration", "sfx")
SIZES = ("splash", "large", "medium", "small")
CAMERAS = ("wide", "birds_eye", "worms_eye", "medium", "bust", "close_up")
LAYOUTS = ("grid", "tier", "splash", "inset")
EXPRESSIONS = ("neutral", "smile", "sad", "angry", "surprised", "determined")
SHAPES = ("oval", "cloud", "burst", "rect", "none")
CATEGORY_WEIGHTS = {"visual_consistency": 0.25, "narrative_coherence": 0.20, "technical_quality": 0.15,
                    "readability": 0.15, "pacing": 0.10, "character_development": 0.10, "artistic_appeal": 0.05}
MAX_LINES_PER_PANEL = 3

Result = tuple[dict[str, float], list[str]]


def requested_pages(inputs: dict) -> int | None:
    try:
        return int(inputs.get("pages")) if inputs.get("pages") is not None else None
    except (TypeError, ValueError):
        return None


def cast_ids(output: dict, inputs: dict) -> set[str]:
    chars = output.get("characters")
    if not isinstance(chars, list) or not chars:
        chars = inputs.get("characters")
        chars = chars.get("characters") if isinstance(chars, dict) else chars
    return {ch.get("id") for ch in chars or [] if isinstance(ch, dict)}


# ---------------------------------------------------------------- phase 1

def phase1(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    context = output.get("story_context") if isinstance(output.get("story_context"), dict) else {}
    checks = {
        "fields_complete": c.fields(output, ("theme", "themes", "genre", "world_setting", "target_audience",
                                             "tone", "keywords", "estimated_pages", "story_context")),
        "genre_known": float(output.get("genre") in GENRES),
        "estimated_pages_in_range": float(isinstance(output.get("estimated_pages"), int)
                                          and 1 <= output["estimated_pages"] <= 32),
        "story_context_complete": c.fields(context, ("language", "title", "style", "pages", "reading_direction")),
        "reading_direction_matches_language": float(
            (context.get("language"), context.get("reading_direction")) in (("ja", "rtl"), ("en", "ltr"))),
        "processing_metadata": c.metadata(output, 1),
    }
    pages = requested_pages(inputs)
    if pages is not None:
        checks["pages_carried"] = float(context.get("pages") == pages)
    if checks["genre_known"] < 1:
        hints.append(f"genre must be one of {', '.join(GENRES)}")
    return checks, hints


# ---------------------------------------------------------------- phase 2

def _character_ok(ch: dict) -> bool:
    figure = ch.get("figure") or {}
    palette = ch.get("palette") or {}
    return (c.fields(ch, ("id", "name", "role", "personality", "visual_description")) == 1
            and ch.get("role") in ROLES
            and all(c.is_hex(palette.get(k)) for k in ("hair", "skin", "outfit", "accent"))
            and figure.get("hair_style") in HAIR and figure.get("build") in BUILDS and figure.get("age") in AGES
            and 0.8 <= float(figure.get("height", 0)) <= 1.1)


def phase2(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    chars = [ch for ch in output.get("characters") or [] if isinstance(ch, dict)]
    ids = [ch.get("id") for ch in chars]
    outfits = [(ch.get("palette") or {}).get("outfit") for ch in chars]
    protagonists = sum(ch.get("role") == "protagonist" for ch in chars)
    relationships = output.get("relationships") or []
    checks = {
        "characters_present": float(isinstance(output.get("characters"), list)
                                    and (bool(chars) or not c.story_quotes(inputs))),
        "character_fields": c.share(chars, _character_ok),
        "ids_unique": float(len(ids) == len(set(ids)) and all(isinstance(i, str) and i for i in ids)),
        "palettes_distinct": float(len(set(outfits)) == len(outfits)),
        "one_protagonist": float(protagonists == 1) if chars else 1.0,
        "relationships_known": c.share(relationships, lambda r: r["a"] in ids and r["b"] in ids and r["a"] != r["b"]),
        "reference_images_limit": float(len(output.get("reference_images") or []) <= 2),
        "processing_metadata": c.metadata(output, 2),
    }
    story = c.story_text(inputs)
    language = c.language_of(output, inputs, story)
    people = [ch for ch in chars if ch.get("kind", "person") != "group"]
    split = c.split_people(chars, story, language) if story else []
    checks["one_identity_per_person"] = 1 - min(1.0, len(split) / max(1, len(people)))
    for a, b in split[:5]:
        hints.append(f"'{a}' and '{b}' are one person: merge them into one character (one look) and keep "
                     "every name in its aliases[]")
    if checks["palettes_distinct"] < 1:
        hints.append("two characters share an outfit colour; give each a distinct palette")
    if checks["one_protagonist"] < 1:
        hints.append(f"exactly one protagonist expected, found {protagonists}")
    return checks, hints


# ---------------------------------------------------------------- phase 3

def _scene_ok(scene: dict) -> bool:
    setting = scene.get("setting") or {}
    return (c.fields(scene, ("scene_id", "description", "setting", "emotion", "beats")) == 1
            and scene.get("act") in ACTS and setting.get("time_of_day") in TIMES
            and setting.get("weather") in WEATHERS and isinstance(setting.get("indoor"), bool)
            and scene.get("emotion") in EMOTIONS and 0 <= float(scene.get("importance", -1)) <= 1
            and all(b.get("kind") in BEAT_KINDS and b.get("delivery") in DELIVERIES for b in scene["beats"]))


def phase3(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    scenes = [s for s in output.get("scenes") or [] if isinstance(s, dict)]
    known = cast_ids(output, inputs)
    dialogue = [b for s in scenes for b in s.get("beats") or [] if isinstance(b, dict) and b.get("kind") == "dialogue"]
    quotes_score, quote_detail = c.quotes_once(c.story_quotes(inputs), [str(b.get("text")) for b in dialogue])
    arc = output.get("emotional_arc") or []
    allocation = output.get("page_allocation") or []
    pages = requested_pages(inputs)
    importances = [float(s.get("importance") or 0) for s in scenes]
    checks = {
        "fields_complete": c.fields(output, ("story_structure", "scenes", "emotional_arc", "page_allocation")),
        "structure_known": float(output.get("story_structure") in ("kishotenketsu", "three_act")),
        "scene_fields": c.share(scenes, _scene_ok),
        "scene_ids_unique": float(len({s.get("scene_id") for s in scenes}) == len(scenes)),
        "scene_characters_exist": c.share(scenes, lambda s: all(x in known for x in s.get("characters") or [])),
        "speakers_exist": c.share(dialogue, lambda b: b.get("speaker") is None or b["speaker"] in known),
        "quotes_once": quotes_score,
        "narration_in_every_scene": c.share(scenes, lambda s: any(b.get("kind") != "dialogue" for b in s["beats"])),
        "emotional_arc_matches": float(len(arc) == len(scenes) and all(0 <= float(v) <= 1 for v in arc)),
        "page_allocation_matches": float(
            [a.get("scene_id") for a in allocation] == [s.get("scene_id") for s in scenes]
            and (pages is None or abs(sum(float(a.get("pages") or 0) for a in allocation) - pages) <= 0.5)),
        "climax_weighted": float(bool(scenes) and importances.index(max(importances)) >= (len(scenes) - 1) / 2),
        "processing_metadata": c.metadata(output, 3),
    }
    story = c.story_text(inputs)
    language = c.language_of(output, inputs, story)
    if story:
        beats = [b for sc in scenes for b in sc.get("beats") or [] if isinstance(b, dict)
                 and b.get("delivery") != "sfx"]
        found, untrusted = c.text_kept(story, [str(b.get("text") or "") for b in beats], output.get("condensed"),
                                       language)
        checks["text_kept"] = found.accounted
        if found.lost_chars:
            hints.append(c.lost_hint(story, found, "phase 3"))
        captions = [(str(b.get("text") or ""), span) for b, span in zip(beats, found.placed)
                    if b.get("kind") != "dialogue"]
        cut = c.cut_captions(story, captions)
        checks["captions_whole"] = 1 - len(cut) / max(1, len(captions))
        hints += [f"narration '{t[:24]}' is cut mid-clause; cut prose only at 、 , ; : or the end of a sentence"
                  for t in cut[:3]]
        wrong = c.place_problems(scenes, story, language)
        checks["places_consistent"] = 1 - len(wrong) / max(1, len(scenes))
        hints += [f"scene {sid}: {why}; set the scene where its own words say it is" for sid, why in wrong[:4]]
        if untrusted:
            hints.append(f"{untrusted} condensed[] entries do not match the story (source offsets and text)")
    checks["speakers_in_scene"] = c.share(scenes, lambda sc: all(
        b.get("speaker") in (sc.get("characters") or []) for b in sc.get("beats") or []
        if b.get("kind") == "dialogue" and b.get("speaker")))
    hints += [f"phase 3: {d}; every quoted line must be one dialogue beat" for d in quote_detail]
    if checks["narration_in_every_scene"] < 1:
        hints.append("every scene needs at least one narration or action beat")
    if checks["scene_characters_exist"] < 1 or checks["speakers_exist"] < 1:
        hints.append("a scene names a character id that is not in the character list")
    if checks["climax_weighted"] < 1:
        hints.append("give the climax (in the second half) the highest importance")
    return checks, hints


# ---------------------------------------------------------------- phase 4

def _panels(output: dict) -> list[dict]:
    return [p for page in output.get("pages") or [] if isinstance(page, dict)
            for p in page.get("panels") or [] if isinstance(p, dict)]


def _reading(pages: list[dict]) -> list[dict]:
    """Panels in reading order: page by page, then by reading_order."""
    return [p for page in sorted(pages, key=lambda pg: pg.get("page") or 0)
            for p in sorted((q for q in page.get("panels") or [] if isinstance(q, dict)),
                            key=lambda q: q.get("reading_order") or 0)]


def _panel_ok(panel: dict) -> bool:
    return (c.fields(panel, ("panel_id", "page", "reading_order", "size", "camera_angle", "bbox", "scene_id",
                             "scene_description")) == 1
            and panel.get("size") in SIZES and panel.get("camera_angle") in CAMERAS
            and panel.get("layout_type") in LAYOUTS and isinstance(panel.get("characters"), list)
            and isinstance(panel.get("dialogues"), list)
            and all(d.get("kind") in DELIVERIES for d in panel["dialogues"]))


def _page_count_ok(page: dict) -> bool:
    panels = page.get("panels") or []
    if len(panels) == 1:
        return panels[0].get("size") == "splash"
    return 3 <= len(panels) <= 6 and not any(p.get("size") == "splash" for p in panels)


def _no_overlap(page: dict) -> bool:
    boxes = [p["bbox"] for p in page.get("panels") or []]
    return all(c.overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _order_ok(page: dict) -> bool:
    orders = [p.get("reading_order") for p in page.get("panels") or []]
    return sorted(orders) == list(range(1, len(orders) + 1))


def _first_panel_ok(page: dict, direction: str) -> bool:
    """Reading starts in the top tier, at its right end for rtl and its left end for ltr."""
    panels = page.get("panels") or []
    first = next((p for p in panels if p.get("reading_order") == 1), None)
    if first is None:
        return False
    top = min(float(p["bbox"][1]) for p in panels)
    if float(first["bbox"][1]) > top + 1e-6:
        return False
    tier = [p for p in panels if abs(float(p["bbox"][1]) - top) <= 1e-6]
    if direction == "rtl":
        return all(float(first["bbox"][0]) >= float(p["bbox"][0]) - 1e-6 for p in tier)
    return all(float(first["bbox"][0]) <= float(p["bbox"][0]) + 1e-6 for p in tier)


def _quoted(panel: dict) -> list[dict]:
    return [d for d in panel.get("dialogues") or [] if d.get("kind") not in ("narration", "sfx")]


def _load_limits(panels: list[dict], budget: int) -> tuple[int, int]:
    """Lines and characters a panel may carry: the comfortable limit, or, when the story has more
    lines than the pages can hold at that limit, an even share of them (plus one line of slack)."""
    lines = [d for p in panels for d in _quoted(p)]
    if not panels:
        return MAX_LINES_PER_PANEL, budget
    share_lines = -(-len(lines) // len(panels)) + 1
    share_chars = int(sum(len(str(d.get("text") or "")) for d in lines) / len(panels) * 1.5) + budget // 2
    if len(lines) <= MAX_LINES_PER_PANEL * len(panels) * 0.8:
        return MAX_LINES_PER_PANEL, budget
    return max(MAX_LINES_PER_PANEL, share_lines), max(budget, share_chars)


def _load_ok(panel: dict, limits: tuple[int, int]) -> bool:
    lines = _quoted(panel)
    return len(lines) <= limits[0] and sum(len(str(d.get("text") or "")) for d in lines) <= limits[1]


def phase4(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    pages = [p for p in output.get("pages") or [] if isinstance(p, dict)]
    panels = _panels(output)
    wanted = requested_pages(inputs)
    direction = output.get("reading_direction")
    known = cast_ids(output, inputs)
    language = (output.get("story_context") or {}).get("language") or inputs.get("language")
    budget = 60 if language == "ja" else 150
    lettered = [str(d.get("text")) for p in panels for d in p.get("dialogues") or [] if isinstance(d, dict)]
    quotes_score, quote_detail = c.quotes_once(c.story_quotes(inputs), lettered)
    ids = [p.get("panel_id") for p in panels]
    limits = _load_limits(panels, budget)
    checks = {
        "page_count": float(wanted is None or len(pages) == wanted) if pages else 0.0,
        "panels_per_page": c.share(pages, _page_count_ok) if pages else 0.0,
        "panel_fields": c.share(panels, _panel_ok) if panels else 0.0,
        "panel_ids_unique": float(len(ids) == len(set(ids))),
        "bboxes_inside_page": c.share(panels, lambda p: c.in_unit(p["bbox"])),
        "panels_do_not_overlap": c.share(pages, _no_overlap),
        "reading_order_permutation": c.share(pages, _order_ok),
        "reading_direction": c.share(pages, lambda pg: _first_panel_ok(pg, direction))
        if direction in ("rtl", "ltr") else 0.0,
        "quotes_once": quotes_score,
        "dialogue_load": c.share(panels, lambda p: _load_ok(p, limits)),
        "panel_characters_exist": c.share(panels, lambda p: all(x in known for x in p["characters"]) and all(
            d.get("speaker") is None or d["speaker"] in known for d in p["dialogues"])),
        "climax_emphasis": float(any(p.get("size") in ("splash", "large") for p in panels)),
        "processing_metadata": c.metadata(output, 4),
    }
    story = c.story_text(inputs)
    language = c.language_of(output, inputs, story)
    if story:
        lines = [d for p in _reading(pages) for d in p.get("dialogues") or [] if isinstance(d, dict)
                 and d.get("kind") != "sfx"]
        found, untrusted = c.text_kept(story, [str(d.get("text") or "") for d in lines], output.get("condensed"),
                                       language)
        checks["text_kept"] = found.accounted
        checks["prose_lettered"] = found.kept
        checks["condensed_recorded_honestly"] = 1.0 if not untrusted else 0.5
        if found.lost_chars:
            hints.append(c.lost_hint(story, found, "phase 4"))
        captions = [(str(d.get("text") or ""), span) for d, span in zip(lines, found.placed)
                    if d.get("kind") == "narration"]
        cut = c.cut_captions(story, captions)
        checks["captions_whole"] = 1 - len(cut) / max(1, len(captions))
        hints += [f"caption '{t[:24]}' is cut mid-clause; cut captions only at 、 , ; : or the end of a sentence"
                  for t in cut[:3]]
        if untrusted:
            hints.append(f"{untrusted} condensed[] entries do not match the story or are no attribution")
    missing = [(p.get("panel_id"), d.get("speaker")) for p in panels for d in p.get("dialogues") or []
               if isinstance(d, dict) and d.get("speaker") and d.get("kind") not in ("narration", "sfx")
               and d["speaker"] not in (p.get("characters") or [])]
    spoken = sum(1 for p in panels for d in p.get("dialogues") or [] if isinstance(d, dict) and d.get("speaker")
                 and d.get("kind") not in ("narration", "sfx"))
    checks["speakers_in_panels"] = 1 - len(missing) / max(1, spoken)
    hints += [f"panel {pid}: speaker {who} is not among its characters; put each speaker in the panel where "
              "they speak" for pid, who in missing[:3]]
    crowded = c.crowded(panels, output.get("page_size_px"), language)
    checks["lettering_room"] = 1 - len(crowded) / max(1, len(panels))
    if crowded:
        worst = max(crowded, key=lambda item: item[1])
        hints.append(f"condense narration: {len(crowded)} of {len(panels)} panels are crowded (lettering over "
                     f"{round(100 * c.room.CROWDED_AT)}% of the panel; {worst[0]} at {round(100 * worst[1])}%); "
                     "take captions out of them and record each in condensed[] with its source")
        spoken_px = c.room.lettering_px([d for p in panels for d in _quoted(p)], language)
        page_px = c.room.panel_px([0, 0, 1, 1], output.get("page_size_px")) * c.room.COMFORTABLE
        needed = math.ceil(spoken_px / page_px) if page_px else 0
        if needed > len(pages):
            hints.append(f"the quoted lines alone need about {needed} pages to be lettered comfortably; condensing "
                         f"narration cannot make them fit {len(pages)}: ask for more pages")
    if checks["page_count"] < 1:
        hints.append(f"the storyboard has {len(pages)} pages; the request asks for {wanted}")
    if checks["panels_per_page"] < 1:
        hints.append("every page needs 3-6 panels, or a single splash panel")
    if checks["panels_do_not_overlap"] < 1 or checks["bboxes_inside_page"] < 1:
        hints.append("panel bboxes must tile the page inside 0..1 without overlapping")
    if checks["reading_direction"] < 1:
        hints.append(f"reading_order 1 must be the top-{'right' if direction == 'rtl' else 'left'} panel")
    hints += [f"phase 4: {d}; every quoted line belongs to exactly one panel" for d in quote_detail]
    if checks["dialogue_load"] < 1:
        hints.append(f"split panels carrying more than {limits[0]} lines or {limits[1]} characters")
    return checks, hints


# ---------------------------------------------------------------- phase 5

def _description_ok(d: dict) -> bool:
    staging = d.get("staging") or []
    chars = set(d.get("characters") or [])
    return (c.fields(d, ("panel_id", "description", "setting", "mood", "camera_angle")) == 1
            and isinstance(d.get("staging"), list)
            and all(0 <= float(s["x"]) <= 1 and 0 <= float(s["y"]) <= 1 and float(s["scale"]) > 0
                    and s.get("facing") in ("left", "right") and s.get("expression") in EXPRESSIONS
                    and s.get("character_id") in chars for s in staging))


def phase5(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    items = output.get("image_descriptions") if "image_descriptions" in output else [output]
    items = [d for d in items or [] if isinstance(d, dict)]
    storyboard = inputs.get("storyboard") if isinstance(inputs.get("storyboard"), dict) else {}
    expected = [p.get("panel_id") for p in _panels(storyboard)]
    counts = Counter(d.get("panel_id") for d in items)
    checks = {
        "descriptions_complete": c.share(items, _description_ok) if items else 0.0,
        "fallback_free": c.share(items, lambda d: d.get("fallback", "none") == "none"),
        "placeholder_free": c.share(items, lambda d: d.get("fallback") != "placeholder"),
    }
    if "image_descriptions" in output:
        checks["every_panel_once"] = (sum(counts.get(pid) == 1 for pid in expected) / len(expected)) if expected \
            else float(bool(items))
        checks["images_stored"] = c.share(items, lambda d: str(d.get("image_uri") or "").startswith(("gs://", "file:")))
    by_panel = {p.get("panel_id"): p for p in _panels(storyboard)}
    unstaged = []
    for d in items:
        panel = by_panel.get(d.get("panel_id")) or {}
        staged = {s.get("character_id") for s in d.get("staging") or [] if isinstance(s, dict)}
        for line in panel.get("dialogues") or []:
            who = line.get("speaker") if isinstance(line, dict) else None
            if who and line.get("kind") not in ("narration", "sfx") and (
                    who not in (d.get("characters") or []) or (d.get("staging") and who not in staged)):
                unstaged.append((d.get("panel_id"), who))
    spoken = sum(1 for d in items for line in (by_panel.get(d.get("panel_id")) or {}).get("dialogues") or []
                 if isinstance(line, dict) and line.get("speaker") and line.get("kind") not in ("narration", "sfx"))
    if storyboard:
        checks["speakers_drawn"] = 1 - len(unstaged) / max(1, spoken)
    hints += [f"panel {pid}: {who} speaks but is not drawn; stage every speaker of the panel" for pid, who in unstaged[:3]]
    if checks["descriptions_complete"] < 1:
        hints.append("each panel description needs description, setting, mood, camera_angle and valid staging")
    if checks.get("every_panel_once", 1) < 1:
        hints.append("some storyboard panels have no image (or more than one)")
    return checks, hints


# ---------------------------------------------------------------- phase 6

def _placement_ok(entry: dict) -> bool:
    dialogues = entry.get("dialogues") or []
    placements = entry.get("placements") or []
    indices = sorted(p.get("dialogue_index") for p in placements)
    return (indices == list(range(len(dialogues)))
            and all(c.in_unit(p.get("box")) and p.get("lines") and p.get("shape") in SHAPES
                    and (p.get("tail") is None or all(0 <= float(v) <= 1 for v in p["tail"]))
                    for p in placements))


def phase6(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    entries = [e for e in output.get("dialogue_placements") or [] if isinstance(e, dict)]
    placements = [p for e in entries for p in e.get("placements") or [] if isinstance(p, dict)]
    overflow = sum(bool(p.get("overflow")) for p in placements)
    # A line a person corrected at the gate, or a translated line, stands for the story's words in `source_text`.
    lettered = [str(d.get("source_text") or d.get("text")) for e in entries for d in e.get("dialogues") or []
                if isinstance(d, dict)]
    quotes_score, quote_detail = c.quotes_once(c.story_quotes(inputs), lettered)
    checks = {
        "placements_present": float(isinstance(output.get("dialogue_placements"), list)),
        "every_dialogue_placed": c.share(entries, _placement_ok),
        "no_overflow": 1.0 if not placements else max(0.0, 1 - overflow / len(placements)),
        "quotes_lettered": quotes_score,
    }
    story = c.story_text(inputs)
    if story and entries:
        language = c.language_of(output, inputs, story)
        lettered_lines = [str(d.get("source_text") or d.get("text") or "") for e in entries
                          for d in e.get("dialogues") or [] if isinstance(d, dict) and d.get("kind") != "sfx"]
        declared = output.get("condensed", (inputs.get("storyboard") or {}).get("condensed"))
        found, _ = c.text_kept(story, lettered_lines, declared, language)
        checks["text_kept"] = found.accounted
        if found.lost_chars:
            hints.append(c.lost_hint(story, found, "phase 6"))
    if overflow:
        hints.append(f"{overflow} bubble(s) overflow; shrink the font or split the line across panels")
    hints += [f"phase 6: {d}" for d in quote_detail]
    if checks["every_dialogue_placed"] < 1:
        hints.append("every dialogue needs a placement with lines and a box inside its panel")
    return checks, hints


# ---------------------------------------------------------------- phase 7

def weighted_overall(categories: dict) -> float:
    """The final-quality score: categories weighted as in PIPELINE.md (missing categories count 0)."""
    return round(sum(w * max(0.0, min(1.0, float(categories.get(k) or 0))) for k, w in CATEGORY_WEIGHTS.items()), 4)


def phase7(output: dict, inputs: dict) -> Result:
    hints: list[str] = []
    qc = output.get("quality_checks") if isinstance(output.get("quality_checks"), dict) else {}
    exports = output.get("exports") if isinstance(output.get("exports"), dict) else {}
    pages = output.get("pages") or []
    wanted = requested_pages(inputs)
    categories = weighted_overall(qc)
    checks = {
        "categories": categories,
        "categories_present": sum(k in qc for k in CATEGORY_WEIGHTS) / len(CATEGORY_WEIGHTS),
        "overall_consistent": float(abs(float(qc.get("overall") or -1) - categories) <= 0.02),
        "no_text_overflow": float(qc.get("text_overflow", 1) == 0),
        "quotes_lettered": max(0.0, min(1.0, float(qc.get("quotes_lettered") or 0))),
        "page_count": float(bool(pages) and (wanted is None or len(pages) == wanted)),
        "exports_present": sum(bool(exports.get(k)) for k in ("pdf", "cbz", "manifest")) / 3,
    }
    if checks["no_text_overflow"] < 1:
        hints.append("some lettering overflows its bubble")
    if checks["overall_consistent"] < 1:
        hints.append("quality_checks.overall must be the weighted sum of the seven categories")
    if checks["page_count"] < 1:
        hints.append(f"the book has {len(pages)} pages; the request asks for {wanted}")
    return checks, hints


EVALUATORS: dict[int, Callable[[dict, dict], Result]] = {1: phase1, 2: phase2, 3: phase3, 4: phase4, 5: phase5,
                                                         6: phase6, 7: phase7}
# Checks that matter more than the rest (they break the reader's experience, not just tidiness).
WEIGHTS = {"quotes_once": 3.0, "quotes_lettered": 3.0, "page_count": 2.0, "panels_per_page": 2.0,
           "panels_do_not_overlap": 2.0, "no_overflow": 3.0, "categories": 3.0, "every_panel_once": 2.0,
           "fields_complete": 2.0, "descriptions_complete": 2.0, "text_kept": 2.0, "one_identity_per_person": 2.0}
# Checks that catch what a reader would call a broken manga, with (ok_at, fail_at): at or above ok_at the
# check does not limit the score; between fail_at and ok_at the phase passes with a warning (0.60-0.70);
# at or below fail_at it is retried (below 0.60), however tidy the rest is.
CRITICAL: dict[str, tuple[float, float]] = {
    "text_kept": (0.99, 0.95),                 # story text that reaches no caption or bubble
    "one_identity_per_person": (1.0, 1.0),     # one person drawn as two characters
    "speakers_in_panels": (1.0, 0.9),          # a speaker missing from the panel where they speak
    "speakers_drawn": (1.0, 0.9),
    "lettering_room": (1.0, 0.85),             # bubbles crowding panels
    "captions_whole": (1.0, 1.0),              # a caption cut mid-clause ("ところが部員の一") reads as nonsense
    "places_consistent": (1.0, 0.75),          # a place that contradicts the scene
    "quotes_once": (1.0, 0.9),
    "quotes_lettered": (1.0, 0.9),
}


def critical_cap(value: float, ok_at: float, fail_at: float) -> float:
    """The highest score a phase can have with this critical check at `value` (see CRITICAL)."""
    if value >= ok_at - 1e-9:
        return 1.0
    if fail_at < ok_at and value > fail_at:
        return 0.60 + 0.0999 * (value - fail_at) / (ok_at - fail_at)
    return round(0.59 * max(0.0, value) / max(fail_at, 1e-9), 4)
