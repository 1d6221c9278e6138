"""Offline phase 4 (the name): beats -> panels -> exactly `pages` pages -> tiers of bboxes.

Every beat of the plot is lettered: quoted lines as bubbles, every sentence of the prose as a caption,
in story order. Panels are cut from each scene's beats (an establishing shot, then panels filled up
to a lettering budget), spread or compressed to fit 3-6 panels a page, paginated by dynamic
programming (balanced pages, scenes starting pages, the climax after a page turn), and laid out in
tiers read right-to-left for Japanese.

When the story holds more text than the pages can letter comfortably, the first storyboard still
letters all of it (panels get crowded, and the quality gate says so); asked to condense (the
evaluator's hint, or a person's), it leaves out narration from the middle of long runs of prose until
the text fits, and records each sentence left out in `condensed[]` with its place in the story.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..quality.room import CROWDED_AT, comfortable_chars, lettering_px, load, panel_px
from .common import language_of, pages_of, reading_direction
from .feedback import Request, read as read_feedback
from .plot import cast_of, condensed_entry, plot as offline_plot

PAGE_SIZE_PX = [2150, 3035]  # B5 at 300 dpi
GUTTER_X, GUTTER_Y = 0.025, 0.02
MAX_LINES = 3
SILENT = ("reaction", "detail", "atmosphere")
WEIGHT = {"splash": 6.0, "large": 2.2, "medium": 1.4, "small": 1.0}
PANELS_PER_PAGE = 4.5  # what a page averages, for the lettering budget of one panel
FOLDS = (1.0, 1.5, 2.25, 3.4, 5.0, 7.5, 11.0)  # budgets tried, times the comfortable one, until panels fit
MAX_CONDENSE_STEPS = 60  # captions taken out of crowded panels one at a time, at most


def line_budget(language: str) -> int:
    """Characters of lettering (captions and bubbles) one average panel holds comfortably."""
    return comfortable_chars(PANELS_PER_PAGE, language)


@dataclass
class PanelDraft:
    scene: int
    shot: str  # establishing | dialogue | action | reaction | atmosphere
    lines: list[dict] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)
    characters: list[str] = field(default_factory=list)
    size: str = "medium"
    camera: str = "medium"
    key: bool = False  # the climax reveal
    scene_start: bool = False
    variant: int = 0  # which silent-panel focus (hands, sky, ...) so repeats do not look alike

    def quoted(self) -> int:
        return sum(1 for d in self.lines if d["kind"] not in ("narration", "sfx"))

    def length(self) -> int:
        return sum(len(d["text"]) for d in self.lines if d["kind"] != "sfx")


@dataclass(frozen=True)
class Room:
    """What one panel may carry: characters of lettering, quoted lines, and whether each sentence of
    prose gets a panel of its own (a short story spread over many pages)."""

    chars: int
    lines: int
    spread: bool = False


def storyboard(inputs: dict, feedback: dict | None) -> dict:
    request = read_feedback(feedback, 4)
    language = language_of(inputs)
    pages = pages_of(inputs)
    plot = inputs.get("plot") if isinstance(inputs.get("plot"), dict) else offline_plot(inputs, None)
    scenes = [dict(s, beats=list(s.get("beats") or [])) for s in plot.get("scenes") or []]
    cast = cast_of(inputs)
    direction = _direction(language, request)
    density = _density(request)
    condensed = [dict(c) for c in plot.get("condensed") or [] if isinstance(c, dict)]
    text = str(inputs.get("text") or "")

    def build() -> list[dict]:
        panels = _panels_to_fit(scenes, cast, language, pages, density)
        _sizes(panels, scenes, pages, request, language)
        _cameras(panels, scenes, request)
        grouped = _paginate(panels, pages, scenes)
        return [_layout_page(number, group, scenes, direction, language, request)
                for number, group in enumerate(grouped, start=1)]

    if request.asks("condense"):
        condensed += _condense(scenes, text, language, pages)
    out_pages = build()
    for _ in range(MAX_CONDENSE_STEPS if request.asks("condense") else 0):
        step = _relieve(out_pages, scenes, text, language)
        if step is None:
            break
        condensed.append(step)
        out_pages = build()
    result = {"reading_direction": direction, "page_size_px": list(PAGE_SIZE_PX), "pages": out_pages,
              "condensed": sorted(condensed, key=lambda c: list(c.get("source") or [0, 0]))}
    if request.option:
        result["applied_feedback"] = {"option": request.option, "intensity": request.intensity}
    return result


def _relieve(out_pages: list[dict], scenes: list[dict], text: str, language: str) -> dict | None:
    """Take one caption out of the most crowded panel (its longest, never a scene's opening caption);
    returns what was left out, or None when no panel is crowded or none can be relieved."""
    crowded = sorted(((load(panel, PAGE_SIZE_PX, language), panel) for page in out_pages for panel in page["panels"]),
                     key=lambda item: -item[0])
    for share, panel in crowded:
        if share <= CROWDED_AT:
            return None
        index = next((i for i, s in enumerate(scenes) if s.get("scene_id") == panel.get("scene_id")), None)
        if index is None:
            continue
        scene = scenes[index]
        first = next((b for b in scene["beats"] if b.get("kind") != "dialogue" and b.get("delivery") != "sfx"), None)
        captions = {d["text"] for d in panel["dialogues"] if d["kind"] == "narration"}
        choices = [b for b in scene["beats"] if b.get("kind") != "dialogue" and b.get("delivery") != "sfx"
                   and b is not first and b.get("text") in captions]
        if not choices:
            continue
        beat = max(choices, key=lambda b: len(str(b.get("text") or "")))
        scene["beats"] = [b for b in scene["beats"] if b is not beat]
        scene.setdefault("_drawn", []).append(str(beat.get("text") or ""))
        return _left_out(beat, text)
    return None


def _left_out(beat: dict, text: str) -> dict:
    source = beat.get("source")
    if isinstance(source, list) and len(source) == 2 and text:
        return condensed_entry(text, (int(source[0]), int(source[1])), "page_budget")
    return {"source": list(source) if isinstance(source, list) else [0, 0], "text": str(beat.get("text") or ""),
            "reason": "page_budget"}


def _condense(scenes: list[dict], text: str, language: str, pages: int) -> list[dict]:
    """Leave out narration until the lettering fits the pages comfortably; returns what was left out.

    Quoted lines and the first and last sentence of each run of prose stay (they set up and close
    what the panels show); sentences in the middle of the longest runs go first. A sentence left out
    is kept in its scene's picture (`_drawn`), so the art still shows it.
    """
    capacity = comfortable_chars(PANELS_PER_PAGE, language) * PANELS_PER_PAGE * pages
    total = sum(len(str(b.get("text") or "")) for s in scenes for b in s["beats"] if b.get("delivery") != "sfx")
    candidates = []
    for si, scene in enumerate(scenes):
        run: list[int] = []
        for bi, beat in enumerate(scene["beats"] + [{"kind": "dialogue"}]):
            if beat.get("kind") != "dialogue" and beat.get("delivery") != "sfx":
                run.append(bi)
                continue
            for k, index in enumerate(run[1:-1], start=1):  # the middle of the run, its centre first
                candidates.append((-len(run), abs(k - len(run) / 2), si, index))
            run = []
    dropped: list[dict] = []
    gone: set[tuple[int, int]] = set()
    for _, _, si, bi in sorted(candidates):
        if total <= capacity:
            break
        beat = scenes[si]["beats"][bi]
        total -= len(str(beat.get("text") or ""))
        gone.add((si, bi))
        dropped.append(_left_out(beat, text))
    for si, scene in enumerate(scenes):
        drawn = [str(b.get("text") or "") for bi, b in enumerate(scene["beats"]) if (si, bi) in gone]
        if drawn:
            scene["beats"] = [b for bi, b in enumerate(scene["beats"]) if (si, bi) not in gone]
            scene["_drawn"] = drawn
    return dropped


def _direction(language: str, request: Request) -> str:
    base = reading_direction(language)
    if not request.wants("direction"):
        return base
    text = request.text.lower()
    if "ltr" in text or "left to right" in text or "左から" in text:
        return "ltr"
    if "rtl" in text or "right to left" in text or "右から" in text:
        return "rtl"
    return "ltr" if base == "rtl" else "rtl"


def _density(request: Request) -> float:
    """Panels per page to aim for: fewer, bigger panels or more, smaller ones on request."""
    if request.wants("panel_layout"):
        text = request.text.lower()
        if any(w in text for w in ("more", "smaller", "細か", "増や")):
            return 4.0 + 1.8 * request.intensity
        return 3.2 - 0.2 * request.intensity  # default reading of "layout": bigger, bolder panels
    return 3.5


# ---------------------------------------------------------------- beats -> panels

def _cut_scene(index: int, scene: dict, language: str, room: Room) -> list[PanelDraft]:
    """Panels for one scene: an establishing panel with the scene's first caption, then panels filled
    with the scene's beats in order up to the room each may carry."""
    people = list(scene.get("characters") or [])
    first_prose = next((str(b.get("text") or "") for b in scene.get("beats") or [] if b.get("kind") != "dialogue"), "")
    on_stage = _named(first_prose, scene, people) or people[:2]
    opening = PanelDraft(index, "establishing", characters=on_stage[:3], scene_start=True)
    panels = [opening]
    current = opening
    for beat in scene.get("beats") or []:
        text = str(beat.get("text") or "")
        if beat.get("delivery") == "sfx":
            current.lines.append({"speaker": None, "text": text, "kind": "sfx"})
            continue
        quoted = beat.get("kind") == "dialogue"
        line = {"speaker": beat.get("speaker") if quoted else None, "text": text,
                "kind": (beat.get("delivery") if beat.get("delivery") in ("speech", "thought", "shout", "sfx")
                         else "speech") if quoted else "narration"}
        fits = current.length() + len(text) <= room.chars and (not quoted or current.quoted() < room.lines)
        if current is opening and quoted and current.quoted() >= max(1, room.lines // 3):
            fits = False  # the wide shot carries one line (more only when everything is folded tight)
        if room.spread and not quoted and any(d["kind"] == "narration" for d in current.lines):
            fits = False
        if not fits and any(d["kind"] != "sfx" for d in current.lines):
            current = PanelDraft(index, "dialogue" if quoted else "action")
            panels.append(current)
        if quoted and current.shot == "action":
            current.shot = "dialogue"
        current.lines.append(line)
        if quoted:
            if line["speaker"] and line["speaker"] not in current.characters:
                current.characters.append(line["speaker"])
            continue
        current.prose.append(text)
        for cid in _named(text, scene, people):
            if cid not in current.characters:
                current.characters.append(cid)
    drawn = scene.get("_drawn") or []
    if drawn:  # prose condensed out of the captions is still what the panels show
        for panel in panels:
            panel.prose += drawn[: max(1, len(drawn) // len(panels))]
    for panel in panels:
        if not panel.characters and panel.shot in ("action", "dialogue"):
            panel.characters = people[:2]
    return panels


def _named(text: str, scene: dict, people: list[str]) -> list[str]:
    names = scene.get("_names") or {}
    return [cid for name, cid in names.items() if name and cid in people and _mentions(text, name)]


def _mentions(text: str, name: str) -> bool:
    # a Latin name is a whole word ("I" is not in "It", "me" not in "came"); CJK names anywhere
    if name not in text:
        return False
    if not name.isascii():
        return True
    return re.search(r"(?<![A-Za-z])" + re.escape(name) + r"(?![a-z])", text) is not None


def _panels_to_fit(scenes: list[dict], cast: list[dict], language: str, pages: int,
                   density: float) -> list[PanelDraft]:
    names = {str(n): c["id"] for c in cast for n in [c.get("name", ""), *(c.get("aliases") or [])] if n}
    for scene in scenes:
        scene["_names"] = names
    try:
        most = 6 * pages
        budget = line_budget(language)
        panels: list[PanelDraft] = []
        for fold in FOLDS:  # the comfortable budget first; fold more into each panel only when pages run out
            room = Room(round(budget * fold), max(MAX_LINES, round(MAX_LINES * fold)))
            panels = [p for i, s in enumerate(scenes) for p in _cut_scene(i, s, language, room)]
            if len(panels) <= most:
                break
        if len(panels) > most:
            panels = _bucket(panels, most)
        least = _least_panels(pages)
        goal = min(most, max(least, math.ceil(density * pages)))
        if len(panels) < goal:
            spread = [p for i, s in enumerate(scenes)
                      for p in _cut_scene(i, s, language, Room(budget, MAX_LINES, spread=True))]
            if len(panels) < len(spread) <= most:
                panels = spread
            panels = _add_silent(panels, scenes, goal)
        if not panels:
            panels = [PanelDraft(0, "atmosphere", scene_start=True)]
            panels = _add_silent(panels, scenes or [{}], least)
        return panels
    finally:
        for scene in scenes:
            scene.pop("_names", None)


def _least_panels(pages: int) -> int:
    return 3 * pages if pages < 4 else 3 * (pages - 1) + 1


def _bucket(panels: list[PanelDraft], most: int) -> list[PanelDraft]:
    """Merge neighbouring panels until at most `most` remain, balancing quoted lines per panel:
    lines are never dropped, only shared out as evenly as the story allows."""
    weights = [max(1, p.quoted()) for p in panels]
    target = sum(weights) / most
    merged: dict[int, PanelDraft] = {}
    done = 0.0
    for panel, weight in zip(panels, weights):
        slot = min(most - 1, int((done + weight / 2) / target))  # by the middle of its lines
        done += weight
        head = merged.get(slot)
        if head is None:
            merged[slot] = panel
            continue
        head.lines += panel.lines
        head.prose += panel.prose
        head.characters = list(dict.fromkeys(head.characters + panel.characters))
    return [merged[k] for k in sorted(merged)]


def _add_silent(panels: list[PanelDraft], scenes: list[dict], goal: int) -> list[PanelDraft]:
    """Short story, many pages: reaction, detail and atmosphere panels, most important scenes first.

    Each round gives every scene one more silent panel of the next kind, anchored on a different
    panel, so the additions read as pacing rather than repetition.
    """
    order = sorted(range(len(scenes)), key=lambda i: (-float(scenes[i].get("importance") or 0), i)) or [0]
    if not panels:
        panels.append(PanelDraft(order[0], "atmosphere", scene_start=True))
    kinds = ("reaction", "detail", "atmosphere")
    round_no = 0
    while len(panels) < goal:
        for scene_index in order:
            if len(panels) >= goal:
                break
            members = [k for k, p in enumerate(panels) if p.scene == scene_index and p.shot not in SILENT
                       and not (k + 1 < len(panels) and panels[k + 1].shot in SILENT)] \
                or [k for k, p in enumerate(panels) if p.scene == scene_index] or [len(panels) - 1]
            for turn in range(3):
                shot = kinds[(round_no + turn) % 3]
                if shot == "reaction":
                    pool = [k for k in members if panels[k].quoted()]
                elif shot == "detail":
                    pool = [k for k in members if panels[k].prose]
                else:
                    pool = members[-1:]
                if pool:
                    break
            anchor = pool[(round_no // 3) % len(pool)]
            base = panels[anchor]
            if shot == "reaction":
                speakers = [d["speaker"] for d in base.lines if d.get("speaker")]
                listeners = [c for c in base.characters if c not in speakers[-1:]]
                people = (listeners or base.characters)[:1]
            else:
                people = base.characters[:2] if shot == "atmosphere" else base.characters[:1]
            panels.insert(anchor + 1, PanelDraft(base.scene, shot, characters=list(people),
                                                 prose=base.prose[-1:], variant=round_no))
        round_no += 1
    return panels


# ---------------------------------------------------------------- sizes and cameras

def _sizes(panels: list[PanelDraft], scenes: list[dict], pages: int, request: Request, language: str) -> None:
    importance = [float(s.get("importance") or 0) for s in scenes]
    budget = line_budget(language)
    climax = max(range(len(scenes)), key=lambda i: (importance[i], scenes[i].get("emotion") == "climax", -i),
                 default=None)
    bold = request.wants("panel_layout") or request.wants("composition")
    for panel in panels:
        weight = importance[panel.scene] if panel.scene < len(importance) else 0.5
        if panel.shot == "establishing" and (weight >= 0.7 or (bold and weight >= 0.5)):
            panel.size = "large"
        elif panel.length() > 1.3 * budget:
            panel.size = "large"  # a panel carrying much text needs the room to letter it
        elif panel.quoted() >= 2 or panel.length() > 0.4 * budget or panel.shot in ("establishing", "action"):
            panel.size = "medium"
        else:
            panel.size = "small"
        if request.wants("composition") and panel.shot in ("reaction", "dialogue") and panel.size == "small":
            panel.size = "medium"
    if climax is not None:
        key = next((p for p in panels if p.scene == climax), None)
        if key is not None:
            key.key = True
            key.size = "splash" if pages >= 4 else "large"
    if panels and panels[0].size != "splash":
        panels[0].size = "large"  # the opening shot sets the world


def _cameras(panels: list[PanelDraft], scenes: list[dict], request: Request) -> None:
    named = _named_angle(request.text) if request.wants("camera_angle") else None
    dynamic = request.wants("camera_angle") or request.wants("composition")
    for index, panel in enumerate(panels):
        scene = scenes[panel.scene] if panel.scene < len(scenes) else {}
        emotion = scene.get("emotion", "calm")
        indoor = bool((scene.get("setting") or {}).get("indoor"))
        kinds = {d["kind"] for d in panel.lines}
        if panel.key:
            camera = "worms_eye" if indoor else "birds_eye"
        elif panel.shot == "establishing":
            camera = "birds_eye" if emotion in ("tension", "climax") else "wide"
        elif panel.shot == "atmosphere":
            camera = ("wide", "birds_eye", "wide", "worms_eye")[panel.variant % 4]
        elif panel.shot == "detail":
            camera = "close_up"
        elif panel.shot == "reaction" or kinds & {"shout", "thought"}:
            camera = "close_up"
        elif panel.shot == "action":
            camera = "worms_eye" if emotion in ("tension", "climax") else "medium"
        elif emotion in ("sad", "tension", "climax") and len({d["speaker"] for d in panel.lines}) == 1:
            camera = "close_up"
        elif len({d["speaker"] for d in panel.lines if d["speaker"]}) >= 2:
            camera = "medium"
        else:
            camera = "bust" if index % 2 == 0 else "medium"
        if named and panel.shot != "establishing":
            camera = named
        elif dynamic and camera in ("medium", "bust"):
            camera = ["close_up", "worms_eye", "birds_eye"][index % 3] if request.intensity >= 0.5 else "close_up"
        panel.camera = camera


def _named_angle(text: str) -> str | None:
    text = text.lower()
    table = [("bird", "birds_eye"), ("俯瞰", "birds_eye"), ("worm", "worms_eye"), ("煽り", "worms_eye"),
             ("アオリ", "worms_eye"), ("close", "close_up"), ("アップ", "close_up"), ("wide", "wide"),
             ("引き", "wide"), ("bust", "bust")]
    return next((angle for word, angle in table if word in text), None)


# ---------------------------------------------------------------- pagination

def _paginate(panels: list[PanelDraft], pages: int, scenes: list[dict]) -> list[list[PanelDraft]]:
    for relax in range(3):
        result = _dp(panels, pages, relax)
        if result is not None:
            return result
        if relax == 0:
            for p in panels:
                if p.size == "splash":
                    p.size = "large"
    # counts out of range (an unusual plot from another provider): rebalance and cut evenly
    least, most = 3 * pages, 6 * pages
    while len(panels) < least:
        panels = _add_silent(panels, scenes or [{}], least)
    if len(panels) > most:
        panels = _bucket(panels, most)
    result = _dp(panels, pages, 2)
    assert result is not None, "panel count is within 3..6 per page"
    return result


def _dp(panels: list[PanelDraft], pages: int, relax: int) -> list[list[PanelDraft]] | None:
    n = len(panels)
    weights = [WEIGHT[p.size] for p in panels]
    average = sum(weights) / pages
    inf = float("inf")
    best = [[inf] * (pages + 1) for _ in range(n + 1)]
    back = [[-1] * (pages + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    prefix = [0.0]
    for w in weights:
        prefix.append(prefix[-1] + w)
    for k in range(1, pages + 1):
        for j in range(1, n + 1):
            for m in (1, 3, 4, 5, 6):
                i = j - m
                if i < 0 or best[i][k - 1] == inf:
                    continue
                group = panels[i:j]
                if m == 1 and group[0].size != "splash":
                    continue
                if m > 1 and any(p.size == "splash" for p in group):
                    continue
                cost = best[i][k - 1] + _page_cost(group, prefix[j] - prefix[i], average, k, relax)
                if cost < best[j][k]:
                    best[j][k], back[j][k] = cost, i
    if best[n][pages] == inf:
        return None
    groups, j = [], n
    for k in range(pages, 0, -1):
        i = back[j][k]
        groups.append(panels[i:j])
        j = i
    return groups[::-1]


def _page_cost(group: list[PanelDraft], weight: float, average: float, page: int, relax: int) -> float:
    if group[0].size == "splash":
        cost = 0.2
    else:
        cost = ((weight - average) / max(average, 1e-6)) ** 2
    if not group[0].scene_start:
        cost += 0.35  # a new page reads best when it opens a new scene
    for offset, panel in enumerate(group):
        if panel.key and offset:
            if relax < 2:
                cost += 50.0  # the reveal comes after a page turn
        if panel.key and page % 2 == 0 and page > 1:
            cost += 0.6  # and, in a bound book, on an odd page (the one you turn to)
    larges = sum(p.size == "large" for p in group)
    cost += 0.5 * max(0, larges - 1)
    return cost


# ---------------------------------------------------------------- page layout

def _layout_page(number: int, group: list[PanelDraft], scenes: list[dict], direction: str, language: str,
                 request: Request) -> dict:
    if len(group) == 1 and group[0].size == "splash":
        boxes = [[0.0, 0.0, 1.0, 1.0]]
        layouts = ["splash"]
    else:
        larges = [p for p in group if p.size == "large"]
        # one dominant panel per page keeps the eye's path clear: the reveal, else the one with most to
        # letter; a second panel keeps its size only when its lettering needs it
        keep = max(larges, key=lambda p: (p.key, p.length()), default=None)
        heavy = 1.3 * line_budget(language)
        for extra in larges:
            if extra is not keep and extra.length() <= heavy:
                extra.size = "medium"
        rows = _rows(group)
        boxes, layouts = _tile(rows, direction)
        if request.wants("panel_layout"):
            boxes, layouts = _relayout(group, boxes, layouts, keep, direction, language, request)
    panels = []
    for order, (panel, box, layout) in enumerate(zip(group, boxes, layouts), start=1):
        scene = scenes[panel.scene] if panel.scene < len(scenes) else {}
        panels.append({
            "panel_id": f"p{number:02d}-{order}", "page": number, "reading_order": order,
            "layout_type": layout, "size": panel.size, "camera_angle": panel.camera,
            "bbox": [round(v, 4) for v in box],
            "scene_id": scene.get("scene_id", f"s{panel.scene + 1}"),
            "scene_description": _description(panel, scene, language),
            "characters": list(panel.characters), "dialogues": [dict(d) for d in panel.lines],
            "shot": "climax" if panel.key else panel.shot,
            "emotion": scene.get("emotion", "calm"),
        })
    return {"page": number, "panels": panels}


def _rows(group: list[PanelDraft]) -> list[list[PanelDraft]]:
    span = {"large": 1.0, "medium": 0.5, "small": 0.34}
    rows: list[list[PanelDraft]] = [[]]
    used = 0.0
    for panel in group:
        width = span.get(panel.size, 0.5)
        if rows[-1] and used + width > 1.001:
            rows.append([])
            used = 0.0
        rows[-1].append(panel)
        used += width
    while len(rows) > 4:  # too many tiers: squeeze the two shortest neighbours into one
        k = min(range(len(rows) - 1), key=lambda r: (len(rows[r]) + len(rows[r + 1]), r))
        rows[k : k + 2] = [rows[k] + rows[k + 1]]
    if len(rows) == 1 and len(group) >= 2:
        half = math.ceil(len(group) / 2)
        rows = [group[:half], group[half:]]
    return rows


def _crowding(group: list[PanelDraft], boxes: list[list[float]], language: str) -> tuple[int, float]:
    """(panels whose lettering would bury the art, the largest share of a panel lettering covers)."""
    shares = [lettering_px(p.lines, language) / max(1.0, panel_px(box, PAGE_SIZE_PX)) for p, box in zip(group, boxes)]
    return sum(share > CROWDED_AT for share in shares), max(shares, default=0.0)


def _relayout(group: list[PanelDraft], boxes: list[list[float]], layouts: list[str], keep: PanelDraft | None,
              direction: str, language: str, request: Request) -> tuple[list[list[float]], list[str]]:
    """The page re-divided as the person asked, also when the panel count cannot change (a short book's
    panels are set by its text, so the density alone often moves nothing). "More, smaller panels" evens
    the tiers out; otherwise one dominant panel (the reveal, else the one with most to letter) gets a
    taller tier, the more so the stronger the ask. A division that would bury a panel's art under its
    lettering is passed over for the next (a smaller emphasis, another dominant panel)."""
    sizes = [p.size for p in group]
    crowded, most = _crowding(group, boxes, language)
    limit = (crowded, max(CROWDED_AT, most) + 1e-9)
    text = request.text.lower()
    tried: list[tuple[tuple[int, float], list[list[float]], list[str], list[str]]] = []
    if any(w in text for w in ("more", "smaller", "細か", "増や")):
        for panel in group:
            panel.size = "medium" if panel.size == "large" else panel.size
        options = [(None, 1.0)]
    else:
        loaded = max(group, key=lambda p: lettering_px(p.lines, language))
        firsts: list[PanelDraft] = []
        for panel in (keep, loaded, group[0]):
            if panel is not None and not any(panel is p for p in firsts):
                firsts.append(panel)
        strongest = 1.45 + 0.5 * request.intensity
        options = [(p, e) for p in firsts for e in (strongest, 1.5, 1.3, 1.15)]
    for dominant, emphasis in options:
        if dominant is not None:
            dominant.size = "large"
        new_boxes, new_layouts = _tile(_rows(group), direction, dominant, emphasis)
        if new_boxes != boxes:
            crowding = _crowding(group, new_boxes, language)
            if crowding[0] <= limit[0] and crowding[1] <= limit[1]:
                return new_boxes, new_layouts
            tried.append((crowding, new_boxes, new_layouts, [p.size for p in group]))
        for panel, size in zip(group, sizes):
            panel.size = size
    if not tried:
        return boxes, layouts
    _, new_boxes, new_layouts, new_sizes = min(tried, key=lambda t: t[0])  # the least crowded of the divisions
    for panel, size in zip(group, new_sizes):
        panel.size = size
    return new_boxes, new_layouts


def _tile(rows: list[list[PanelDraft]], direction: str, dominant: PanelDraft | None = None,
          emphasis: float = 1.0) -> tuple[list[list[float]], list[str]]:
    tall = {"large": 1.6, "medium": 1.0, "small": 0.85, "splash": 2.0}
    wide = {"large": 2.0, "medium": 1.4, "small": 1.0, "splash": 2.0}
    heights = [max(tall[p.size] for p in row) * (emphasis if any(p is dominant for p in row) else 1.0)
               for row in rows]
    free_h = 1.0 - GUTTER_Y * (len(rows) - 1)
    boxes, layouts = [], []
    y = 0.0
    for row, h in zip(rows, heights):
        row_h = free_h * h / sum(heights)
        free_w = 1.0 - GUTTER_X * (len(row) - 1)
        total = sum(wide[p.size] for p in row)
        x = 0.0
        for panel in row:
            w = free_w * wide[panel.size] / total
            left = x if direction == "ltr" else 1.0 - x - w
            boxes.append([max(0.0, left), y, w, row_h])
            layouts.append("tier" if len(row) == 1 else "grid")
            x += w + GUTTER_X
        y += row_h + GUTTER_Y
    return boxes, layouts


DETAIL_JA = ("手元のアップ、", "足元のアップ、", "小物のアップ、", "目元のアップ、")
DETAIL_EN = ("Close on hands: ", "Close on feet: ", "Close on an object: ", "Close on the eyes: ")
VIEW_JA = ("{place}の情景", "{place}を見下ろす", "{place}の空", "{place}の遠景")
VIEW_EN = ("The {place}, quiet and wide", "The {place} from above", "The sky over the {place}",
           "The {place} in the distance")


def _description(panel: PanelDraft, scene: dict, language: str) -> str:
    place = (scene.get("setting") or {}).get("place", "")
    if panel.shot == "reaction":
        text = ("無言の反応、" if language == "ja" else "Silent reaction: ") + (panel.prose[-1] if panel.prose else "")
    elif panel.shot == "detail":
        focus = (DETAIL_JA if language == "ja" else DETAIL_EN)[panel.variant % 4]
        text = focus + (panel.prose[-1] if panel.prose else place)
    elif panel.shot == "atmosphere":
        view = (VIEW_JA if language == "ja" else VIEW_EN)[panel.variant % 4].format(place=place)
        text = view + (("、" if language == "ja" else ". ") + panel.prose[-1] if panel.prose else "")
    else:
        joiner = "" if language == "ja" else " "
        text = joiner.join(panel.prose[:2]) or scene.get("description", "") or \
            joiner.join(d["text"] for d in panel.lines[:1])
    text = re.sub(r"\s+", " ", text).strip()
    return text[:220] or (place or "…")
