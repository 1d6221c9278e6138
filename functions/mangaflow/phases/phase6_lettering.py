"""Phase 6, dialogue and lettering: place every panel's dialogue as bubbles (size, shape, tail,
line breaks) so text never overflows, faces stay clear and bubbles read in order.

Feedback (quick options), each a dict with "option" (alone, or a list under "modifications"):
  {"option": "move_bubble", "panel_id", "dialogue_index", "to": [x, y] | "direction": "up"|"down"|"left"|"right", "amount": 0.1
   | "delta": [dx, dy]}
  {"option": "font", "font": "sans" | "serif"}
  {"option": "add_sfx", "panel_id", "text"}
  {"option": "bubble_shape", "shape": "oval"|"cloud"|"burst"|"rect", "panel_id"?, "dialogue_index"?}
  {"option": "resize_bubble", "panel_id", "dialogue_index", "scale": 0.5..2}
  {"option": "edit_text", "panel_id", "dialogue_index", "text"}
A person's words ("move the first bubble up a little", 「吹き出しを少し上に移動して」, "make the bubbles round"),
a quick option with its value ({"option": "bubble_shape", "value": "cloud"}) or a one-bubble edit from the
review page ({"bubble": {"panel_id", "dialogue_index", "move": [dx, dy], "scale", "shape", "text"}}) are
read into these (`feedback_edits`); what cannot be read raises NotApplicable, naming what would work.
Edits build on the version shown at the gate (`previous`): its edits are kept, and only the pages whose
bubbles change are re-lettered (`lettering.relettered_pages`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mangaflow.errors import RenderError
from mangaflow.hitl.intents import NotApplicable
from mangaflow.hitl.options import OPTION_VALUES
from mangaflow.render.fonts import DEFAULT_FONT_PX, MIN_FONT_PX, FontFamily
from mangaflow.render.lettering import bubble_size, decor_px, measure_lettering, text_fits
from mangaflow.render.pages import PAGE_SIZE_PX, panel_rects_px
from mangaflow.render.typesetting import break_lines, break_vertical, raggedness, vertical_cells

from .registry import Phase, PhaseContext, register

KINDS = ("speech", "thought", "shout", "narration", "sfx")
DEFAULT_SHAPE = {"speech": "oval", "thought": "cloud", "shout": "burst", "narration": "rect", "sfx": "none"}
BUBBLE_GAP_PX = 14           # white air kept between two bubbles
_FACE_WEIGHT = 4.0
_FACE_TOLERANCE = 0.12       # grazing a head's outline is fine; covering a face is not
_JA = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


class LetteringError(RenderError):
    """Inputs phase 6 cannot letter (names the field and what was expected)."""


@dataclass
class Bubble:
    """One laid-out bubble in panel pixels, before it becomes a placement dict."""

    dialogue_index: int
    kind: str
    shape: str
    family: FontFamily
    vertical: bool
    size_px: int
    lines: list[str]
    w: float
    h: float
    x: float = 0.0
    y: float = 0.0
    speaker: str | None = None
    linked_to: int | None = None
    tail: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)

    def rect(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.w, self.y + self.h


@dataclass(frozen=True)
class Head:
    character_id: str
    x: float
    y: float
    r: float


# ---------------------------------------------------------------------------------------------
# Entry point


def run(inputs: dict, feedback: dict | None, provider: Any = None, previous: dict | None = None) -> dict:
    """Letter every panel of the storyboard. `provider` is unused: lettering is deterministic.
    `previous` is the version the feedback is about: its edits are kept and the new ones added."""
    storyboard = inputs.get("storyboard")
    if not isinstance(storyboard, dict) or not isinstance(storyboard.get("pages"), list):
        raise LetteringError("inputs.storyboard must be the phase 4 output with a 'pages' list")
    images = inputs.get("images") or {}
    descriptions = {d.get("panel_id"): d for d in images.get("image_descriptions", []) if isinstance(d, dict)}
    language, direction, page_size = reading(inputs, storyboard)
    earlier = list((previous or {}).get("bubble_edits") or [])
    mods = earlier + feedback_edits(feedback, storyboard, language, previous)

    placements_out: list[dict] = []
    overflow = collisions = splits = 0
    smallest = None
    for page in storyboard["pages"]:
        for entry, letterer, bubbles in letter_page(page, page_size, descriptions, direction, language, mods):
            overflow += measure_lettering(entry["placements"], tuple(entry["panel_size_px"]))["overflow"]
            collisions += letterer.collisions
            splits += sum(1 for b in bubbles if b.linked_to is not None)
            for b in bubbles:
                smallest = b.size_px if smallest is None else min(smallest, b.size_px)
            placements_out.append(entry)

    output = dict(storyboard)
    for key, value in images.items():
        output.setdefault(key, value)
    output.update({
        "language": language,
        "reading_direction": direction,
        "dialogue_placements": placements_out,
        "bubble_edits": mods,
        "lettering": {"overflow": overflow, "collisions": collisions, "split_bubbles": splits,
                      "min_font_px": MIN_FONT_PX, "smallest_font_px": smallest, "dpi": 300,
                      "relettered_pages": changed_pages(storyboard, placements_out, previous)},
        "processing_metadata": {"phase": 6, "timestamp": datetime.now(timezone.utc).isoformat(),
                                "status": "completed"},
    })
    return output


def letter_page(page: dict, page_size: Any, descriptions: dict, direction: str, language: str,
                mods: list[dict]) -> list[tuple[dict, "PanelLetterer", list[Bubble]]]:
    """Every panel of one storyboard page lettered, in reading order: its `dialogue_placements` entry, its letterer
    and bubbles. A page depends only on itself, its panels' staging (`descriptions`, phase 5) and the edits, so
    phase 5 can letter a page as soon as its panels are drawn (`phase7_finalize.make_page_ahead`)."""
    rects = panel_rects_px(page, page_size)
    lettered = []
    for panel in sorted(page.get("panels", []), key=lambda p: p.get("reading_order", 0)):
        pid = str(panel["panel_id"])
        _, _, pw, ph = rects[pid]
        dialogues = _dialogues_with_feedback(panel, mods, language)
        letterer = PanelLetterer(pw, ph, _heads(descriptions.get(pid), pw, ph), direction, language, mods, pid)
        bubbles = letterer.letter(dialogues)
        lettered.append(({"panel_id": pid, "panel_size_px": [pw, ph], "dialogues": dialogues,
                          "placements": [_placement(b, pw, ph) for b in bubbles]}, letterer, bubbles))
    return lettered


def reading(inputs: dict, storyboard: dict) -> tuple[str, str, list]:
    """The language, reading direction and page size phase 6 letters `storyboard` in."""
    language = _language(inputs, storyboard)
    direction = storyboard.get("reading_direction") or ("rtl" if language == "ja" else "ltr")
    if direction not in ("rtl", "ltr"):
        raise LetteringError(f"storyboard.reading_direction must be 'rtl' or 'ltr', got {direction!r}")
    return language, direction, storyboard.get("page_size_px") or list(PAGE_SIZE_PX)


def _language(inputs: dict, storyboard: dict) -> str:
    for candidate in (inputs.get("language"), (inputs.get("request") or {}).get("language"),
                      (storyboard.get("story_context") or {}).get("language")):
        if candidate:
            if candidate not in ("ja", "en"):
                raise LetteringError(f"language must be 'ja' or 'en', got {candidate!r}")
            return candidate
    texts = "".join(d.get("text", "") for p in storyboard["pages"] for q in p.get("panels", [])
                    for d in q.get("dialogues", []))
    return "ja" if _JA.search(texts) else "en"


def _heads(description: dict | None, pw: int, ph: int) -> list[Head]:
    """Where the faces are, from phase 5 staging; a head is about a fifth of the panel's short side."""
    if not description:
        return []
    heads = []
    for s in description.get("staging", []) or []:
        try:
            x, y, scale = float(s["x"]), float(s["y"]), float(s.get("scale", 1.0))
        except (KeyError, TypeError, ValueError):
            raise LetteringError(f"staging entry of panel {description.get('panel_id')} needs numeric x, y: {s!r}")
        heads.append(Head(str(s.get("character_id")), x * pw, y * ph, 0.1 * min(pw, ph) * max(scale, 0.3)))
    return heads


