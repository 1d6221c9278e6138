"""Screentones, hatching, gradients and glows for panel art, built once and cached so a panel
never loops over pixels in Python."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

from PIL import Image, ImageChops, ImageDraw

from mangaflow.render.palette import INK, RGB

Point = tuple[float, float]

# Screentone dot grid period in supersampled pixels: about 6 px in the final panel, the grain of a
# printed 60-line tone at page resolution.
DOT_PERIOD = 12


def _tile_to(tile: Image.Image, size: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """Repeat `tile` over `size` by doubling strips (a few dozen pastes, not one per tile), starting
    `offset` pixels into the pattern: the piece of an endless tiling from (0, 0) that covers a box whose
    corner is at `offset` modulo the tile's size."""
    w, h = size[0] + offset[0], size[1] + offset[1]
    tw, th = tile.size
    row = Image.new(tile.mode, (max(w, tw), th))
    row.paste(tile, (0, 0))
    filled = tw
    while filled < w:
        row.paste(row.crop((0, 0, filled, th)), (filled, 0))
        filled *= 2
    sheet = Image.new(tile.mode, (row.width, max(h, th)))
    sheet.paste(row, (0, 0))
    filled = th
    while filled < h:
        sheet.paste(sheet.crop((0, 0, sheet.width, filled)), (0, filled))
        filled *= 2
    return sheet.crop((offset[0], offset[1], w, h))


@lru_cache(maxsize=64)
def _dot_tile(density: float, period: int) -> Image.Image:
    """One period of 45-degree screentone dots (a few hundred bytes)."""
    p = period
    radius = max(1.0, (density ** 0.5) * p * 0.5)
    tile = Image.new("L", (p, p), 0)
    draw = ImageDraw.Draw(tile)
    for cx, cy in ((0, 0), (p, 0), (0, p), (p, p), (p / 2, p / 2)):
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
    return tile


def dot_tone(box: tuple[int, int, int, int], density: float, period: int = DOT_PERIOD) -> Image.Image:
    """An 'L' mask of 45-degree screentone dots covering the canvas box (left, top, right, bottom); density
    0..1 is roughly the inked share. The dots sit on one grid from the canvas's corner, so neighbouring
    boxes tone as one. Built at the box's size, never the canvas's: a full-height panel's supersampled
    canvas is 3656x5208 px, and canvas-sized tones (19 MB each) and their cache were a large part of a
    drawing's memory (bench/RESULTS.md, "Memory")."""
    x0, y0, x1, y1 = box
    return _tile_to(_dot_tile(density, period), (x1 - x0, y1 - y0), (x0 % period, y0 % period))


