"""Speech bubbles and their text: bubble geometry (shared by phase 6 for sizing and by the
drawing code), drawing lettering onto panel art, and the overflow measure the quality gate uses.

A placement is the phase 6 dict: box [x, y, w, h] (0..1 of the panel), shape, tail, vertical,
font, font_size_px, lines, plus `kind` and, for a split bubble, `linked_to` (index of the
placement it hangs from).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from PIL import Image, ImageDraw

from mangaflow.render.fonts import FontFamily, get_font
from mangaflow.render.typesetting import (
    LINE_HEIGHT_EM, join_lines, line_rects, vertical_cells, vertical_glyph,
)

SHAPES = ("oval", "cloud", "burst", "rect", "none")
OUTLINE_PX = 5            # 0.42 mm at 300 dpi: the usual bubble pen
_SUPERSAMPLE = 3          # bubbles are drawn 3x and reduced, which anti-aliases their curves
_MAX_ASPECT = 2.1         # taller or wider ovals than this read as tubes, not bubbles
_EM_TOP = 0.88            # the CJK em box spans 0.88 em above the baseline to 0.12 em below

Rect = tuple[float, float, float, float]


def decor_px(shape: str, size_px: int) -> float:
    """How far a shape's decoration (cloud bumps, burst spikes) reaches outside its text ellipse."""
    return {"cloud": 0.55 * size_px, "burst": 1.0 * size_px}.get(shape, 0.0)


def padding_px(shape: str, size_px: int) -> float:
    """Air between the text and the bubble's edge."""
    return {"rect": 0.45 * size_px, "none": 0.1 * size_px}.get(shape, 0.3 * size_px)


def _centred_rects(lines: list[str], size_px: int, vertical: bool, family: FontFamily) -> list[Rect]:
    rects = line_rects(lines, size_px, vertical, family)
    if not rects:
        return []
    w = max(r[2] for r in rects) - min(r[0] for r in rects)
    h = max(r[3] for r in rects)
    return [(r[0] - w / 2, r[1] - h / 2, r[2] - w / 2, r[3] - h / 2) for r in rects]


def _ellipse_around(rects: list[Rect]) -> tuple[float, float]:
    """Semi-axes of the smallest-area ellipse (centred, aspect <= _MAX_ASPECT) holding every rect."""
    corners = [(max(abs(r[0]), abs(r[2])), max(abs(r[1]), abs(r[3]))) for r in rects]
    max_x = max(c[0] for c in corners)
    max_y = max(c[1] for c in corners)
    best: tuple[float, float] | None = None
    for step in range(80):
        a = max_x * (1.001 + step * 0.04)
        b = max(y / math.sqrt(1 - (x / a) ** 2) for x, y in corners)
        b = max(b, a / _MAX_ASPECT, max_y)
        if b / a > _MAX_ASPECT:
            continue
        if best is None or a * b < best[0] * best[1]:
            best = (a, b)
    if best is None:  # very tall single columns: widen until the aspect is acceptable
        b = max_y * math.sqrt(2)
        best = (max(b / _MAX_ASPECT, max_x * math.sqrt(2)), b)
    return best


def bubble_size(lines: list[str], size_px: int, vertical: bool, family: FontFamily, shape: str) -> tuple[float, float]:
    """Width and height in px of the bubble (decoration included, tail excluded) that holds the lines."""
    rects = _centred_rects(lines, size_px, vertical, family)
    if not rects:
        return 0.0, 0.0
    pad, decor = padding_px(shape, size_px), decor_px(shape, size_px)
    if shape in ("rect", "none"):
        w = max(r[2] for r in rects) * 2
        h = max(r[3] for r in rects) * 2
        return w + 2 * pad, h + 2 * pad
    a, b = _ellipse_around(rects)
    return 2 * (a + pad + decor), 2 * (b + pad + decor)