def _placement(b: Bubble, pw: int, ph: int) -> dict:
    placement = {
        "dialogue_index": b.dialogue_index,
        "box": [round(b.x / pw, 5), round(b.y / ph, 5), round(b.w / pw, 5), round(b.h / ph, 5)],
        "shape": b.shape,
        "tail": [round(b.tail[0] / pw, 5), round(b.tail[1] / ph, 5)] if b.tail else None,
        "vertical": b.vertical, "font": b.family, "font_size_px": b.size_px, "lines": b.lines,
        "kind": b.kind,
    }
    if b.linked_to is not None:
        placement["linked_to"] = b.linked_to
    return placement


# ---------------------------------------------------------------------------------------------
# Feedback


_CONCRETE = ("move_bubble", "font", "add_sfx", "bubble_shape", "resize_bubble", "edit_text")
_ALIASES = {"move": "move_bubble", "add_sound_effect": "add_sfx", "sound_effect": "add_sfx", "shape": "bubble_shape"}
_DIRECTIONS = {"up": ("up", "higher", "上"), "down": ("down", "lower", "下"), "left": ("left", "左"),
               "right": ("right", "右")}
_SHAPES = {"oval": ("round", "oval", "丸"), "cloud": ("cloud", "fluffy", "雲", "もこもこ"),
           "burst": ("spiky", "burst", "jagged", "ギザギザ", "トゲ"), "rect": ("square", "box", "rect", "四角")}
