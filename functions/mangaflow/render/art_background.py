"""Backgrounds of the panel art: sky by time of day, a perspective horizon and a few props per
place, so a beach, a shop and a hospital room are told apart at a glance."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image, ImageDraw

from mangaflow.render.art_scene import Scene
from mangaflow.render.art_tones import CanvasDraw, paint_glow, paint_vertical_gradient, tone_polygon, vertical_gradient
from mangaflow.render.palette import INK, LANTERN, PAPER, RGB, Light, grey, light_for, mix, shade

# Horizon height (share of the panel) per camera: looking down pushes it up, looking up pulls it down.
HORIZON = {"wide": 0.56, "birds_eye": 0.14, "worms_eye": 0.86, "medium": 0.52, "bust": 0.5, "close_up": 0.5}
# How tall buildings and furniture stand relative to the panel, per camera.
PROP_SCALE = {"wide": 1.0, "birds_eye": 0.45, "worms_eye": 1.2, "medium": 1.1, "bust": 1.15, "close_up": 1.2}
# Places drawn as a room: their weather is only seen through a window, never falls inside.
INTERIOR_PLACES = frozenset({"room", "interior", "hospital", "shop", "workshop", "classroom"})
WEATHER_THAT_SHOWS = ("rain", "storm", "snow")
# The cold light of a lightning flash, seen in the window pane and cast on the room.
FLASH: RGB = (232, 236, 250)


@dataclass
class Stage:
    """The canvas being drawn plus the perspective every background prop shares."""

    canvas: Image.Image
    draw: ImageDraw.ImageDraw
    scene: Scene
    light: Light
    rng: random.Random
    horizon: float  # y of the horizon, px
    vanish_x: float  # x of the vanishing point, px
    line: int  # base line width, px
    props: float  # PROP_SCALE of the camera
    # Window panes drawn so far (canvas px): the only places indoor weather may show.
    windows: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def w(self) -> int:
        return self.canvas.width

    @property
    def h(self) -> int:
        return self.canvas.height

    @property
    def ink(self) -> RGB:
        return self.light.ink_on_dark if self.light.dark else INK

    def ground_y(self, x: float, near: tuple[float, float]) -> float:
        """y on the line through `near` that runs to the vanishing point (one-point perspective)."""
        nx, ny = near
        if abs(nx - self.vanish_x) < 1e-6:
            return ny
        return self.horizon + (ny - self.horizon) * (x - self.vanish_x) / (nx - self.vanish_x)


def weather_is_outside(scene: Scene) -> bool:
    """True when the panel is drawn as a room: rain, snow and lightning belong in its windows."""
    return scene.place in INTERIOR_PLACES


def make_stage(canvas: Image.Image, scene: Scene) -> Stage:
    rng = random.Random(scene.seed)
    w, h = canvas.size
    horizon = h * HORIZON[scene.camera]
    vanish_x = w * (0.38 + 0.24 * rng.random())
    return Stage(canvas, CanvasDraw(canvas), scene, light_for(scene.time_of_day, scene.weather), rng,
                 horizon, vanish_x, max(2, round(h / 360)), PROP_SCALE[scene.camera])


def draw_background(stage: Stage) -> None:
    """Sky or wall, ground or floor, then the place's props and its light sources."""
    painter = _PLACES.get(stage.scene.place, _outdoor)
    painter(stage)
    if weather_is_outside(stage.scene) and _needs_window(stage) and not stage.windows:
        # a room with weather but no window of its own: open one on the upper wall so the weather is seen
        floor_y = min(stage.h * 0.97, max(stage.h * 0.1, stage.horizon + stage.h * 0.1))
        _window(stage, (stage.w * 0.64, floor_y * 0.14, stage.w * 0.9, floor_y * 0.6), curtains=False)
    if "festival" in stage.scene.features and stage.scene.place not in ("room", "hospital", "classroom"):
        _lantern_string(stage)


# ---- shared pieces -------------------------------------------------------------------------

def _sky(stage: Stage, bottom_y: float | None = None) -> None:
    bottom = int(stage.horizon if bottom_y is None else bottom_y)
    if bottom <= 0:
        return
    paint_vertical_gradient(stage.canvas, (stage.w, bottom), stage.light.sky_top, stage.light.sky_bottom)
    time = stage.scene.time_of_day
    if time == "night" and stage.scene.weather in ("clear", "snow"):
        _stars(stage, bottom)
        _moon(stage, bottom)
    elif time in ("day", "dawn") and stage.scene.weather == "clear":
        _clouds(stage, bottom)
    elif time == "evening" and stage.scene.weather == "clear":
        _sun_low(stage, bottom)


def _stars(stage: Stage, bottom: int) -> None:
    rng, draw = stage.rng, stage.draw
    for _ in range(int(stage.w * bottom / 9000) + 10):
        x, y = rng.random() * stage.w, rng.random() * bottom * 0.92
        r = stage.line * (0.6 + rng.random() * 0.9)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(236, 236, 246))
    for _ in range(4):  # a few bigger twinkles, the manga way: a small cross
        x, y = rng.random() * stage.w, rng.random() * bottom * 0.7
        s = stage.line * 4
        draw.line((x - s, y, x + s, y), fill=(240, 240, 250), width=stage.line)
        draw.line((x, y - s, x, y + s), fill=(240, 240, 250), width=stage.line)


def _moon(stage: Stage, bottom: int) -> None:
    r = stage.h * 0.07
    x = stage.w * (0.7 + 0.2 * stage.rng.random())
    y = min(bottom - r * 1.5, stage.h * 0.16)
    if y < r * 0.5:
        return
    paint_glow(stage.canvas, (x, y), r * 3.2, (120, 128, 160), 110)
    stage.draw.ellipse((x - r, y - r, x + r, y + r), fill=(248, 244, 222))
    stage.draw.ellipse((x - r * 0.55, y - r * 1.1, x + r * 1.45, y + r * 0.9), fill=stage.light.sky_top)