def text_fits(box_px: Rect, shape: str, lines: list[str], size_px: int, vertical: bool, family: FontFamily) -> bool:
    """Whether every line, centred in box_px (x, y, w, h), lies inside the bubble's text area."""
    _, _, w, h = box_px
    rects = _centred_rects(lines, size_px, vertical, family)
    decor = decor_px(shape, size_px)
    if shape in ("rect", "none"):
        return all(max(abs(r[0]), abs(r[2])) <= w / 2 + 0.5 and max(abs(r[1]), abs(r[3])) <= h / 2 + 0.5 for r in rects)
    a, b = w / 2 - decor, h / 2 - decor
    if a <= 0 or b <= 0:
        return not rects
    for r in rects:
        for x in (r[0], r[2]):
            for y in (r[1], r[3]):
                if (x / a) ** 2 + (y / b) ** 2 > 1.0 + 1e-3:
                    return False
    return True


def measure_lettering(placements: Sequence[dict], panel_size_px: Sequence[int],
                      expected_quotes: Iterable[str] | None = None) -> dict:
    """Overflow count (text outside its bubble, or bubble outside the panel) and the share of the
    expected quotes whose text appears, whole, in the lettered lines."""
    pw, ph = panel_size_px
    overflow = 0
    for p in placements:
        x, y, w, h = p["box"]
        box = (x * pw, y * ph, w * pw, h * ph)
        outside = x < -1e-4 or y < -1e-4 or x + w > 1 + 1e-4 or y + h > 1 + 1e-4
        if outside or not text_fits(box, p["shape"], p["lines"], int(p["font_size_px"]), bool(p["vertical"]), p["font"]):
            overflow += 1
    result: dict = {"overflow": overflow}
    if expected_quotes is not None:
        result["quotes_lettered"] = quotes_lettered([placements], expected_quotes)
    return result


def quotes_lettered(panels: Iterable[Sequence[dict]], expected_quotes: Iterable[str]) -> float:
    """Share of the expected quotes found whole (whitespace aside) in the lettering of the
    panels (one list of placements per panel; a split bubble's parts are joined back)."""
    quotes = [q for q in expected_quotes if q.strip()]
    if not quotes:
        return 1.0
    lettered = "\u0000".join(_lettered_texts(placements) for placements in panels)
    return sum(1 for q in quotes if _squash(q) in lettered) / len(quotes)


def _squash(text: str) -> str:
    return "".join(text.split())


def _lettered_texts(placements: Sequence[dict]) -> str:
    """All lettered text, split bubbles of one dialogue joined back together, whitespace removed."""
    by_dialogue: dict[object, list[str]] = {}
    for p in placements:
        key = p.get("dialogue_index", id(p))
        by_dialogue.setdefault(key, []).append(join_lines(p["lines"], bool(p["vertical"])))
    return "\u0000".join(_squash("".join(parts)) for parts in by_dialogue.values())


# ---------------------------------------------------------------------------------------------
# Drawing


def draw_lettering(panel_image: Image.Image, placements: Sequence[dict]) -> Image.Image:
    """A copy of the panel art with every bubble and its text drawn on it."""
    lettered = panel_image.convert("RGB") if panel_image.mode != "RGB" else panel_image.copy()
    letter_onto(lettered, (0, 0), lettered.size, placements)
    return lettered


def letter_onto(page: Image.Image, origin: tuple[int, int], panel_size: tuple[int, int],
                placements: Sequence[dict]) -> None:
    """Draw the placements of one panel onto `page` (in place), the panel's top-left at origin.
    Every bubble's black pen is laid before any white fill, so linked or touching bubbles merge."""
    ox, oy = origin
    pw, ph = panel_size
    boxes = [_box_px(p, ox, oy, pw, ph) for p in placements]
    shapes = [_bubble_masks(p, box, placements, boxes, ox, oy, pw, ph) for p, box in zip(placements, boxes)]
    for masks in shapes:
        if masks:
            region, outer, _ = masks
            page.paste((0, 0, 0), region, outer)
    for masks in shapes:
        if masks:
            region, _, inner = masks
            page.paste((255, 255, 255), region, inner)
    draw = ImageDraw.Draw(page)
    for p, box in zip(placements, boxes):
        _draw_text(page, draw, p, box)


def _box_px(p: dict, ox: int, oy: int, pw: int, ph: int) -> Rect:
    x, y, w, h = p["box"]
    return (ox + x * pw, oy + y * ph, w * pw, h * ph)


