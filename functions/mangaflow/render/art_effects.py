"""Manga effects of the panel art: mood lines behind the figures (speed, focus, gloom) and
weather and sparkles in front of them."""
from __future__ import annotations

import math
import random
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw

from mangaflow.render.art_scene import Scene
from mangaflow.render.art_tones import DOT_PERIOD, dot_tone, paint_glow, shape_mask
from mangaflow.render.palette import INK, PAPER, grey


def draw_mood_behind(canvas: Image.Image, scene: Scene, focus: tuple[float, float], rng: random.Random, line: int) -> None:
    """Effects that belong to the background: speed lines, focus lines, gloom, a mysterious vignette."""
    draw = ImageDraw.Draw(canvas)
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


@lru_cache(maxsize=8)
def mystery_vignette(size: tuple[int, int]) -> Image.Image:
    """An 'L' mask of toned corners closing in on the panel; built once per panel size and applied at
    final size, where it costs a quarter of the supersampled work."""
    w, h = size
    corners = [[(cx, cy), (abs(cx - w * 0.45), cy), (cx, abs(cy - h * 0.55))] for cx, cy in ((0, 0), (w, 0), (0, h), (w, h))]
    return ImageChops.multiply(shape_mask(size, polygons=corners), dot_tone(size, 0.4, DOT_PERIOD // 2))


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


def draw_weather_and_glow(canvas: Image.Image, scene: Scene, rng: random.Random, line: int) -> None:
    """Effects in front of everything: rain, storm, snow."""
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    if scene.weather in ("rain", "storm"):
        heavy = scene.weather == "storm"
        if heavy:
            _lightning(canvas, draw, w, h, rng, line)
        colour = grey(0.5) if scene.time_of_day != "night" else (196, 200, 214)
        for _ in range(220 if heavy else 130):
            x, y = rng.random() * w * 1.2, rng.random() * h
            length = h * (0.04 + 0.05 * rng.random())
            draw.line((x, y, x - length * 0.25, y + length), fill=colour, width=max(1, line // 2 + (1 if heavy else 0)))
    elif scene.weather == "snow":
        for _ in range(110):
            x, y = rng.random() * w, rng.random() * h
            r = line * (0.8 + 2.2 * rng.random())
            draw.ellipse((x - r, y - r, x + r, y + r), fill=PAPER, outline=grey(0.45), width=max(1, line // 3))


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