def _sun_low(stage: Stage, bottom: int) -> None:
    r = stage.h * 0.09
    x = stage.w * (0.25 + 0.5 * stage.rng.random())
    paint_glow(stage.canvas, (x, bottom), r * 4, (255, 200, 150), 140)
    stage.draw.pieslice((x - r, bottom - r, x + r, bottom + r), 180, 360, fill=(255, 236, 210))
    for i in range(1, 4):  # thin horizontal bands across the sun, a classic sunset tone trick
        y = bottom - r * i / 4
        stage.draw.line((x - r, y, x + r, y), fill=stage.light.sky_bottom, width=stage.line)


def _cloud(stage: Stage, cx: float, cy: float, size: float, fill: RGB) -> None:
    puffs = [(cx + dx * size, cy + dy * size, r * size) for dx, dy, r in
             ((-0.9, 0.15, 0.45), (-0.35, -0.15, 0.6), (0.3, -0.25, 0.7), (0.95, 0.05, 0.5), (0.2, 0.2, 0.55))]
    edge = stage.line * 1.5
    # Outline as the union of puffs: ink discs a little larger, then the fills on top.
    for x, y, r in puffs:
        stage.draw.ellipse((x - r - edge, y - r - edge, x + r + edge, y + r + edge), fill=mix(stage.light.sky_top, INK, 0.45))
    for x, y, r in puffs:
        stage.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _clouds(stage: Stage, bottom: int) -> None:
    for _ in range(2 + stage.rng.randrange(2)):
        size = stage.h * (0.05 + 0.04 * stage.rng.random())
        cx = stage.w * stage.rng.random()
        cy = bottom * (0.2 + 0.45 * stage.rng.random())
        if cy - size > 0:
            _cloud(stage, cx, cy, size, (252, 252, 252))