def _bubble_masks(p: dict, box: Rect, placements: Sequence[dict], boxes: list[Rect],
                  ox: int, oy: int, pw: int, ph: int):
    """(region, outline mask, fill mask) for one bubble, tail and link included; None for sfx."""
    shape = p["shape"]
    if shape == "none":
        return None
    size = int(p["font_size_px"])
    tail = p.get("tail")
    tip = (ox + tail[0] * pw, oy + tail[1] * ph) if tail else None
    link = p.get("linked_to")
    link_box = boxes[link] if isinstance(link, int) and 0 <= link < len(boxes) else None
    x, y, w, h = box
    pts_x = [x, x + w] + ([tip[0]] if tip else []) + ([link_box[0], link_box[0] + link_box[2]] if link_box else [])
    pts_y = [y, y + h] + ([tip[1]] if tip else []) + ([link_box[1], link_box[1] + link_box[3]] if link_box else [])
    margin = OUTLINE_PX + 2
    left, top = int(math.floor(min(pts_x))) - margin, int(math.floor(min(pts_y))) - margin
    right, bottom = int(math.ceil(max(pts_x))) + margin, int(math.ceil(max(pts_y))) + margin
    s = _SUPERSAMPLE
    size_ss = ((right - left) * s, (bottom - top) * s)
    outer = Image.new("L", size_ss, 0)
    inner = Image.new("L", size_ss, 0)

    def ss(px: float, py: float) -> tuple[float, float]:
        return ((px - left) * s, (py - top) * s)

    cx, cy = x + w / 2, y + h / 2
    pen = OUTLINE_PX * s
    for mask, grow in ((outer, pen), (inner, 0)):
        d = ImageDraw.Draw(mask)
        _draw_shape(d, shape, p, box, ss, s, grow, size)
        if link_box is not None:
            lx, ly = link_box[0] + link_box[2] / 2, link_box[1] + link_box[3] / 2
            d.line([ss(cx, cy), ss(lx, ly)], fill=255, width=int(0.6 * size * s + 2 * grow))
        if tip is not None:
            _draw_tail(d, shape, (cx, cy), (w / 2 - decor_px(shape, size), h / 2 - decor_px(shape, size)),
                       tip, ss, s, grow, size)
    outer = outer.reduce(s)
    inner = inner.reduce(s)
    return (left, top, left + outer.width, top + outer.height), outer, inner


def _draw_shape(d: ImageDraw.ImageDraw, shape: str, p: dict, box: Rect, ss, s: int, grow: float, size: int) -> None:
    x, y, w, h = box
    x0, y0 = ss(x, y)
    x1, y1 = ss(x + w, y + h)
    if shape == "rect":
        d.rectangle([x0 - grow, y0 - grow, x1 + grow, y1 + grow], fill=255)
        return
    if shape == "oval":
        d.ellipse([x0 - grow, y0 - grow, x1 + grow, y1 + grow], fill=255)
        return
    decor = decor_px(shape, size) * s
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = (x1 - x0) / 2 - decor, (y1 - y0) / 2 - decor
    if shape == "cloud":
        # Puffs centred on the text ellipse, each reaching `decor` beyond it.
        d.ellipse([cx - a - grow, cy - b - grow, cx + a + grow, cy + b + grow], fill=255)
        for px, py in _perimeter_points(cx, cy, a, b, spacing=decor * 1.45):
            r = decor + grow
            d.ellipse([px - r, py - r, px + r, py + r], fill=255)
        return
    # Burst: spikes from just outside the text ellipse to the box edge, irregular but repeatable.
    seed = int(hashlib.sha256("".join(p.get("lines", [])).encode()).hexdigest()[:8], 16)
    spikes = max(10, int(2 * math.pi * math.sqrt((a * a + b * b) / 2) / (decor * 1.1)))
    points = []
    for k in range(spikes * 2):
        t = 2 * math.pi * k / (spikes * 2)
        if k % 2 == 0:
            jitter = 0.75 + 0.25 * (((seed >> (k % 24)) & 7) / 7)
            ra, rb = a + decor * jitter, b + decor * jitter
        else:
            ra, rb = a + 0.12 * decor, b + 0.12 * decor
        points.append((cx + ra * math.cos(t), cy + rb * math.sin(t)))
    d.polygon(points, fill=255)
    if grow:
        d.line(points + [points[0]], fill=255, width=int(2 * grow), joint="curve")