_ORDINALS = ((("first", "最初", "1つ目", "一つ目", "一番目"), 0), (("second", "2つ目", "二つ目", "二番目"), 1),
             (("third", "3つ目", "三つ目", "三番目"), 2), (("last", "最後"), -1))
CAN_DO = ("phase 6 (lettering) can move, resize or reshape one bubble or edit its text (the bubble editor), "
          "change the font (serif or sans), make the bubbles round, cloud, spiky or square, or add a sound effect")


def feedback_edits(feedback: dict | None, storyboard: dict, language: str, previous: dict | None = None) -> list[dict]:
    """The concrete edits a feedback asks for (see the module docstring); NotApplicable for what
    cannot be read, so the gate stays open and the person is told what would work."""
    if not feedback:
        return []
    if not isinstance(feedback, dict):
        raise LetteringError("feedback must be an object with an 'option' or 'modifications'")
    items = feedback.get("modifications")
    if items is None:
        items = [feedback.get("modification", feedback)]
    edits: list[dict] = []
    for item in items:
        merged = dict(item.get("params") or {}, **{k: v for k, v in item.items() if k != "params"})
        option = str(merged.get("option") or merged.get("quick_option") or "").lower().replace(" ", "_")
        option = _ALIASES.get(option, option)
        text = str(merged.get("text") or "") if option not in ("add_sfx", "edit_text") else ""
        if isinstance(merged.get("bubble"), dict):
            edits += _bubble_edit(merged["bubble"], storyboard)
        elif option in _CONCRETE and _is_concrete(option, merged):
            edits.append({**{k: v for k, v in merged.items() if k not in ("intensity", "hints", "base_attempt")},
                          "option": option})
        elif option in _CONCRETE:
            edits.append(_read_option(option, merged, text, storyboard, language, previous))
        elif text.strip() and not merged.get("hints"):
            edits.append(_read_words(text, merged, storyboard, language, previous))
    return edits


def _is_concrete(option: str, item: dict) -> bool:
    needs = {"move_bubble": ("to", "direction", "delta"), "font": ("font",), "add_sfx": ("panel_id",),
             "bubble_shape": ("shape",), "resize_bubble": ("scale",), "edit_text": ("dialogue_index",)}
    return any(key in item for key in needs[option])


def _read_words(text: str, item: dict, storyboard: dict, language: str, previous: dict | None) -> dict:
    """Free text with no option: a font name is the one change it can be without one."""
    font = _font_word(text)
    if font:
        return {"option": "font", "font": font}
    raise NotApplicable(f"{CAN_DO}; it could not read a change from {text[:120]!r}", field="feedback")


def _read_option(option: str, item: dict, text: str, storyboard: dict, language: str,
                 previous: dict | None) -> dict:
    lowered = text.lower()
    value = item.get("value")
    if option == "move_bubble":
        direction = next((d for d, words in _DIRECTIONS.items() if any(w in lowered for w in words)), None)
        if direction is None:
            raise NotApplicable("say which way to move the bubble (up, down, left or right, e.g. 'move the first "
                                "bubble up a little'), or move it with the bubble editor", field="feedback")
        panel_id, index = _nth_bubble(storyboard, lowered)
        intensity = float(item.get("intensity", 0.5))
        amount = 0.05 if intensity < 0.4 else 0.2 if intensity > 0.7 else 0.1
        return {"option": "move_bubble", "panel_id": panel_id, "dialogue_index": index, "direction": direction,
                "amount": amount}
    if option == "bubble_shape":
        shape = value if value in OPTION_VALUES["bubble_shape"] else \
            next((s for s, words in _SHAPES.items() if any(w in lowered for w in words)), None)
        if shape is None:
            raise NotApplicable("say which shape the bubbles should be: round, cloud, spiky or square",
                                field="feedback")
        return {"option": "bubble_shape", "shape": shape}
    if option == "font":
        font = value if value in OPTION_VALUES["font"] else _font_word(text)
        if font is None:  # "change the font": the other family than the one the bubbles have now
            now = [p.get("font") for d in (previous or {}).get("dialogue_placements", []) for p in d.get("placements", [])
                   if p.get("kind") in ("speech", "thought", "shout")]
            font = "sans" if now and now.count("serif") > len(now) / 2 else "serif"
        return {"option": "font", "font": font}
    # add_sfx: the words in quotes, at the book's most dramatic panel unless one is named
    quoted = re.findall(r"[「『\"“']([^」』\"”']{1,12})[」』\"”']", str(item.get("text") or ""))
    panels = [q for p in storyboard.get("pages", []) for q in p.get("panels", [])]
    if not panels:
        raise NotApplicable("the storyboard has no panel to add a sound effect to", field="feedback")
    dramatic = next((q for q in panels if q.get("shot") in ("climax", "action")), panels[-1])
    return {"option": "add_sfx", "panel_id": str(item.get("panel_id") or dramatic["panel_id"]),
            "text": quoted[0] if quoted else ("ドン" if language == "ja" else "BOOM")}


