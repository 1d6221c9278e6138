"""Page composition: panels at their storyboard bbox inside the live area of a B5 manga page,
black borders, white gutters, lettering on top, and a small page number (nombre) in the margin.
"""
from __future__ import annotations

from mangaflow.errors import RenderError

from typing import Literal, Mapping, Sequence

from PIL import Image, ImageDraw

from mangaflow.render.fonts import get_font
from mangaflow.render.lettering import TextRun, letter_onto, text_runs

PAGE_SIZE_PX = (2150, 3035)          # JIS B5 (182 x 257 mm) at 300 dpi
# Margins as fractions of the page: leaves a live area of about 155 x 220 mm, the usual
# "basic frame" of a B5 tankobon, with trim and bleed safely outside it.
MARGIN_SIDE = 0.075
MARGIN_TOP = 0.066
MARGIN_BOTTOM = 0.076
BORDER_PX = 6                        # 0.5 mm panel pen
MIN_GUTTER_PX = 24                   # panels closer than this are pulled apart

Direction = Literal["rtl", "ltr"]
PxRect = tuple[int, int, int, int]


class PageError(RenderError):
    """A page or panel the composer cannot lay out (bad bbox, size...)."""


def live_area_px(page_size_px: Sequence[int] = PAGE_SIZE_PX) -> PxRect:
    """(x, y, w, h) of the live area, where the storyboard's panel bboxes are measured."""
    pw, ph = int(page_size_px[0]), int(page_size_px[1])
    if pw < 200 or ph < 200:
        raise PageError(f"page_size_px must be at least 200x200, got {page_size_px}")
    x, y = round(pw * MARGIN_SIDE), round(ph * MARGIN_TOP)
    return x, y, pw - 2 * x, ph - y - round(ph * MARGIN_BOTTOM)


def _check_bbox(panel: Mapping) -> tuple[float, float, float, float]:
    bbox = panel.get("bbox")
    pid = panel.get("panel_id", "?")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        raise PageError(f"panel {pid}: bbox must be [x, y, w, h] in 0..1, got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0 or x < -1e-6 or y < -1e-6 or x + w > 1 + 1e-6 or y + h > 1 + 1e-6:
        raise PageError(f"panel {pid}: bbox {bbox} must lie inside 0..1 with positive size")
    return x, y, w, h


def panel_rects_px(page: Mapping, page_size_px: Sequence[int] = PAGE_SIZE_PX) -> dict[str, PxRect]:
    """Pixel rect of every panel of a page, by panel_id. Phase 5 should draw art at exactly
    these sizes, phase 6 letters into them and compose_page pastes into them.
    Edges that nearly touch a neighbour are pulled back to leave a gutter."""
    lx, ly, lw, lh = live_area_px(page_size_px)
    raw: dict[str, list[float]] = {}
    for panel in page.get("panels", []):
        x, y, w, h = _check_bbox(panel)
        raw[str(panel["panel_id"])] = [lx + x * lw, ly + y * lh, lx + (x + w) * lw, ly + (y + h) * lh]
    rects: dict[str, PxRect] = {}
    half = MIN_GUTTER_PX / 2
    for pid, mine in raw.items():
        others = [r for q, r in raw.items() if q != pid]
        x0, y0, x1, y1 = mine
        nx0 = x0 + half if _crowded(mine, others, axis=0, side=-1) else x0
        nx1 = x1 - half if _crowded(mine, others, axis=0, side=1) else x1
        ny0 = y0 + half if _crowded(mine, others, axis=1, side=-1) else y0
        ny1 = y1 - half if _crowded(mine, others, axis=1, side=1) else y1
        rects[pid] = (round(nx0), round(ny0), max(1, round(nx1) - round(nx0)), max(1, round(ny1) - round(ny0)))
    return rects


def _crowded(mine: list[float], others: list[list[float]], *, axis: int, side: int) -> bool:
    """Whether a neighbour faces this edge of `mine` (axis 0: left/right, 1: top/bottom;
    side -1: the low edge, +1: the high edge) closer than a gutter, or overlaps it."""
    lo, hi = (1, 3) if axis == 0 else (0, 2)           # the span along the edge
    near_i, far_i = (0, 2) if axis == 0 else (1, 3)
    edge = mine[far_i] if side > 0 else mine[near_i]
    centre = (mine[near_i] + mine[far_i]) / 2
    for o in others:
        if min(o[hi], mine[hi]) - max(o[lo], mine[lo]) <= 0:
            continue
        facing = o[near_i] if side > 0 else o[far_i]
        beyond_centre = (facing - centre) * side > 0
        if beyond_centre and (facing - edge) * side < MIN_GUTTER_PX:
            return True
    return False


def compose_page(page: dict, panel_images: Mapping[str, Image.Image], placements_by_panel: Mapping[str, Sequence[dict]],
                 *, page_size_px: Sequence[int] = PAGE_SIZE_PX, direction: Direction = "rtl",
                 page_numbers: bool = True) -> Image.Image:
    """One finished page: art, lettering, borders and page number. Panels without art get a
    light placeholder so a failed panel never fails the page."""
    if direction not in ("rtl", "ltr"):
        raise PageError(f"direction must be 'rtl' or 'ltr', got {direction!r}")
    pw, ph = int(page_size_px[0]), int(page_size_px[1])
    canvas = Image.new("RGB", (pw, ph), (255, 255, 255))
    rects = panel_rects_px(page, (pw, ph))
    draw = ImageDraw.Draw(canvas)
    panels = sorted(page.get("panels", []), key=lambda p: p.get("reading_order", 0))
    for panel in panels:
        pid = str(panel["panel_id"])
        x, y, w, h = rects[pid]
        art = panel_images.get(pid)
        if art is None:
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=(236, 236, 236))
        else:
            if art.size != (w, h):
                art = art.resize((w, h), Image.Resampling.BILINEAR)  # art not drawn at the layout size
            canvas.paste(art.convert("RGB") if art.mode != "RGB" else art, (x, y))
        letter_onto(canvas, (x, y), (w, h), placements_by_panel.get(pid, []))
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=(0, 0, 0), width=BORDER_PX)
    if page_numbers and "page" in page:
        _draw_page_number(draw, int(page["page"]), (pw, ph), direction)
    return canvas


def page_text_runs(page: dict, placements_by_panel: Mapping[str, Sequence[dict]], *,
                   page_size_px: Sequence[int] = PAGE_SIZE_PX) -> list[TextRun]:
    """The page's lettering as text runs, panels in reading order, at the places compose_page letters
    them (the PDF's text layer)."""
    rects = panel_rects_px(page, page_size_px)
    runs: list[TextRun] = []
    for panel in sorted(page.get("panels", []), key=lambda p: p.get("reading_order", 0)):
        x, y, w, h = rects[str(panel["panel_id"])]
        runs += text_runs((x, y), (w, h), placements_by_panel.get(str(panel["panel_id"]), []))
    return runs


def _draw_page_number(draw: ImageDraw.ImageDraw, number: int, size: tuple[int, int], direction: Direction) -> None:
    """The nombre sits at the outer bottom corner: odd pages are left-hand pages in a
    right-to-left book and right-hand pages in a left-to-right one."""
    pw, ph = size
    lx, ly, lw, lh = live_area_px(size)
    font = get_font("sans", 30)
    outer_left = (number % 2 == 1) == (direction == "rtl")
    x = lx if outer_left else lx + lw
    anchor = "ls" if outer_left else "rs"
    draw.text((x, ly + lh + (ph - ly - lh) * 0.45), str(number), font=font, fill=(90, 90, 90), anchor=anchor)