def _perimeter_points(cx: float, cy: float, a: float, b: float, spacing: float) -> list[tuple[float, float]]:
    """Points about `spacing` apart along an ellipse."""
    perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
    n = max(8, int(perimeter / max(spacing, 1)))
    return [(cx + a * math.cos(2 * math.pi * k / n), cy + b * math.sin(2 * math.pi * k / n)) for k in range(n)]


def _draw_tail(d: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], semi: tuple[float, float],
               tip: tuple[float, float], ss, s: int, grow: float, size: int) -> None:
    cx, cy = centre
    a, b = max(semi[0], 1.0), max(semi[1], 1.0)
    angle = math.atan2((tip[1] - cy) / b, (tip[0] - cx) / a)
    if shape == "cloud":
        # A thought trails off in shrinking puffs from the bubble's edge to the tip.
        ex, ey = cx + a * math.cos(angle), cy + b * math.sin(angle)
        for k, frac in enumerate((0.3, 0.62, 0.92)):
            px, py = ex + (tip[0] - ex) * frac, ey + (tip[1] - ey) * frac
            r = (0.42 - 0.1 * k) * size * s + grow
            qx, qy = ss(px, py)
            d.ellipse([qx - r, qy - r, qx + r, qy + r], fill=255)
        return
    if shape == "rect":
        bx, by = cx, cy
        half = 0.35 * size
        nx, ny = -(tip[1] - cy), tip[0] - cx
        norm = math.hypot(nx, ny) or 1.0
        base = [(bx + nx / norm * half, by + ny / norm * half), (bx - nx / norm * half, by - ny / norm * half)]
    else:
        # The wedge's base sits inside the oval, so fill and pen merge into one outline.
        spread = min(0.5 * size / max(min(a, b), 1), 0.45)
        base = [(cx + 0.8 * a * math.cos(angle + sgn * spread), cy + 0.8 * b * math.sin(angle + sgn * spread))
                for sgn in (-1, 1)]
    poly = [ss(*base[0]), ss(*tip), ss(*base[1])]
    d.polygon(poly, fill=255)
    if grow:
        d.line(poly + [poly[0]], fill=255, width=int(2 * grow), joint="curve")


@dataclass(frozen=True)
class TextRun:
    """One lettered line where it sits on the page, in page pixels: a horizontal line from its
    left end on its baseline, or a vertical column from the top centre of its first cell. The PDF
    writes these as its (invisible) text layer, so the lettering is selectable and searchable."""

    text: str
    x: float
    y: float
    size_px: float
    vertical: bool
    width_px: float = 0.0


def text_runs(origin: tuple[float, float], panel_size: tuple[int, int], placements: Sequence[dict]) -> list[TextRun]:
    """The lines of one panel's placements, in the order they are read (placements are already in
    reading order; a bubble's lines top to bottom, its columns right to left), at the positions
    _draw_text draws them."""
    ox, oy = origin
    pw, ph = panel_size
    runs = []
    for p in placements:
        lines, size = p["lines"], int(p["font_size_px"])
        vertical, family = bool(p["vertical"]), p["font"]
        rects = line_rects(lines, size, vertical, family)
        if not rects:
            continue
        x, y, w, h = _box_px(p, ox, oy, pw, ph)
        block_w = max(r[2] for r in rects) - min(r[0] for r in rects)
        bx = x + (w - block_w) / 2
        by = y + (h - max(r[3] for r in rects)) / 2
        for line, rect in zip(lines, rects):
            if not line.strip():
                continue
            if vertical:
                runs.append(TextRun(line, bx + rect[0] + size / 2, by + rect[1], size, True))
            else:
                baseline = by + (rect[1] + rect[3]) / 2 + 0.366 * size
                runs.append(TextRun(line, bx + rect[0], baseline, size, False, rect[2] - rect[0]))
    return runs