def _ground(stage: Stage, colour: RGB, grid: bool = False) -> None:
    top = max(0, int(stage.horizon))
    if top >= stage.h:
        return
    stage.draw.rectangle((0, top, stage.w, stage.h), fill=colour)
    line = shade(colour, 0.25)
    # Perspective rays from the vanishing point make the ground read as a plane.
    for i in range(-6, 7):
        stage.draw.line((stage.vanish_x, stage.horizon, stage.vanish_x + i * stage.w * 0.35, stage.h * 1.4),
                        fill=line, width=max(1, stage.line // 2))
    if grid:
        depth = 1.0
        while depth < 40:
            y = stage.horizon + (stage.h - stage.horizon) / depth
            if y < stage.h:
                stage.draw.line((0, y, stage.w, y), fill=line, width=max(1, stage.line // 2))
            depth *= 1.6
    stage.draw.line((0, stage.horizon, stage.w, stage.horizon), fill=stage.ink, width=stage.line)


def _floor_and_wall(stage: Stage, wall: RGB | None = None) -> float:
    """An interior: back wall down to the floor line, boards running to the vanishing point."""
    floor_y = min(stage.h * 0.97, max(stage.h * 0.1, stage.horizon + stage.h * 0.1))
    stage.draw.rectangle((0, 0, stage.w, floor_y), fill=wall or stage.light.wall)
    stage.draw.rectangle((0, floor_y, stage.w, stage.h), fill=stage.light.floor)
    board = shade(stage.light.floor, 0.18)
    for i in range(-8, 9):
        stage.draw.line((stage.vanish_x + i * stage.w * 0.06, floor_y, stage.vanish_x + i * stage.w * 0.5, stage.h * 1.6),
                        fill=board, width=max(1, stage.line // 2))
    # Skirting board: the single firm line that tells wall from floor.
    stage.draw.rectangle((0, floor_y - stage.line * 3, stage.w, floor_y), fill=shade(stage.light.wall, 0.3))
    stage.draw.line((0, floor_y, stage.w, floor_y), fill=stage.ink, width=stage.line)
    return floor_y


def _needs_window(stage: Stage) -> bool:
    return stage.scene.weather in WEATHER_THAT_SHOWS


def _window(stage: Stage, box: tuple[float, float, float, float], curtains: bool = True) -> None:
    x0, y0, x1, y1 = box
    if y1 - y0 < 4 or x1 - x0 < 4:
        return
    stage.windows.append((x0, y0, x1, y1))
    weather = stage.scene.weather
    top, bottom = stage.light.sky_top, stage.light.sky_bottom
    if weather == "storm":
        # a lightning flash: the pane goes pale and cold light spills on the wall around it
        top, bottom = mix(top, FLASH, 0.55), mix(bottom, FLASH, 0.8)
        paint_glow(stage.canvas, ((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0) * 0.95, FLASH, 90)
    pane = vertical_gradient((int(x1 - x0), int(y1 - y0)), top, bottom)
    if stage.scene.time_of_day == "night" and weather == "clear":
        r = (x1 - x0) * 0.09
        ImageDraw.Draw(pane).ellipse((pane.width - r * 4, r * 2, pane.width - r * 2, r * 4), fill=(248, 244, 222))
    if weather in WEATHER_THAT_SHOWS:
        # drawn on the pane image itself, so rain, snow and the bolt stay inside the glass
        _weather_in_pane(stage, pane, len(stage.windows))
    stage.canvas.paste(pane, (int(x0), int(y0)))
    frame = shade(stage.light.wall, 0.45)
    stage.draw.rectangle(box, outline=stage.ink, width=stage.line * 2)
    stage.draw.line(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1), fill=frame, width=stage.line * 2)
    stage.draw.line((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2), fill=frame, width=stage.line * 2)
    if curtains:
        cw = (x1 - x0) * 0.18
        for cx in (x0 - cw * 0.6, x1 - cw * 0.4):
            poly = [(cx, y0 - stage.line * 4), (cx + cw, y0 - stage.line * 4), (cx + cw * 0.8, y1 + cw * 0.5), (cx + cw * 0.1, y1 + cw * 0.5)]
            stage.draw.polygon(poly, fill=mix(stage.light.wall, PAPER, 0.5), outline=stage.ink, width=stage.line)
            for f in (0.35, 0.65):
                stage.draw.line((cx + cw * f, y0, cx + cw * f * 0.9, y1 + cw * 0.4), fill=shade(stage.light.wall, 0.3), width=stage.line)


def _weather_in_pane(stage: Stage, pane: Image.Image, index: int) -> None:
    """Rain, snow or a distant bolt seen through one window pane. Its own random stream, so the
    props drawn after the window come out the same whatever the weather."""
    rng = random.Random(stage.scene.seed ^ (index * 0x9E3779B1))
    draw = ImageDraw.Draw(pane)
    w, h = pane.size
    line = stage.line
    weather = stage.scene.weather
    if weather == "storm":
        x, y = w * (0.25 + 0.5 * rng.random()), 0.0
        points = [(x, y)]
        while y < h * 0.75:
            y += h * (0.1 + 0.1 * rng.random())
            x += w * (rng.random() - 0.5) * 0.3
            points.append((x, y))
        draw.line(points, fill=INK, width=line * 3, joint="curve")
        draw.line(points, fill=(255, 255, 255), width=line, joint="curve")
    if weather in ("rain", "storm"):
        # pale streaks on a dark pane, grey ones on a flash-lit pane
        colour = (150, 156, 172) if weather == "storm" else (206, 210, 222)
        for _ in range(int(w * h / (line * line * 90)) + 8):
            x, y = rng.random() * w * 1.15, rng.random() * h
            length = h * (0.08 + 0.1 * rng.random())
            draw.line((x, y, x - length * 0.25, y + length), fill=colour, width=max(1, line // 2 + 1))
    elif weather == "snow":
        for _ in range(int(w * h / (line * line * 160)) + 6):
            x, y = rng.random() * w, rng.random() * h
            r = line * (0.6 + 1.6 * rng.random())
            draw.ellipse((x - r, y - r, x + r, y + r), fill=PAPER, outline=grey(0.45), width=max(1, line // 3))


def _ceiling_lamp(stage: Stage, x: float, y: float, size: float) -> None:
    stage.draw.line((x, 0, x, y), fill=stage.ink, width=stage.line)
    stage.draw.chord((x - size, y - size * 0.4, x + size, y + size * 0.9), 180, 360, fill=grey(0.55), outline=stage.ink,
                     width=stage.line)
    if stage.light.lamps_lit:
        paint_glow(stage.canvas, (x, y + size * 0.4), size * 3.5, LANTERN, 130)


# ---- places --------------------------------------------------------------------------------

def _room(stage: Stage) -> None:
    floor_y = _floor_and_wall(stage)
    s = stage.props
    wx0 = stage.w * (0.1 + 0.1 * stage.rng.random())
    _window(stage, (wx0, floor_y * 0.2, wx0 + stage.w * 0.24 * s, floor_y * 0.2 + floor_y * 0.45))
    # a framed picture and a low shelf on the other side
    px = stage.w * 0.66
    stage.draw.rectangle((px, floor_y * 0.25, px + stage.w * 0.1 * s, floor_y * 0.25 + stage.w * 0.075 * s),
                         fill=grey(0.15), outline=stage.ink, width=stage.line)
    shelf_top = floor_y - stage.h * 0.16 * s
    stage.draw.rectangle((stage.w * 0.6, shelf_top, stage.w * 0.9, floor_y), fill=shade(stage.light.wall, 0.2),
                         outline=stage.ink, width=stage.line)
    stage.draw.line((stage.w * 0.6, (shelf_top + floor_y) / 2, stage.w * 0.9, (shelf_top + floor_y) / 2),
                    fill=stage.ink, width=stage.line)
    stage.draw.ellipse((stage.w * 0.8, shelf_top - stage.h * 0.06 * s, stage.w * 0.84, shelf_top), fill=grey(0.4),
                       outline=stage.ink, width=stage.line)
    _ceiling_lamp(stage, stage.w * 0.5, floor_y * 0.12, stage.h * 0.04)


def _hospital(stage: Stage) -> None:
    floor_y = _floor_and_wall(stage, mix(stage.light.wall, (226, 236, 236), 0.4))
    s = stage.props
    _window(stage, (stage.w * 0.62, floor_y * 0.15, stage.w * 0.9, floor_y * 0.62), curtains=False)
    # the curtain rail and a half-drawn privacy curtain with its folds
    stage.draw.line((0, stage.h * 0.04, stage.w, stage.h * 0.04), fill=stage.ink, width=stage.line * 2)
    cx1 = stage.w * 0.2
    stage.draw.rectangle((0, stage.h * 0.04, cx1, floor_y - stage.h * 0.04), fill=mix(stage.light.wall, PAPER, 0.6),
                         outline=stage.ink, width=stage.line)
    for i in range(1, 6):
        x = cx1 * i / 6
        stage.draw.line((x, stage.h * 0.05, x + stage.line * 2, floor_y - stage.h * 0.05), fill=shade(stage.light.wall, 0.3),
                        width=stage.line)
    # bed: mattress block with a blanket tone and a headboard rail
    bx0, bx1 = stage.w * 0.3, stage.w * 0.78
    top = floor_y - stage.h * 0.12 * s
    stage.draw.rectangle((bx0, top, bx1, floor_y + stage.h * 0.05), fill=(244, 244, 244), outline=stage.ink, width=stage.line)
    tone_polygon(stage.canvas, [(bx0 + (bx1 - bx0) * 0.3, top), (bx1, top), (bx1, floor_y + stage.h * 0.05),
                                (bx0 + (bx1 - bx0) * 0.3, floor_y + stage.h * 0.05)], 0.18)
    stage.draw.rectangle((bx0 + stage.w * 0.02, top - stage.h * 0.035, bx0 + stage.w * 0.11, top + stage.h * 0.01),
                         fill=PAPER, outline=stage.ink, width=stage.line)
    stage.draw.rectangle((bx0 - stage.line * 2, top - stage.h * 0.1 * s, bx0 + stage.line, floor_y + stage.h * 0.07),
                         fill=grey(0.5), outline=stage.ink, width=stage.line)
    # IV stand with its bag
    ix = stage.w * 0.88
    stage.draw.line((ix, floor_y * 0.3, ix, floor_y + stage.h * 0.06), fill=stage.ink, width=stage.line * 2)
    stage.draw.rounded_rectangle((ix - stage.w * 0.02, floor_y * 0.3, ix + stage.w * 0.02, floor_y * 0.3 + stage.h * 0.08),
                                 radius=stage.line * 3, fill=(232, 240, 244), outline=stage.ink, width=stage.line)


def _shelves(stage: Stage, x0: float, x1: float, top: float, bottom: float, rows: int) -> None:
    stage.draw.rectangle((x0, top, x1, bottom), fill=shade(stage.light.wall, 0.22), outline=stage.ink, width=stage.line)
    for r in range(1, rows + 1):
        y = top + (bottom - top) * r / (rows + 0.2)
        stage.draw.line((x0, y, x1, y), fill=stage.ink, width=stage.line)
        x = x0 + stage.line * 3
        while x < x1 - stage.w * 0.03:
            width = stage.w * (0.015 + 0.02 * stage.rng.random())
            height = (bottom - top) / (rows + 0.2) * (0.4 + 0.45 * stage.rng.random())
            fill = grey(0.15 + 0.5 * stage.rng.random())
            if stage.rng.random() < 0.5:
                stage.draw.rounded_rectangle((x, y - height, x + width, y), radius=stage.line * 2, fill=fill,
                                             outline=stage.ink, width=max(1, stage.line // 2 + 1))
            else:
                stage.draw.rectangle((x, y - height, x + width, y), fill=fill, outline=stage.ink, width=max(1, stage.line // 2 + 1))
            x += width + stage.w * 0.006


def _shop(stage: Stage) -> None:
    floor_y = _floor_and_wall(stage)
    if _needs_window(stage):
        # the shop window, so the weather outside is seen; the shelves make room for it
        _window(stage, (stage.w * 0.66, floor_y * 0.14, stage.w * 0.94, floor_y * 0.7), curtains=False)
        _shelves(stage, stage.w * 0.04, stage.w * 0.6, floor_y * 0.12, floor_y * 0.88, 3)
    else:
        _shelves(stage, stage.w * 0.04, stage.w * 0.96, floor_y * 0.12, floor_y * 0.88, 3)
    # counter in the foreground, with a toned front and the lamp above
    ctop = stage.h * (0.72 if stage.scene.camera != "birds_eye" else 0.6)
    stage.draw.rectangle((stage.w * 0.05, ctop, stage.w * 0.95, stage.h * 1.02), fill=shade(stage.light.floor, 0.1),
                         outline=stage.ink, width=stage.line * 2)
    tone_polygon(stage.canvas, [(stage.w * 0.05, ctop + stage.h * 0.04), (stage.w * 0.95, ctop + stage.h * 0.04),
                                (stage.w * 0.95, stage.h), (stage.w * 0.05, stage.h)], 0.3)
    stage.draw.line((stage.w * 0.05, ctop + stage.h * 0.04, stage.w * 0.95, ctop + stage.h * 0.04), fill=stage.ink, width=stage.line)
    for x in (0.3, 0.7):
        _ceiling_lamp(stage, stage.w * x, stage.h * 0.08, stage.h * 0.035)


def _gear(stage: Stage, cx: float, cy: float, r: float) -> None:
    points = []
    for i in range(24):
        a = math.tau * i / 24
        rr = r if (i // 2) % 2 == 0 else r * 0.8
        points.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    stage.draw.polygon(points, fill=grey(0.35), outline=stage.ink, width=stage.line)
    stage.draw.ellipse((cx - r * 0.3, cy - r * 0.3, cx + r * 0.3, cy + r * 0.3), fill=stage.light.wall, outline=stage.ink,
                       width=stage.line)


def _workshop(stage: Stage) -> None:
    floor_y = _floor_and_wall(stage, shade(stage.light.wall, 0.06))
    # pegboard of tools
    bx0, bx1, by0, by1 = stage.w * 0.08, stage.w * 0.55, floor_y * 0.15, floor_y * 0.62
    stage.draw.rectangle((bx0, by0, bx1, by1), fill=shade(stage.light.wall, 0.15), outline=stage.ink, width=stage.line)
    for i in range(6):
        x = bx0 + (bx1 - bx0) * (i + 0.5) / 6
        length = (by1 - by0) * (0.45 + 0.3 * stage.rng.random())
        y0 = by0 + (by1 - by0) * 0.12
        stage.draw.line((x, y0, x, y0 + length), fill=grey(0.7), width=stage.line * 2)
        r = stage.line * 4
        stage.draw.ellipse((x - r, y0 - r, x + r, y0 + r), outline=grey(0.7), width=stage.line * 2)
    if _needs_window(stage):
        # a window where the gears hang, so the weather outside is seen
        _window(stage, (stage.w * 0.62, floor_y * 0.14, stage.w * 0.9, floor_y * 0.62), curtains=False)
    else:
        _gear(stage, stage.w * 0.72, floor_y * 0.3, stage.h * 0.08)
        _gear(stage, stage.w * 0.82, floor_y * 0.45, stage.h * 0.05)
    # workbench
    top = floor_y - stage.h * 0.02
    stage.draw.rectangle((stage.w * 0.05, top - stage.h * 0.03, stage.w * 0.7, top), fill=grey(0.4), outline=stage.ink, width=stage.line)
    for x in (0.08, 0.66):
        stage.draw.rectangle((stage.w * x, top, stage.w * x + stage.w * 0.02, stage.h), fill=grey(0.55), outline=stage.ink,
                             width=stage.line)
    _ceiling_lamp(stage, stage.w * 0.4, stage.h * 0.07, stage.h * 0.04)


def _classroom(stage: Stage) -> None:
    floor_y = _floor_and_wall(stage)
    # blackboard, the clock above it and windows on the side
    stage.draw.rectangle((stage.w * 0.2, floor_y * 0.18, stage.w * 0.75, floor_y * 0.62), fill=(62, 78, 70), outline=stage.ink,
                         width=stage.line * 2)
    stage.draw.line((stage.w * 0.2, floor_y * 0.64, stage.w * 0.75, floor_y * 0.64), fill=shade(stage.light.wall, 0.4),
                    width=stage.line * 2)
    r = stage.h * 0.035
    cx, cy = stage.w * 0.475, floor_y * 0.08
    stage.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=PAPER, outline=stage.ink, width=stage.line)
    stage.draw.line((cx, cy, cx, cy - r * 0.7), fill=stage.ink, width=stage.line)
    stage.draw.line((cx, cy, cx + r * 0.5, cy), fill=stage.ink, width=stage.line)
    _window(stage, (stage.w * 0.82, floor_y * 0.12, stage.w * 0.98, floor_y * 0.7), curtains=False)
    # two rows of desks on the floor, smaller as they recede
    for row, (y, scale) in enumerate(((floor_y + (stage.h - floor_y) * 0.25, 0.7), (floor_y + (stage.h - floor_y) * 0.7, 1.0))):
        for i in range(4):
            x = stage.w * (0.12 + 0.25 * i) + row * stage.w * 0.04
            dw, dh = stage.w * 0.13 * scale, stage.h * 0.05 * scale
            stage.draw.polygon([(x, y), (x + dw, y), (x + dw * 1.08, y + dh), (x - dw * 0.08, y + dh)], fill=grey(0.25),
                               outline=stage.ink, width=stage.line)


def _facades(stage: Stage, left: bool, lit_windows: list[tuple[float, float]]) -> None:
    """A row of buildings along one side of a street, all edges running to the vanishing point."""
    rng, s = stage.rng, stage.props
    edge_x = -0.15 * stage.w if left else 1.15 * stage.w
    near = (edge_x, stage.h * 1.05)
    depths = [0.0]
    while depths[-1] < 0.92:
        depths.append(depths[-1] + 0.12 + 0.16 * rng.random() * (1 - depths[-1]))
    for a, b in zip(depths, depths[1:]):
        b = min(b, 0.97)
        xa = edge_x + (stage.vanish_x - edge_x) * a
        xb = edge_x + (stage.vanish_x - edge_x) * b
        ya, yb = stage.ground_y(xa, near), stage.ground_y(xb, near)
        height = stage.h * (0.45 + 0.5 * rng.random()) * s * (1 - a)
        top_near = (xa, ya - height)
        ta, tb = top_near[1], stage.ground_y(xb, top_near)
        fill = mix(stage.light.wall, stage.light.far, 0.25 + 0.5 * rng.random())
        stage.draw.polygon([(xa, ya), (xb, yb), (xb, tb), (xa, ta)], fill=fill, outline=stage.ink, width=stage.line)
        # a sloping roof lip and window rows, kept on the same perspective lines
        stage.draw.line((xa, ta, xb, tb), fill=stage.ink, width=stage.line * 2)
        rows = 2 + rng.randrange(3)
        for r in range(rows):
            f0, f1 = (r + 0.35) / (rows + 0.4), (r + 0.75) / (rows + 0.4)
            for c in range(2):
                g0, g1 = 0.15 + c * 0.4, 0.4 + c * 0.4
                xs = (xa + (xb - xa) * g0, xa + (xb - xa) * g1)
                quad = []
                for x, f in ((xs[0], f0), (xs[1], f0), (xs[1], f1), (xs[0], f1)):
                    top_y, base_y = stage.ground_y(x, top_near), stage.ground_y(x, near)
                    quad.append((x, top_y + (base_y - top_y) * f))
                lit = stage.light.lamps_lit and rng.random() < 0.45
                stage.draw.polygon(quad, fill=mix(LANTERN, PAPER, 0.3) if lit else shade(fill, 0.3), outline=stage.ink,
                                   width=max(1, stage.line // 2 + 1))
                if lit and stage.light.dark:
                    lit_windows.append(((quad[0][0] + quad[2][0]) / 2, (quad[0][1] + quad[2][1]) / 2))


def _street(stage: Stage) -> None:
    _sky(stage)
    _ground(stage, stage.light.ground)
    # road edges and a dashed centre line
    for edge in (0.28, 0.72):
        stage.draw.line((stage.vanish_x, stage.horizon, stage.w * (edge - 0.5) * 3 + stage.w * 0.5, stage.h),
                        fill=stage.ink, width=stage.line)
    for i in range(8):
        t0, t1 = (i / 8) ** 2, ((i + 0.5) / 8) ** 2
        y0, y1 = stage.horizon + (stage.h - stage.horizon) * t0, stage.horizon + (stage.h - stage.horizon) * t1
        stage.draw.line((stage.vanish_x, y0, stage.vanish_x, y1), fill=PAPER, width=max(1, int(stage.line * (1 + 3 * t1))))
    lit: list[tuple[float, float]] = []
    _facades(stage, True, lit)
    _facades(stage, False, lit)
    for x, y in lit[:12]:
        paint_glow(stage.canvas, (x, y), stage.h * 0.05, LANTERN, 120)
    # utility poles with sagging wires, the shorthand of a Japanese town
    poles = []
    for depth in (0.1, 0.45, 0.7):
        x = stage.w * 0.92 + (stage.vanish_x - stage.w * 0.92) * depth
        base = stage.ground_y(x, (stage.w * 0.92, stage.h * 1.02))
        top = base - stage.h * 0.75 * stage.props * (1 - depth * 0.85)
        stage.draw.line((x, base, x, top), fill=stage.ink, width=max(stage.line, int(stage.line * 3 * (1 - depth))))
        stage.draw.line((x - stage.w * 0.03 * (1 - depth), top + stage.h * 0.02, x + stage.w * 0.03 * (1 - depth), top + stage.h * 0.02),
                        fill=stage.ink, width=stage.line)
        poles.append((x, top + stage.h * 0.02))
    for (xa, ya), (xb, yb) in zip(poles, poles[1:]):
        mid = ((xa + xb) / 2, max(ya, yb) + stage.h * 0.03)
        stage.draw.line((xa, ya, mid[0], mid[1], xb, yb), fill=stage.ink, width=max(1, stage.line // 2 + 1), joint="curve")


def _sea(stage: Stage) -> None:
    _sky(stage)
    shore_y = stage.horizon + (stage.h - stage.horizon) * 0.5
    sea = mix(stage.light.sky_bottom, stage.light.far, 0.55)
    stage.draw.rectangle((0, stage.horizon, stage.w, stage.h), fill=sea)
    # distant headland on the horizon
    hx = stage.w * (0.05 + 0.3 * stage.rng.random())
    stage.draw.chord((hx - stage.w * 0.2, stage.horizon - stage.h * 0.05, hx + stage.w * 0.2, stage.horizon + stage.h * 0.05),
                     180, 360, fill=stage.light.far, outline=stage.ink, width=stage.line)
    stage.draw.line((0, stage.horizon, stage.w, stage.horizon), fill=stage.ink, width=stage.line)
    # wavelets: short strokes, longer and further apart towards the viewer
    rng = stage.rng
    for i in range(40):
        t = (i + rng.random()) / 40
        y = stage.horizon + (shore_y - stage.horizon) * t * t
        x = rng.random() * stage.w
        length = stage.w * (0.02 + 0.06 * t)
        stage.draw.line((x, y, x + length, y), fill=shade(sea, 0.35), width=max(1, int(stage.line * (0.5 + t))))
    if stage.scene.time_of_day in ("night", "evening") and stage.scene.weather == "clear":
        # light path on the water under the moon or the setting sun
        cx = stage.w * 0.75
        for i in range(14):
            y = stage.horizon + (shore_y - stage.horizon) * (i / 14)
            half = stage.w * (0.01 + 0.05 * i / 14)
            stage.draw.line((cx - half, y, cx + half, y), fill=(246, 238, 214), width=stage.line)
    # wavy shoreline with foam, sand below
    points = []
    steps = 48
    phase = stage.rng.random() * math.tau
    for i in range(steps + 1):
        x = stage.w * i / steps
        points.append((x, shore_y + stage.h * 0.012 * math.sin(phase + i * 0.9) + stage.h * 0.008 * math.sin(i * 0.31)))
    sand = mix(stage.light.ground, PAPER, 0.35)
    stage.draw.polygon(points + [(stage.w, stage.h), (0, stage.h)], fill=sand)
    stage.draw.line(points, fill=PAPER, width=stage.line * 3, joint="curve")
    stage.draw.line([(x, y + stage.line * 2) for x, y in points], fill=stage.ink, width=stage.line, joint="curve")
    tone_polygon(stage.canvas, points + [(stage.w, stage.h), (0, stage.h)], 0.1)


def _fence(stage: Stage, y_top: float, y_bottom: float) -> None:
    stage.draw.line((0, y_top, stage.w, y_top), fill=stage.ink, width=stage.line * 2)
    stage.draw.line((0, (y_top + y_bottom) / 2, stage.w, (y_top + y_bottom) / 2), fill=stage.ink, width=stage.line)
    step = max(6, int(stage.w / 40))
    for x in range(0, stage.w + step, step):
        stage.draw.line((x, y_top, x, y_bottom), fill=stage.ink, width=max(1, stage.line // 2 + 1))


def _skyline(stage: Stage, base: float, height: float, colour: RGB) -> None:
    x = -stage.w * 0.02
    while x < stage.w:
        width = stage.w * (0.04 + 0.06 * stage.rng.random())
        top = base - height * (0.3 + 0.7 * stage.rng.random())
        stage.draw.rectangle((x, top, x + width, base), fill=colour, outline=shade(colour, 0.35), width=max(1, stage.line // 2 + 1))
        if stage.light.lamps_lit:
            for _ in range(3):
                wx = x + width * (0.15 + 0.6 * stage.rng.random())
                wy = top + (base - top) * (0.1 + 0.7 * stage.rng.random())
                stage.draw.rectangle((wx, wy, wx + stage.line * 3, wy + stage.line * 3), fill=LANTERN)
        x += width * (0.85 + 0.3 * stage.rng.random())


def _planters(stage: Stage, y: float, count: int) -> None:
    for i in range(count):
        x = stage.w * (0.06 + 0.88 * (i + 0.5) / count) - stage.w * 0.07
        pw, ph = stage.w * 0.14 * stage.props, stage.h * 0.07 * stage.props
        leaf_r = pw * 0.18
        for j in range(4):
            lx = x + pw * (0.15 + 0.23 * j)
            stage.draw.ellipse((lx - leaf_r, y - ph * 0.3 - leaf_r * 1.6, lx + leaf_r, y - ph * 0.3 + leaf_r * 0.4),
                               fill=(118, 150, 112), outline=stage.ink, width=stage.line)
        stage.draw.rectangle((x, y - ph * 0.5, x + pw, y + ph * 0.5), fill=grey(0.45), outline=stage.ink, width=stage.line)


def _rooftop(stage: Stage) -> None:
    _sky(stage)
    if "dome" in stage.scene.features or stage.scene.place == "city":
        _dome(stage)
    _skyline(stage, stage.horizon, stage.h * 0.18 * stage.props, stage.light.far)
    _ground(stage, mix(stage.light.ground, PAPER, 0.2), grid=True)
    fence_top = stage.horizon - stage.h * 0.08 * stage.props
    _fence(stage, fence_top, stage.horizon)
    # water tank on legs, the rooftop's signature prop
    tx = stage.w * (0.78 if stage.vanish_x < stage.w / 2 else 0.08)
    tw, th = stage.w * 0.12 * stage.props, stage.h * 0.14 * stage.props
    ty = fence_top - th * 0.5
    stage.draw.rectangle((tx, ty, tx + tw, ty + th), fill=grey(0.3), outline=stage.ink, width=stage.line)
    stage.draw.ellipse((tx, ty - th * 0.15, tx + tw, ty + th * 0.15), fill=grey(0.2), outline=stage.ink, width=stage.line)
    for lx in (tx + tw * 0.1, tx + tw * 0.9):
        stage.draw.line((lx, ty + th, lx, stage.horizon + stage.h * 0.02), fill=stage.ink, width=stage.line)
    if "greenery" in stage.scene.features or stage.scene.place == "garden":
        _planters(stage, stage.horizon + (stage.h - stage.horizon) * 0.35, 3)


def _tree(stage: Stage, x: float, base: float, size: float) -> None:
    stage.draw.polygon([(x - size * 0.12, base), (x + size * 0.12, base), (x + size * 0.07, base - size * 1.1),
                        (x - size * 0.07, base - size * 1.1)], fill=grey(0.55), outline=stage.ink, width=stage.line)
    leaf = (132, 160, 122) if not stage.light.dark else (70, 86, 76)
    _cloud(stage, x, base - size * 1.3, size * 0.55, leaf)


def _garden(stage: Stage) -> None:
    _sky(stage)
    if "dome" in stage.scene.features:
        _dome(stage)
    _ground(stage, mix(stage.light.ground, (170, 190, 160), 0.35))
    # hedge along the horizon: a row of bumps
    hedge = (120, 146, 114) if not stage.light.dark else (60, 74, 66)
    r = stage.h * 0.04 * stage.props
    x = -r
    while x < stage.w + r:
        stage.draw.ellipse((x - r, stage.horizon - r * 1.4, x + r, stage.horizon + r * 0.2), fill=hedge, outline=stage.ink, width=stage.line)
        x += r * 1.3
    stage.draw.rectangle((0, stage.horizon - r * 0.4, stage.w, stage.horizon + r * 0.2), fill=hedge)
    stage.draw.line((0, stage.horizon + r * 0.2, stage.w, stage.horizon + r * 0.2), fill=stage.ink, width=stage.line)
    _tree(stage, stage.w * (0.12 if stage.vanish_x > stage.w / 2 else 0.86), stage.horizon + stage.h * 0.05, stage.h * 0.28 * stage.props)
    # flowers scattered on the near ground, bigger towards the viewer
    for i in range(14):
        t = (i + stage.rng.random()) / 14
        y = stage.horizon + (stage.h - stage.horizon) * (0.2 + 0.8 * t)
        fx = stage.rng.random() * stage.w
        fr = stage.h * 0.008 * (1 + 2 * t) * stage.props
        stage.draw.line((fx, y, fx, y + fr * 3), fill=stage.ink, width=stage.line)
        stage.draw.ellipse((fx - fr, y - fr, fx + fr, y + fr), fill=(236, 208, 214), outline=stage.ink, width=max(1, stage.line // 2 + 1))


def _dome(stage: Stage) -> None:
    """A great glass dome over the scene: an arc with ribs, drawn thin so it reads as glass."""
    cx, base = stage.w * 0.5, stage.horizon + stage.h * 0.1
    rx, ry = stage.w * 0.9, stage.h * 0.95 * max(0.6, stage.props)
    rib = mix(stage.light.sky_top, INK, 0.35)
    stage.draw.arc((cx - rx, base - ry, cx + rx, base + ry), 180, 360, fill=stage.ink, width=stage.line * 2)
    for f in (0.25, 0.55, 0.8):
        stage.draw.arc((cx - rx * f, base - ry, cx + rx * f, base + ry), 180, 360, fill=rib, width=stage.line)
    for f in (0.45, 0.75):
        stage.draw.arc((cx - rx, base - ry * f, cx + rx, base + ry * f), 200, 340, fill=rib, width=stage.line)


def _city(stage: Stage) -> None:
    _sky(stage)
    if "dome" in stage.scene.features:
        _dome(stage)
    _skyline(stage, stage.horizon, stage.h * 0.35 * stage.props, stage.light.far)
    _ground(stage, stage.light.ground, grid=True)
    lit: list[tuple[float, float]] = []
    _facades(stage, True, lit)
    for x, y in lit[:8]:
        paint_glow(stage.canvas, (x, y), stage.h * 0.05, LANTERN, 110)


def _school(stage: Stage) -> None:
    _sky(stage)
    _ground(stage, mix(stage.light.ground, PAPER, 0.25))
    s = stage.props
    top = stage.horizon - stage.h * 0.3 * s
    x0, x1 = stage.w * 0.08, stage.w * 0.92
    stage.draw.rectangle((x0, top, x1, stage.horizon), fill=mix(stage.light.wall, PAPER, 0.3), outline=stage.ink, width=stage.line * 2)
    for r in range(3):
        for c in range(10):
            wx = x0 + (x1 - x0) * (c + 0.2) / 10
            wy = top + (stage.horizon - top) * (r + 0.25) / 3.2
            lit = stage.light.lamps_lit and (c + r) % 3 == 0
            stage.draw.rectangle((wx, wy, wx + (x1 - x0) * 0.06, wy + (stage.horizon - top) * 0.17),
                                 fill=LANTERN if lit else grey(0.3), outline=stage.ink, width=max(1, stage.line // 2 + 1))
    # clock tower in the middle
    cx, tw = stage.w * 0.5, stage.w * 0.08
    stage.draw.rectangle((cx - tw, top - stage.h * 0.12 * s, cx + tw, top), fill=mix(stage.light.wall, PAPER, 0.3), outline=stage.ink,
                         width=stage.line * 2)
    r = tw * 0.6
    cy = top - stage.h * 0.06 * s
    stage.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=PAPER, outline=stage.ink, width=stage.line)
    stage.draw.line((cx, cy, cx, cy - r * 0.7), fill=stage.ink, width=stage.line)
    stage.draw.line((cx, cy, cx + r * 0.5, cy), fill=stage.ink, width=stage.line)
    _fence(stage, stage.horizon + (stage.h - stage.horizon) * 0.15, stage.horizon + (stage.h - stage.horizon) * 0.3)


def _sky_place(stage: Stage) -> None:
    stage.horizon = max(stage.horizon, stage.h * 0.9)
    _sky(stage)
    for i in range(3):
        size = stage.h * (0.07 + 0.05 * stage.rng.random())
        _cloud(stage, stage.w * (0.15 + 0.35 * i), stage.h * (0.25 + 0.4 * stage.rng.random()), size, (250, 250, 252))
    _skyline(stage, stage.h, stage.h - stage.horizon + stage.h * 0.04, stage.light.far)


def _outdoor(stage: Stage) -> None:
    _sky(stage)
    # rolling hills on the horizon, a path to the vanishing point and a lone tree
    for i in range(3):
        cx = stage.w * (0.15 + 0.35 * i + 0.1 * stage.rng.random())
        stage.draw.chord((cx - stage.w * 0.3, stage.horizon - stage.h * 0.08, cx + stage.w * 0.3, stage.horizon + stage.h * 0.08),
                         180, 360, fill=stage.light.far, outline=stage.ink, width=stage.line)
    _ground(stage, mix(stage.light.ground, (176, 190, 166), 0.25))
    stage.draw.polygon([(stage.vanish_x - stage.w * 0.01, stage.horizon), (stage.vanish_x + stage.w * 0.01, stage.horizon),
                        (stage.w * 0.75, stage.h), (stage.w * 0.35, stage.h)], fill=mix(stage.light.ground, PAPER, 0.45),
                       outline=stage.ink, width=stage.line)
    _tree(stage, stage.w * (0.15 if stage.vanish_x > stage.w / 2 else 0.85), stage.horizon + stage.h * 0.1, stage.h * 0.3 * stage.props)


def _interior(stage: Stage) -> None:
    _room(stage)


def _lantern_string(stage: Stage) -> None:
    """Paper lanterns hung on a sagging cord across the top, glowing after dark."""
    y0 = stage.h * 0.1
    points = [(stage.w * i / 8, y0 + stage.h * 0.05 * (1 - ((i - 4) / 4) ** 2)) for i in range(9)]
    stage.draw.line(points, fill=stage.ink, width=stage.line, joint="curve")
    r = stage.h * 0.035
    for x, y in points[1:-1]:
        if stage.light.lamps_lit:
            paint_glow(stage.canvas, (x, y + r * 1.3), r * 3.2, LANTERN, 140)
        stage.draw.ellipse((x - r * 0.8, y + r * 0.3, x + r * 0.8, y + r * 2.4), fill=(236, 120, 96) if stage.light.lamps_lit else (214, 120, 104),
                           outline=stage.ink, width=stage.line)
        for f in (0.9, 1.35, 1.8):
            stage.draw.line((x - r * 0.7, y + r * f, x + r * 0.7, y + r * f), fill=shade((236, 120, 96), 0.4), width=max(1, stage.line // 2))


_PLACES: dict[str, Callable[[Stage], None]] = {
    "room": _room, "interior": _interior, "hospital": _hospital, "shop": _shop, "workshop": _workshop,
    "classroom": _classroom, "school": _school, "street": _street, "sea": _sea, "rooftop": _rooftop,
    "garden": _garden, "city": _city, "sky": _sky_place, "outdoor": _outdoor,
}