class CanvasDraw(ImageDraw.ImageDraw):
    """ImageDraw for a panel's canvas whose outlined polygons (outline `width` above 1) are drawn on their own
    box: Pillow keeps such an outline inside its polygon with a mask the size of the whole image, and on a
    full-height panel's 3656x5208 canvas that was 19 MB allocated and cleared for every outlined shape (a
    building's windows, a torso, a jaw), most of a drawing's allocation time. The box is cut out, drawn in
    with the polygon moved by whole pixels, and pasted back: Pillow's pixels, but for a rare edge pixel where
    a fractional corner, moved, rounds the other way (1 final pixel in 3 of 80 sample panels)."""

    def polygon(self, xy, fill=None, outline=None, width=1):  # type: ignore[no-untyped-def, override]
        ink, fill_ink = self._getink(outline, fill)
        if ink is None or ink == fill_ink or width <= 1:
            return super().polygon(xy, fill, outline, width)
        points = [(float(x), float(y)) for x, y in xy]
        margin = 2 * width + 2
        w, h = self._image.size
        x0 = max(0, math.floor(min(x for x, _ in points)) - margin)
        y0 = max(0, math.floor(min(y for _, y in points)) - margin)
        x1 = min(w, math.ceil(max(x for x, _ in points)) + margin + 1)
        y1 = min(h, math.ceil(max(y for _, y in points)) + margin + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        # The box's copy of the image and its own mask must cost less than the whole-image mask ('1': a byte a
        # pixel); a polygon over most of the canvas (a wall, a street) goes to Pillow as it is.
        if (x1 - x0) * (y1 - y0) * (len(self._image.getbands()) + 2) >= w * h:
            return super().polygon(points, fill, outline, width)
        piece = self._image.crop((x0, y0, x1, y1))
        ImageDraw.ImageDraw(piece).polygon([(x - x0, y - y0) for x, y in points], fill, outline, width)
        self._image.paste(piece, (x0, y0))
        return None


def shape_mask(size: tuple[int, int], polygons: Sequence[Sequence[Point]] = (), ellipses: Sequence[Sequence[float]] = (),
               rects: Sequence[Sequence[float]] = ()) -> Image.Image:
    """An 'L' mask (255 inside) of the union of shapes, in canvas coordinates."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for poly in polygons:
        draw.polygon([tuple(p) for p in poly], fill=255)
    for box in ellipses:
        draw.ellipse(tuple(box), fill=255)
    for box in rects:
        draw.rectangle(tuple(box), fill=255)
    return mask


def tone_polygon(canvas: Image.Image, points: Sequence[Point], density: float, colour: RGB = INK) -> None:
    """Screentone inside a polygon, working only within its bounding box."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    x1, y1 = min(canvas.width, int(max(xs)) + 1), min(canvas.height, int(max(ys)) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    local = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(local).polygon([(x - x0, y - y0) for x, y in points], fill=255)
    tone = dot_tone((x0, y0, x1, y1), density)
    canvas.paste(colour, (x0, y0, x1, y1), ImageChops.multiply(local, tone))


def _gradient_column(h: int, top: RGB, bottom: RGB) -> Image.Image:
    """A 1-pixel RGB column from `top` to `bottom`, `h` pixels high."""
    column = Image.linear_gradient("L").resize((1, max(1, h)), Image.Resampling.BILINEAR)
    top_img = Image.new("RGB", (1, max(1, h)), top)
    bottom_img = Image.new("RGB", (1, max(1, h)), bottom)
    return Image.composite(bottom_img, top_img, column)


def vertical_gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    """An RGB vertical gradient: computed on a 1-pixel column, then stretched (cheap)."""
    w, h = size
    return _gradient_column(h, top, bottom).resize((max(1, w), max(1, h)), Image.Resampling.NEAREST)


GRADIENT_BAND_ROWS = 256


def paint_vertical_gradient(canvas: Image.Image, size: tuple[int, int], top: RGB, bottom: RGB) -> None:
    """Paint `vertical_gradient(size, top, bottom)` into the canvas's top-left corner, the same pixels,
    a band of rows at a time: a whole sky at a full-height panel's supersampled size would be another 76 MB
    image beside the canvas while it is pasted."""
    w, h = max(1, size[0]), max(1, size[1])
    column = _gradient_column(h, top, bottom)
    for y in range(0, h, GRADIENT_BAND_ROWS):
        rows = min(GRADIENT_BAND_ROWS, h - y)
        canvas.paste(column.crop((0, y, 1, y + rows)).resize((w, rows), Image.Resampling.NEAREST), (0, y))


@lru_cache(maxsize=32)
def glow_mask(diameter: int, strength: int) -> Image.Image:
    """A soft round 'L' mask, bright in the middle, for lamp and lantern glows."""
    diameter = max(2, diameter)
    radial = Image.radial_gradient("L").resize((diameter, diameter), Image.Resampling.BILINEAR)
    # radial_gradient is 0 at the centre; invert and fade it so the glow has no hard rim.
    return radial.point(lambda v: max(0, min(255, (255 - v * 2) * strength // 255)))


def paint_glow(canvas: Image.Image, centre: Point, radius: float, colour: RGB, strength: int = 150) -> None:
    """A soft light disc of `colour` around `centre`."""
    diameter = max(2, int(radius * 2))
    mask = glow_mask(diameter, strength)
    canvas.paste(colour, (int(centre[0] - radius), int(centre[1] - radius),
                          int(centre[0] - radius) + diameter, int(centre[1] - radius) + diameter), mask)