def _draw_text(page: Image.Image, draw: ImageDraw.ImageDraw, p: dict, box: Rect) -> None:
    lines = p["lines"]
    size = int(p["font_size_px"])
    family = p["font"]
    vertical = bool(p["vertical"])
    kind = p.get("kind", "speech")
    font = get_font(family, size)
    rects = line_rects(lines, size, vertical, family)
    if not rects:
        return
    block_w = max(r[2] for r in rects) - min(r[0] for r in rects)
    block_h = max(r[3] for r in rects)
    bx = box[0] + (box[2] - block_w) / 2
    by = box[1] + (box[3] - block_h) / 2
    if kind == "sfx" or p["shape"] == "none":
        stroke, stroke_fill = max(3, size // 10), (255, 255, 255)
        bold = max(1, size // 22)
    elif kind == "shout" or p["shape"] == "burst":
        stroke, stroke_fill, bold = max(1, size // 24), (0, 0, 0), 0
    else:
        stroke, stroke_fill, bold = 0, None, 0
    if vertical:
        for line, rect in zip(lines, rects):
            for row, cell in enumerate(vertical_cells(line)):
                _draw_cell(page, draw, cell, font, family, size, bx + rect[0], by + row * size,
                           stroke, stroke_fill, bold)
    else:
        for line, rect in zip(lines, rects):
            centre_y = by + (rect[1] + rect[3]) / 2
            baseline = centre_y + 0.366 * size  # centres the capitals on the line
            if bold:
                draw.text((bx + block_w / 2, baseline), line, font=font, fill=(0, 0, 0), anchor="ms",
                          stroke_width=stroke + bold, stroke_fill=stroke_fill)
                draw.text((bx + block_w / 2, baseline), line, font=font, fill=(0, 0, 0), anchor="ms",
                          stroke_width=bold, stroke_fill=(0, 0, 0))
            else:
                draw.text((bx + block_w / 2, baseline), line, font=font, fill=(0, 0, 0), anchor="ms",
                          stroke_width=stroke, stroke_fill=stroke_fill or (0, 0, 0))


def _draw_cell(page: Image.Image, draw: ImageDraw.ImageDraw, cell: str, font, family: FontFamily, size: int,
               x: float, y: float, stroke: int, stroke_fill, bold: int) -> None:
    """One em cell of a column, its top-left at (x, y)."""
    glyph = vertical_glyph(cell)
    passes = [(stroke + bold, stroke_fill), (bold, (0, 0, 0))] if bold else [(stroke, stroke_fill or (0, 0, 0))]
    if glyph.tate_chu_yoko:
        tcy_size = size
        while tcy_size > 8 and get_font(family, tcy_size).getlength(glyph.text) > 0.98 * size:
            tcy_size -= 1
        tcy_font = get_font(family, tcy_size)
        for width, fill in passes:
            draw.text((x + size / 2, y + size / 2), glyph.text, font=tcy_font, fill=(0, 0, 0), anchor="mm",
                      stroke_width=width, stroke_fill=fill)
        return
    if glyph.rotate:
        pad = stroke + bold + 2
        tile_size = size + 2 * pad
        for width, fill in passes:
            # Draw upright on a tile, turn it a quarter clockwise, lay it on the page.
            tile = Image.new("L", (tile_size, tile_size), 0)
            ImageDraw.Draw(tile).text((pad, pad + _EM_TOP * size), glyph.text, font=font, fill=255,
                                      anchor="ls", stroke_width=width, stroke_fill=255)
            tile = tile.transpose(Image.Transpose.ROTATE_270)
            colour = fill if fill is not None and width else (0, 0, 0)
            page.paste(colour, (int(round(x)) - pad, int(round(y)) - pad), tile)
        return
    gx = x + glyph.dx_em * size
    gy = y + glyph.dy_em * size + _EM_TOP * size
    for width, fill in passes:
        draw.text((gx, gy), glyph.text, font=font, fill=(0, 0, 0), anchor="ls", stroke_width=width, stroke_fill=fill)
