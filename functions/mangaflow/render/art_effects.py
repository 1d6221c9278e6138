"""Manga effects of the panel art: mood lines, sparkles and lightning behind the figures; rain and
snow in front of them but never over a face (a clear zone is kept around every head); indoors the
weather is only seen through the windows (drawn with the background) plus a flash of cold light."""
from __future__ import annotations

import math
import random
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw

from mangaflow.render.art_background import FLASH, weather_is_outside
from mangaflow.render.art_scene import Scene
from mangaflow.render.art_tones import CanvasDraw, DOT_PERIOD, dot_tone, paint_glow, shape_mask
from mangaflow.render.palette import INK, PAPER, grey


def draw_mood_behind(canvas: Image.Image, scene: Scene, focus: tuple[float, float], rng: random.Random, line: int) -> None:
    """Effects that belong to the background: speed lines, focus lines, gloom, a mysterious vignette."""
    draw = CanvasDraw(canvas)
    w, h = canvas.size
    if scene.mood == "tension":
        _speed_lines(draw, w, h, rng, line)
    elif scene.mood == "climax":
        _focus_lines(draw, w, h, focus, rng)
    elif scene.mood == "sad":
        # gloom lines hanging from the top edge (tate-sen), longer in the middle
        for i in range(int(w / (line * 7))):
            x = (i + rng.random() * 0.6) * line * 7
            length = h * (0.2 + 0.45 * rng.random()) * (1.2 - abs(x / w - 0.5))
            draw.line((x, 0, x, length), fill=grey(0.42), width=max(1, line // 2 + 1))
    elif scene.mood in ("joy", "warm"):
        # sparkles and soft lights sit behind the figures so they never land on a face
        for _ in range(9 if scene.mood == "joy" else 5):
            x, y = rng.random() * w, rng.random() * h * 0.6
            _sparkle(draw, x, y, h * (0.012 + 0.022 * rng.random()), line)
        if scene.mood == "warm":
            for _ in range(6):
                paint_glow(canvas, (rng.random() * w, rng.random() * h * 0.5), h * 0.05, (255, 236, 200), 120)


@lru_cache(maxsize=2)   # panel-sized (at final size, 'L': 4.8 MB for a full-height panel)
def mystery_vignette(size: tuple[int, int]) -> Image.Image:
    """An 'L' mask of toned corners closing in on the panel; built once per panel size and applied at
    final size, where it costs a quarter of the supersampled work."""
    w, h = size
    corners = [[(cx, cy), (abs(cx - w * 0.45), cy), (cx, abs(cy - h * 0.55))] for cx, cy in ((0, 0), (w, 0), (0, h), (w, h))]
    return ImageChops.multiply(shape_mask(size, polygons=corners), dot_tone((0, 0, w, h), 0.4, DOT_PERIOD // 2))


def vignette_clear_of_heads(size: tuple[int, int], zones: list[HeadZone]) -> Image.Image:
    """The mystery vignette with the heads' clear zones cut out (zones in the same px as `size`)."""
    mask = mystery_vignette(size)
    if not zones:
        return mask
    mask = mask.copy()
    draw = ImageDraw.Draw(mask)
    for cx, cy, r in zones:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=0)
    return mask


def _speed_lines(draw: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random, line: int) -> None:
    angle = math.radians(-18 if rng.random() < 0.5 else 198)
    dx, dy = math.cos(angle), math.sin(angle)
    for _ in range(int(h / (line * 2.2))):
        offset = rng.random() * (h + w * 0.4) - w * 0.2
        length = w * (0.25 + 0.6 * rng.random())
        start = -w * 0.1 + rng.random() * w * 0.4 if dx > 0 else w * 1.1 - rng.random() * w * 0.4
        x0, y0 = start, offset
        x1, y1 = x0 + dx * length, y0 + dy * length
        draw.line((x0, y0, x1, y1), fill=INK, width=max(1, int(line * (0.4 + rng.random()))))


def _focus_lines(draw: ImageDraw.ImageDraw, w: int, h: int, focus: tuple[float, float], rng: random.Random) -> None:
    fx, fy = focus
    outer = math.hypot(w, h)
    inner = min(w, h) * 0.36
    count = 150
    for i in range(count):
        a = math.tau * (i + rng.random() * 0.5) / count
        spread = math.tau / count * (0.15 + 0.3 * rng.random())
        tip = inner * (1.0 + 0.7 * rng.random())
        draw.polygon([(fx + math.cos(a) * tip, fy + math.sin(a) * tip * 0.8),
                      (fx + math.cos(a - spread) * outer, fy + math.sin(a - spread) * outer),
                      (fx + math.cos(a + spread) * outer, fy + math.sin(a + spread) * outer)], fill=INK)


# A clear zone around one head: centre x, centre y, radius (canvas px). Nothing but a soft tone
# wash is drawn inside it after the figures, so faces always read.
HeadZone = tuple[float, float, float]


def head_zone(hx: float, hy: float, head: float) -> HeadZone:
    """The clear zone of a head of height `head` centred at (hx, hy): the face, the hair around it
    (spiky hair reaches 0.78 head heights out) and a small margin."""
    return (hx, hy - head * 0.05, head * 0.85)


def _segment_clears(zones: list[HeadZone], x0: float, y0: float, x1: float, y1: float, pad: float) -> bool:
    """True when the segment keeps at least `pad` px outside every zone."""
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy or 1e-9
    for cx, cy, r in zones:
        t = max(0.0, min(1.0, ((cx - x0) * dx + (cy - y0) * dy) / length2))
        px, py = x0 + t * dx - cx, y0 + t * dy - cy
        if px * px + py * py < (r + pad) ** 2:
            return False
    return True


# One stroke of falling weather, kept between the behind and the front layers: ("rain", x0, y0, x1, y1,
# width) or ("snow", x, y, radius, 0, 0).
Stroke = tuple[str, float, float, float, float, float]


def draw_weather_behind(canvas: Image.Image, scene: Scene, rng: random.Random, line: int, zones: list[HeadZone]) -> list[Stroke]:
    """Outdoor weather that belongs behind the figures: the lightning bolt, and every rain streak or
    snowflake that would touch a head's clear zone (the head then hides it, so rain still fills a
    close-up's background without crossing the face). Returns the strokes left for the front layer.
    Indoors nothing is drawn here: the weather is in the windows, drawn with the room."""
    if weather_is_outside(scene):
        return []
    draw = CanvasDraw(canvas)
    w, h = canvas.size
    if scene.weather == "storm":
        _lightning(canvas, draw, w, h, rng, line)
    strokes = _precipitation(scene, rng, w, h, line)
    front = []
    for stroke in strokes:
        if _stroke_clears(zones, stroke, line):
            front.append(stroke)
        else:
            _draw_stroke(draw, scene, stroke, line)
    return front


def draw_weather_front(canvas: Image.Image, scene: Scene, strokes: list[Stroke], line: int) -> None:
    """Rain and snow in front of the figures: only the strokes that keep clear of every head."""
    draw = CanvasDraw(canvas)
    for stroke in strokes:
        _draw_stroke(draw, scene, stroke, line)


def _precipitation(scene: Scene, rng: random.Random, w: int, h: int, line: int) -> list[Stroke]:
    strokes: list[Stroke] = []
    if scene.weather in ("rain", "storm"):
        heavy = scene.weather == "storm"
        width = max(1, line // 2 + (1 if heavy else 0))
        for _ in range(220 if heavy else 130):
            x, y = rng.random() * w * 1.2, rng.random() * h
            length = h * (0.04 + 0.05 * rng.random())
            strokes.append(("rain", x, y, x - length * 0.25, y + length, width))
    elif scene.weather == "snow":
        for _ in range(110):
            x, y = rng.random() * w, rng.random() * h
            strokes.append(("snow", x, y, line * (0.8 + 2.2 * rng.random()), 0.0, 0.0))
    return strokes


def _stroke_clears(zones: list[HeadZone], stroke: Stroke, line: int) -> bool:
    kind, a, b, c, d, width = stroke
    if kind == "rain":
        return _segment_clears(zones, a, b, c, d, width + line)
    return _segment_clears(zones, a, b, a, b, c + line)


def _draw_stroke(draw: ImageDraw.ImageDraw, scene: Scene, stroke: Stroke, line: int) -> None:
    kind, a, b, c, d, width = stroke
    if kind == "rain":
        colour = grey(0.5) if scene.time_of_day != "night" else (196, 200, 214)
        draw.line((a, b, c, d), fill=colour, width=int(width))
    else:
        draw.ellipse((a - c, b - c, a + c, b + c), fill=PAPER, outline=grey(0.45), width=max(1, line // 3))


def indoor_flash(image: Image.Image, scene: Scene) -> Image.Image:
    """A lightning flash seen from inside: the whole room takes a wash of cold light (a uniform
    tone change, so it never draws a line across a face). Other weather leaves the room alone."""
    if scene.weather == "storm" and weather_is_outside(scene):
        return Image.blend(image, Image.new("RGB", image.size, FLASH), 0.16)
    return image


def _sparkle(draw: ImageDraw.ImageDraw, x: float, y: float, s: float, line: int) -> None:
    k = s * 0.22
    star = [(x, y - s), (x + k, y - k), (x + s, y), (x + k, y + k), (x, y + s), (x - k, y + k), (x - s, y), (x - k, y - k)]
    draw.polygon(star, fill=PAPER, outline=INK, width=max(1, line // 2 + 1))


def _lightning(canvas: Image.Image, draw: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random, line: int) -> None:
    x, y = w * (0.2 + 0.6 * rng.random()), 0.0
    points = [(x, y)]
    while y < h * 0.5:
        y += h * (0.06 + 0.06 * rng.random())
        x += w * (rng.random() - 0.5) * 0.12
        points.append((x, y))
    paint_glow(canvas, points[len(points) // 2], h * 0.35, (236, 236, 250), 110)
    draw.line(points, fill=INK, width=line * 5, joint="curve")
    draw.line(points, fill=(252, 252, 255), width=line * 2, joint="curve")
