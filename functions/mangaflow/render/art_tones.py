"""Screentones, hatching, gradients and glows for panel art, built once and cached so a panel
never loops over pixels in Python."""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from PIL import Image, ImageChops, ImageDraw

from mangaflow.render.palette import INK, RGB

Point = tuple[float, float]

# Screentone dot grid period in supersampled pixels: about 6 px in the final panel, the grain of a
# printed 60-line tone at page resolution.
DOT_PERIOD = 12


def _tile_to(tile: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Repeat `tile` over `size` by doubling strips (a few dozen pastes, not one per tile)."""
    w, h = size
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
        sheet.paste(sheet.crop((0, 0, row.width, filled)), (0, filled))
        filled *= 2
    return sheet.crop((0, 0, w, h))


# A tone is built at the size of the panel's supersampled canvas (an 'L' image of 2-8 MB), so the caches keep a
# few: a panel asks for the same tone several times (hits 72 of 94 calls over a 32-page book with 4 kept, 78 with
# 16), but 16 of each kept up to 64 MB per tone kind in every worker for as long as it lived (bench/RESULTS.md,
# "Memory").
TONES_KEPT = 4


@lru_cache(maxsize=TONES_KEPT)
def dot_tone(size: tuple[int, int], density: float, period: int = DOT_PERIOD) -> Image.Image:
    """An 'L' mask of 45-degree screentone dots; density 0..1 is roughly the inked share."""
    p = period
    radius = max(1.0, (density ** 0.5) * p * 0.5)
    tile = Image.new("L", (p, p), 0)
    draw = ImageDraw.Draw(tile)
    for cx, cy in ((0, 0), (p, 0), (0, p), (p, p), (p / 2, p / 2)):
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
    return _tile_to(tile, size)


@lru_cache(maxsize=TONES_KEPT)
def hatch_tone(size: tuple[int, int], spacing: int, width: int, rising: bool = True) -> Image.Image:
    """An 'L' mask of parallel 45-degree hatching lines."""
    tile = Image.new("L", (spacing, spacing), 0)
    draw = ImageDraw.Draw(tile)
    for offset in (-spacing, 0, spacing):
        if rising:
            draw.line((offset, spacing, offset + spacing, 0), fill=255, width=width)
        else:
            draw.line((offset, 0, offset + spacing, spacing), fill=255, width=width)
    return _tile_to(tile, size)


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


def paint_tone(canvas: Image.Image, region: Image.Image, tone: Image.Image, colour: RGB = INK,
               box: tuple[int, int, int, int] | None = None) -> None:
    """Ink `colour` where both the region mask and the tone mask are set; `box` limits the work."""
    if box is None:
        box = region.getbbox()
        if box is None:
            return
    x0, y0, x1, y1 = (max(0, box[0]), max(0, box[1]), min(canvas.width, box[2]), min(canvas.height, box[3]))
    if x1 <= x0 or y1 <= y0:
        return
    crop = (x0, y0, x1, y1)
    mask = ImageChops.multiply(region.crop(crop), tone.crop(crop))
    canvas.paste(colour, crop, mask)


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
    tone = dot_tone(canvas.size, density).crop((x0, y0, x1, y1))
    canvas.paste(colour, (x0, y0, x1, y1), ImageChops.multiply(local, tone))


def vertical_gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    """An RGB vertical gradient: computed on a 1-pixel column, then stretched (cheap)."""
    w, h = size
    column = Image.linear_gradient("L").resize((1, max(1, h)), Image.Resampling.BILINEAR)
    top_img = Image.new("RGB", (1, max(1, h)), top)
    bottom_img = Image.new("RGB", (1, max(1, h)), bottom)
    return Image.composite(bottom_img, top_img, column).resize((max(1, w), max(1, h)), Image.Resampling.NEAREST)


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