def _font_word(text: str) -> str | None:
    lowered = text.lower()
    if "serif" in lowered.replace("sans-serif", "") or "明朝" in text or "mincho" in lowered:
        return "serif"
    if "sans" in lowered or "ゴシック" in text or "gothic" in lowered:
        return "sans"
    return None


def _bubbles_in_reading_order(storyboard: dict) -> list[tuple[str, int]]:
    found = []
    for page in sorted(storyboard.get("pages", []), key=lambda p: int(p.get("page", 0))):
        for panel in sorted(page.get("panels", []), key=lambda p: p.get("reading_order", 0)):
            found += [(str(panel["panel_id"]), i) for i, d in enumerate(panel.get("dialogues") or [])
                      if str(d.get("text") or "").strip()]
    return found


def _nth_bubble(storyboard: dict, lowered: str) -> tuple[str, int]:
    bubbles = _bubbles_in_reading_order(storyboard)
    if not bubbles:
        raise NotApplicable("this book has no bubble to move", field="feedback")
    position = next((n for words, n in _ORDINALS if any(w in lowered for w in words)), 0)
    return bubbles[position] if -len(bubbles) <= position < len(bubbles) else bubbles[-1]


def _bubble_edit(bubble: dict, storyboard: dict) -> list[dict]:
    """One bubble edited on the review page: move (a fraction of the panel), resize, reshape, new text."""
    panel_id, index = str(bubble.get("panel_id") or ""), bubble.get("dialogue_index")
    panel = next((q for p in storyboard.get("pages", []) for q in p.get("panels", []) if str(q["panel_id"]) == panel_id),
                 None)
    if panel is None:
        raise NotApplicable(f"there is no panel {panel_id!r} in this storyboard", field="bubble.panel_id")
    count = len(panel.get("dialogues") or [])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count + 4:
        raise NotApplicable(f"panel {panel_id} has no bubble {index!r}", field="bubble.dialogue_index")
    target = {"panel_id": panel_id, "dialogue_index": index}
    edits = []
    if bubble.get("text") is not None:
        if not str(bubble["text"]).strip():
            raise NotApplicable("a bubble's text cannot be empty", field="bubble.text")
        edits.append({"option": "edit_text", **target, "text": str(bubble["text"])[:500]})
    if bubble.get("shape") is not None:
        if bubble["shape"] not in OPTION_VALUES["bubble_shape"]:
            raise NotApplicable("a bubble's shape is oval, cloud, burst or rect", field="bubble.shape")
        edits.append({"option": "bubble_shape", **target, "shape": bubble["shape"]})
    if bubble.get("scale") is not None:
        edits.append({"option": "resize_bubble", **target, "scale": min(2.0, max(0.5, float(bubble["scale"])))})
    if bubble.get("move") is not None:
        dx, dy = (min(1.0, max(-1.0, float(v))) for v in bubble["move"])
        edits.append({"option": "move_bubble", **target, "delta": [dx, dy]})
    if not edits:
        raise NotApplicable("say what to change about the bubble: move, size, shape or text", field="bubble")
    return edits


def changed_pages(storyboard: dict, placements: list[dict], previous: dict | None) -> list[int]:
    """Pages whose lettering differs from the previous version (all of them without one)."""
    page_of = {str(q["panel_id"]): int(p.get("page", 0)) for p in storyboard.get("pages", []) for q in p.get("panels", [])}
    before = {d["panel_id"]: d for d in (previous or {}).get("dialogue_placements", [])}
    changed = {page_of.get(d["panel_id"], 0) for d in placements
               if previous is None or before.get(d["panel_id"]) != d}
    return sorted(changed)


def _dialogues_with_feedback(panel: dict, mods: list[dict], language: str) -> list[dict]:
    dialogues = []
    for i, d in enumerate(panel.get("dialogues", []) or []):
        kind = d.get("kind", "speech")
        if kind not in KINDS:
            raise LetteringError(f"panel {panel.get('panel_id')} dialogue {i}: kind must be one of {KINDS}, got {kind!r}")
        if not isinstance(d.get("text"), str):
            raise LetteringError(f"panel {panel.get('panel_id')} dialogue {i}: text must be a string")
        dialogues.append({"speaker": d.get("speaker"), "text": d["text"], "kind": kind})
        if d.get("source_text"):  # a translated line: the story's words it stands for
            dialogues[-1]["source_text"] = str(d["source_text"])
    for m in mods:
        if m["option"] == "edit_text" and m.get("panel_id") == panel.get("panel_id") \
                and 0 <= int(m.get("dialogue_index", -1)) < len(dialogues):
            line = dialogues[int(m["dialogue_index"])]
            if str(m["text"]) != line["text"]:  # the person's correction stands for the story's words
                line.setdefault("source_text", line["text"])
                line["text"] = str(m["text"])
    for m in mods:
        if m["option"] == "add_sfx" and m.get("panel_id") == panel.get("panel_id"):
            text = m.get("text") or ("ドン" if language == "ja" else "BOOM")
            dialogues.append({"speaker": None, "text": str(text), "kind": "sfx"})
    return dialogues


# ---------------------------------------------------------------------------------------------
# Layout of one panel


class PanelLetterer:
    """Places the bubbles of one panel, in reading order, one dialogue at a time."""

    def __init__(self, pw: int, ph: int, heads: list[Head], direction: str, language: str,
                 mods: list[dict], panel_id: str) -> None:
        self.pw, self.ph = pw, ph
        self.heads = heads
        self.direction = direction
        self.vertical = language == "ja"
        self.mods = mods
        self.panel_id = panel_id
        self.margin = max(10.0, 0.025 * min(pw, ph))
        self.placed: list[Bubble] = []
        self.collisions = 0
        self.font_override = next((m.get("font") for m in reversed(mods) if m["option"] == "font"), None)
        if self.font_override not in (None, "sans", "serif"):
            raise LetteringError(f"feedback font must be 'sans' or 'serif', got {self.font_override!r}")

    def letter(self, dialogues: list[dict]) -> list[Bubble]:
        for index, dialogue in enumerate(dialogues):
            if dialogue["text"].strip():
                self._place_dialogue(index, dialogue)
        for m in self.mods:
            if m["option"] == "move_bubble" and m.get("panel_id", self.panel_id) == self.panel_id:
                self._move(m)
        return self.placed

    # -- sizing -----------------------------------------------------------------------------

    def _style(self, index: int, kind: str) -> tuple[str, FontFamily]:
        shape = DEFAULT_SHAPE[kind]
        for m in self.mods:
            if m["option"] == "bubble_shape" and kind not in ("sfx", "narration") \
                    and m.get("panel_id", self.panel_id) == self.panel_id \
                    and m.get("dialogue_index", index) == index:
                if m.get("shape") not in ("oval", "cloud", "burst", "rect"):
                    raise LetteringError(f"feedback shape must be oval, cloud, burst or rect, got {m.get('shape')!r}")
                shape = m["shape"]
        family: FontFamily = "serif" if kind == "narration" else "sans"
        if self.font_override and kind != "sfx":
            family = self.font_override
        return shape, family

    def _layouts(self, text: str, kind: str, shape: str, family: FontFamily, size: int) -> list[list[str]]:
        """Line breakings of the text at one size, the preferred shape first, then taller or
        wider ones (the bubble growing inside the panel)."""
        vertical = self.vertical
        if kind == "sfx":
            measure = self.ph * 0.6 if vertical else self.pw * 0.8
            return [break_lines(text, size, vertical, family, measure)]
        if vertical:
            cells = len(vertical_cells(text))
            guess = min(max(4, round(math.sqrt(cells * 1.7))), 11)
            # Of the lengths near the guess, the one that breaks the text most evenly between phrases.
            preferred = min(range(max(3, guess - 1), guess + 3),
                            key=lambda n: (raggedness(break_vertical(text, n)) + 0.8 * abs(n - guess), n))
            max_cells = max(1, int((self.ph - 2 * self.margin) * 0.8 // size))
            lengths = [preferred, preferred + 2, preferred + 4, preferred + 7, preferred - 2]
            measures = [min(n, max_cells) * size for n in lengths if n >= 2]
        else:
            chars = len(text)
            if kind == "narration":  # captions run wider than speech
                per_line = min(max(16, round(math.sqrt(chars * 4.5))), 40)
            else:
                per_line = min(max(12, round(math.sqrt(chars * 2.6))), 26)
            measures = [per_line * 0.55 * size * f for f in (1.0, 1.35, 1.75, 2.3, 0.75)]
            measures = [min(m, self.pw - 2 * self.margin - 2 * size) for m in measures]
        seen, layouts = set(), []
        for m in measures:
            lines = break_lines(text, size, vertical, family, max(m, size))
            if tuple(lines) not in seen:
                seen.add(tuple(lines))
                layouts.append(lines)
        if vertical:
            # Growing must not cost readability: drop shapes that break words the preferred one keeps.
            limit = raggedness(layouts[0]) + 4
            layouts = [layouts[0]] + [l for l in layouts[1:] if raggedness(l) <= limit]
        return layouts

    def _sizes(self, kind: str, index: int = -1) -> list[int]:
        default = DEFAULT_FONT_PX[kind]
        for m in self.mods:
            if m["option"] == "resize_bubble" and m.get("panel_id") == self.panel_id \
                    and m.get("dialogue_index") == index:
                default = max(MIN_FONT_PX, round(default * float(m["scale"])))
        sizes, s = [default], default
        while s > MIN_FONT_PX:
            s = max(MIN_FONT_PX, int(s * 0.9))
            sizes.append(s)
        return sizes

    # -- placing ----------------------------------------------------------------------------

    def _place_dialogue(self, index: int, dialogue: dict) -> None:
        """Try layouts in the agreed order (wrap, grow, split, then smaller type) and take the
        first that fits beside the other bubbles without covering a face; if every fitting one
        covers a face, the one covering least (smaller type is not traded below 80 %)."""
        kind, text = dialogue["kind"], dialogue["text"].strip()
        shape, family = self._style(index, kind)
        best: tuple[float, list[Bubble], list[tuple[float, float]]] | None = None
        smallest: list[Bubble] | None = None
        default = DEFAULT_FONT_PX[kind]
        for bubbles in self._ladder(index, dialogue, kind, text, shape, family):
            if smallest is None or _area(bubbles) < _area(smallest):
                smallest = bubbles
            if best is not None and bubbles[0].size_px < 0.8 * default:
                break
            plan = self._plan(bubbles)
            if plan is None:
                continue
            positions, face = plan
            if face <= _FACE_TOLERANCE:
                self._commit(bubbles, positions)
                return
            if best is None or face < best[0] - 0.05:
                best = (face, bubbles, positions)
        if best is not None:
            self._commit(best[1], best[2])
            return
        # Nothing fits without touching another bubble: place the smallest layout where it
        # overlaps least, and count it, rather than drop words.
        assert smallest is not None
        self.collisions += 1
        self._place_anyway(smallest)

    def _ladder(self, index: int, dialogue: dict, kind: str, text: str, shape: str, family: FontFamily):
        speaker = dialogue.get("speaker")
        for size in self._sizes(kind, index):
            # Only a long line is worth two bubbles; a short shout split in half reads as two.
            splittable = kind != "sfx" and len(vertical_cells(text) if self.vertical else text.split()) >= (16 if self.vertical else 8)
            for parts in [[text]] + ([_split_text(text)] if splittable else []):
                if any(not p for p in parts):
                    continue
                part_layouts = [self._layouts(p, kind, shape, family, size) for p in parts]
                for choice in range(max(len(l) for l in part_layouts)):
                    bubbles = []
                    for p_layouts in part_layouts:
                        lines = p_layouts[min(choice, len(p_layouts) - 1)]
                        w, h = bubble_size(lines, size, self.vertical, family, shape)
                        bubbles.append(Bubble(index, kind, shape, family, self.vertical, size, lines,
                                              math.ceil(w), math.ceil(h), speaker=speaker))
                    yield bubbles

    def _plan(self, bubbles: list[Bubble]) -> tuple[list[tuple[float, float]], float] | None:
        """Best positions for the parts of one dialogue (each part after the one before), and
        how much face they cover; None if a part fits nowhere free."""
        positions: list[tuple[float, float]] = []
        face = 0.0
        added = 0
        try:
            for bubble in bubbles:
                position = self._best_position(bubble, bubbles[added - 1] if added else None, allow_overlap=False)
                if position is None:
                    return None
                bubble.x, bubble.y = position
                if bubble.kind != "narration":  # captions keep their corner whatever is under it
                    face += self._face_cost(bubble.x, bubble.y, bubble.w, bubble.h)
                positions.append(position)
                self.placed.append(bubble)
                added += 1
            return positions, face
        finally:
            if added:
                del self.placed[-added:]

    def _commit(self, bubbles: list[Bubble], positions: list[tuple[float, float]]) -> None:
        for k, (bubble, (x, y)) in enumerate(zip(bubbles, positions)):
            bubble.x, bubble.y = x, y
            bubble.linked_to = len(self.placed) - 1 if k else None
            self._add(bubble)

    def _place_anyway(self, bubbles: list[Bubble]) -> None:
        previous = None
        for bubble in bubbles:
            bubble.w = min(bubble.w, self.pw)
            bubble.h = min(bubble.h, self.ph)
            bubble.x, bubble.y = self._best_position(bubble, previous, allow_overlap=True)
            if previous is not None:
                bubble.linked_to = len(self.placed) - 1
            self._add(bubble)
            previous = bubble

    def _add(self, bubble: Bubble) -> None:
        bubble.tail = self._tail(bubble)
        self.placed.append(bubble)

    def _reading_key(self, x: float, y: float, w: float, h: float) -> float:
        """0 at the panel's reading start (top-right for rtl, top-left for ltr), growing along
        the reading path; readers take bubbles by their top corner on the reading-start side."""
        across = (self.pw - (x + w)) / self.pw if self.direction == "rtl" else x / self.pw
        return across * 0.8 + y / self.ph

    def _candidates(self, bubble: Bubble) -> list[tuple[float, float]]:
        pw, ph, w, h = self.pw, self.ph, bubble.w, bubble.h
        inset = 0.0 if bubble.kind == "narration" else self.margin  # captions sit flush on the frame
        x_max, y_max = pw - inset - w, ph - inset - h
        if x_max < inset - 1e-6 or y_max < inset - 1e-6:
            return []
        steps = 14
        xs = sorted({inset + (x_max - inset) * i / steps for i in range(steps + 1)})
        ys = sorted({inset + (y_max - inset) * i / steps for i in range(steps + 1)})
        return [(x, y) for y in ys for x in xs]

    def _best_position(self, bubble: Bubble, linked: Bubble | None, *, allow_overlap: bool):
        candidates = self._candidates(bubble)
        if not candidates:
            if not allow_overlap:
                return None
            return (max(0.0, (self.pw - bubble.w) / 2), max(0.0, (self.ph - bubble.h) / 2))
        speaker_head = next((hd for hd in self.heads if hd.character_id == bubble.speaker), None)
        previous_key = None
        if self.placed:
            last = self.placed[-1]
            previous_key = self._reading_key(last.x, last.y, last.w, last.h)
        best, best_cost = None, math.inf
        diag = math.hypot(self.pw, self.ph)
        for x, y in candidates:
            overlap = self._overlap_with_bubbles(x, y, bubble.w, bubble.h)
            if overlap > 0 and not allow_overlap:
                continue
            cost = overlap / (bubble.w * bubble.h) * 50
            key = self._reading_key(x, y, bubble.w, bubble.h)
            face_weight = {"sfx": 1.5, "narration": 0.3}.get(bubble.kind, _FACE_WEIGHT)
            cost += self._face_cost(x, y, bubble.w, bubble.h) * face_weight
            if bubble.kind == "sfx":
                cx, cy = x + bubble.w / 2, y + bubble.h / 2
                cost += 0.6 * math.hypot(cx - self.pw / 2, cy - self.ph * 0.55) / diag
            elif bubble.kind == "narration":
                cost += 3.0 * key
            else:
                cost += 1.0 * key
                if previous_key is not None and key < previous_key - 0.02:
                    cost += 2.0  # would be read before the line that precedes it
            if linked is not None:
                gap = _rect_gap((x, y, x + bubble.w, y + bubble.h), linked.rect())
                cost += 3.0 * gap / diag
            if speaker_head is not None and bubble.kind in ("speech", "thought", "shout"):
                cx, cy = x + bubble.w / 2, y + bubble.h / 2
                comfortable = speaker_head.r + max(bubble.w, bubble.h) / 2 + 0.08 * diag
                cost += 1.2 * max(0.0, math.hypot(cx - speaker_head.x, cy - speaker_head.y) - comfortable) / diag
            if cost < best_cost - 1e-9:
                best, best_cost = (x, y), cost
        return best

    def _overlap_with_bubbles(self, x: float, y: float, w: float, h: float) -> float:
        total = 0.0
        for b in self.placed:
            ox = min(x + w, b.x + b.w + BUBBLE_GAP_PX) - max(x, b.x - BUBBLE_GAP_PX)
            oy = min(y + h, b.y + b.h + BUBBLE_GAP_PX) - max(y, b.y - BUBBLE_GAP_PX)
            if ox > 0 and oy > 0:
                total += ox * oy
        return total

    def _face_cost(self, x: float, y: float, w: float, h: float) -> float:
        """How much of the faces (and a little of the bodies under them) the box would cover."""
        cost = 0.0
        for head in self.heads:
            dx = max(x - head.x, 0.0, head.x - (x + w))
            dy = max(y - head.y, 0.0, head.y - (y + h))
            distance = math.hypot(dx, dy)
            if distance < head.r * 1.15:
                cost += 1.0 - distance / (head.r * 1.15)
            body = (head.x - head.r, head.y + head.r, head.x + head.r, head.y + 4 * head.r)
            ox = min(x + w, body[2]) - max(x, body[0])
            oy = min(y + h, body[3]) - max(y, body[1])
            if ox > 0 and oy > 0:
                cost += 0.25 * (ox * oy) / ((body[2] - body[0]) * (body[3] - body[1]))
        return cost

    def _tail(self, bubble: Bubble) -> tuple[float, float] | None:
        """Tail tip on the ray from the bubble's centre to the speaker's head, stopping short of
        the face; None for captions, sound effects, and speakers not in the panel."""
        if bubble.kind in ("narration", "sfx") or bubble.shape == "rect" or bubble.linked_to is not None:
            return None
        head = next((hd for hd in self.heads if hd.character_id == bubble.speaker), None)
        if head is None:
            return None
        cx, cy = bubble.x + bubble.w / 2, bubble.y + bubble.h / 2
        dx, dy = head.x - cx, head.y - cy
        distance = math.hypot(dx, dy)
        if distance < 1:
            return None
        ux, uy = dx / distance, dy / distance
        decor = decor_px(bubble.shape, bubble.size_px)
        a, b = bubble.w / 2 - decor, bubble.h / 2 - decor
        edge = 1.0 / math.sqrt((ux / a) ** 2 + (uy / b) ** 2) + decor
        if edge >= distance - head.r * 0.5:
            return None  # the bubble sits on the speaker: a tail would point into itself
        length = max(0.7 * bubble.size_px, min(distance - edge - 1.1 * head.r, 2.6 * bubble.size_px))
        tip_x = min(max(cx + ux * (edge + length), 2.0), self.pw - 2.0)
        tip_y = min(max(cy + uy * (edge + length), 2.0), self.ph - 2.0)
        return tip_x, tip_y

    def _move(self, m: dict) -> None:
        """Quick option "move a bubble": every part of one dialogue moves together, inside the panel."""
        index = int(m.get("dialogue_index", 0))
        parts = [b for b in self.placed if b.dialogue_index == index]
        if not parts:
            return
        if "delta" in m:
            dx, dy = float(m["delta"][0]) * self.pw, float(m["delta"][1]) * self.ph
        elif "to" in m:
            tx, ty = (float(v) for v in m["to"])
            dx, dy = tx * self.pw - (parts[0].x + parts[0].w / 2), ty * self.ph - (parts[0].y + parts[0].h / 2)
        else:
            amount = float(m.get("amount", 0.1))
            vectors = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
            if m.get("direction") not in vectors:
                raise LetteringError(f"move_bubble needs 'to' [x, y] or direction up/down/left/right, got {m.get('direction')!r}")
            vx, vy = vectors[m["direction"]]
            dx, dy = vx * amount * self.pw, vy * amount * self.ph
        for b in parts:
            b.x = min(max(b.x + dx, 0.0), self.pw - b.w)
            b.y = min(max(b.y + dy, 0.0), self.ph - b.h)
        for b in parts:
            b.tail = self._tail(b)


def _split_text(text: str) -> list[str]:
    """Two halves for two linked bubbles: at the sentence end nearest the middle, else at a
    comma or space, else in the middle."""
    middle = len(text) / 2
    for marks in ("。！？!?.", "、，,;", " 　"):
        cuts = [i + 1 for i, ch in enumerate(text[:-1]) if ch in marks]
        cuts = [c for c in cuts if 0.25 * len(text) <= c <= 0.75 * len(text)]
        if cuts:
            cut = min(cuts, key=lambda c: abs(c - middle))
            return [text[:cut].strip(), text[cut:].strip()]
    cut = int(middle)
    return [text[:cut], text[cut:]]


def _area(bubbles: list[Bubble]) -> float:
    return sum(b.w * b.h for b in bubbles)


def _rect_gap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    dx = max(a[0] - b[2], b[0] - a[2], 0.0)
    dy = max(a[1] - b[3], b[1] - a[3], 0.0)
    return math.hypot(dx, dy)


class Lettering(Phase):
    number, key, title = 6, "lettering", "lettering"

    def produce(self, ctx: PhaseContext) -> dict:
        return run(ctx.inputs, ctx.feedback, ctx.provider, previous=shown_version(ctx))

    def summarise(self, output: dict) -> str:
        placements = output.get("dialogue_placements", [])
        summary = f"{sum(len(p.get('placements', [])) for p in placements)} bubbles in {len(placements)} panels"
        edits = output.get("bubble_edits") or []
        return summary + (f", {len(edits)} edit(s) made at the gate" if edits else "")


def shown_version(ctx: PhaseContext) -> dict | None:
    """The version the person's feedback is about (the attempt shown at the gate), if any."""
    attempt = (ctx.feedback or {}).get("base_attempt")
    if not attempt or not (ctx.feedback or {}).get("text") and not (ctx.feedback or {}).get("option") \
            and not (ctx.feedback or {}).get("bubble"):
        return None
    run_row = ctx.stores.phase_runs.find(ctx.request_id, 6, int(attempt))
    return ctx.stores.artifacts.get_json(run_row["output_uri"]) if run_row and run_row.get("output_uri") else None


register(Lettering())
