"""Procedural panel art: a clean storyboard drawing (ink, screentone greys, the characters' palette
colours) for each phase-5 panel description, plus character reference sheets. Deterministic."""
from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from mangaflow.render import png_files
from mangaflow.render.art_background import draw_background, make_stage
from mangaflow.render.art_effects import (HeadZone, Stroke, draw_mood_behind, draw_weather_behind, draw_weather_front, head_zone,
                                          indoor_flash, vignette_clear_of_heads)
from mangaflow.render.art_figure import draw_figure, pose_figure, resolve_figure
from mangaflow.render.art_scene import Placement, Scene, read_scene
from mangaflow.render.art_tones import CanvasDraw, vertical_gradient
from mangaflow.render.palette import INK, PAPER, TONE_LIGHT, grey, mix

VARIANTS = ("none", "simplified", "placeholder")
MIN_SIDE_PX, MAX_SIDE_PX = 16, 8192
# Drawn at twice the size and reduced: ImageDraw has no anti-aliasing, the box reduction gives it.
SUPERSAMPLE = 2
STORYBOARD_MARK = "storyboard"


def _check_size(size_px: object, field: str) -> tuple[int, int]:
    if (not isinstance(size_px, (tuple, list)) or len(size_px) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in size_px)
            or not all(MIN_SIDE_PX <= v <= MAX_SIDE_PX for v in size_px)):
        raise ValueError(f"{field} must be two integers (width, height) between {MIN_SIDE_PX} and {MAX_SIDE_PX} px; got {size_px!r}")
    return int(size_px[0]), int(size_px[1])


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no file on disk, so the same glyphs on every machine.
    return ImageFont.load_default(size=max(8, size))


def _characters_by_key(characters: list[dict]) -> dict[str, dict]:
    """Characters reachable by id and by name (staging sometimes carries the name)."""
    found: dict[str, dict] = {}
    for character in characters if isinstance(characters, list) else []:
        if not isinstance(character, dict):
            continue
        for key in (character.get("id"), character.get("name")):
            if isinstance(key, str) and key and key not in found:
                found[key] = character
    return found


def _back_to_front(placements: tuple[Placement, ...]) -> list[Placement]:
    # Smaller figures are further away; at equal size the one standing higher is further back.
    return sorted(placements, key=lambda p: (p.scale, p.y, p.x))


def _mark(image: Image.Image) -> None:
    """The small corner label that says this is a storyboard drawing, not a finished illustration."""
    size = max(8, round(image.height * 0.024))
    font = _font(size)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), STORYBOARD_MARK, font=font)
    pad = max(2, size // 3)
    x, y = image.width - (right - left) - pad * 2, image.height - (bottom - top) - pad * 2
    draw.rectangle((x - pad, y - pad + top, x + right - left + pad, y + bottom + pad), fill=PAPER)
    draw.text((x - left, y), STORYBOARD_MARK, fill=grey(0.55), font=font)


def _finish_mood(image: Image.Image, scene: Scene, zones: list[HeadZone]) -> Image.Image:
    """Whole-panel tonal shifts, done at final size where they are cheap. `zones` (final px) are the
    heads' clear zones, which the mystery vignette's dots leave alone."""
    if scene.mood == "sad":
        return Image.blend(image, Image.new("RGB", image.size, (70, 74, 92)), 0.14)
    if scene.mood == "mystery":
        image.paste(INK, (0, 0), vignette_clear_of_heads(image.size, zones))
        return image
    if scene.mood == "joy":
        return Image.blend(image, Image.new("RGB", image.size, (255, 252, 240)), 0.1)
    return image


def draw_panel(description: dict, characters: list[dict], size_px: tuple[int, int], *, style: str = "shojo",
               variant: str = "none") -> Image.Image:
    """The storyboard art of one panel, `size_px` (width, height), RGB.

    `variant` is phase 5's fallback ladder: "simplified" keeps the background and draws figures as
    flat silhouettes, "placeholder" is a clean labelled frame. Malformed description fields fall back
    to defaults; only a bad `size_px` or `variant` raises ValueError.
    """
    width, height = _check_size(size_px, "size_px")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    scene = read_scene(description)
    if variant == "placeholder":
        return _placeholder(scene, (width, height))

    canvas = Image.new("RGB", (width * SUPERSAMPLE, height * SUPERSAMPLE), PAPER)
    stage = make_stage(canvas, scene)
    draw_background(stage)
    placements = _back_to_front(scene.placements)
    focus = (placements[-1].x * canvas.width, placements[-1].y * canvas.height) if placements else (canvas.width / 2, canvas.height / 2)
    by_key = _characters_by_key(characters)
    cast = [(placement, by_key.get(placement.character_id) or {"id": placement.character_id}) for placement in placements]
    # Every head's clear zone, known before anything is drawn over the background.
    zones: list[HeadZone] = []
    for placement, character in cast:
        body = pose_figure(canvas.size, character, placement, scene.camera, style)
        zones.append(head_zone(body.hx, body.hy, body.head))
    # Layers, back to front: background (with the weather seen through windows), mood lines,
    # lightning and the rain that would touch a head, figures, then only the rain and snow clear of
    # the heads, and soft whole-panel washes.
    front: list[Stroke] = []
    if variant == "none":
        draw_mood_behind(canvas, scene, focus, stage.rng, stage.line)
        front = draw_weather_behind(canvas, scene, stage.rng, stage.line, zones)
    for placement, character in cast:
        draw_figure(canvas, character, placement, scene.camera, style, silhouette=variant == "simplified")
    if variant == "none":
        draw_weather_front(canvas, scene, front, stage.line)
    image = canvas.reduce(SUPERSAMPLE)
    # The supersampled canvas (76 MB for a full-height panel) is let go before the final-size washes, which
    # make two more final-size images: held to the end, it was a drawing's peak.
    del canvas, stage
    if variant == "none":
        image = indoor_flash(image, scene)
        image = _finish_mood(image, scene, [(x / SUPERSAMPLE, y / SUPERSAMPLE, r / SUPERSAMPLE) for x, y, r in zones])
    _mark(image)
    return image


def window_boxes(description: dict, size_px: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The window panes of the panel's background, (left, top, right, bottom) in panel pixels, shrunk
    to whole pixels inside the pane: indoors, the only places weather may be seen."""
    width, height = _check_size(size_px, "size_px")
    scene = read_scene(description)
    stage = make_stage(Image.new("RGB", (width * SUPERSAMPLE, height * SUPERSAMPLE), PAPER), scene)
    draw_background(stage)
    boxes = []
    for x0, y0, x1, y1 in stage.windows:
        box = (max(0, math.ceil(x0 / SUPERSAMPLE)), max(0, math.ceil(y0 / SUPERSAMPLE)),
               min(width, int(x1 // SUPERSAMPLE)), min(height, int(y1 // SUPERSAMPLE)))
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return boxes


def _placeholder(scene: Scene, size: tuple[int, int]) -> Image.Image:
    """A quiet frame that says which panel belongs here: used when even the simplified art fails."""
    width, height = size
    image = vertical_gradient(size, PAPER, TONE_LIGHT)
    draw = ImageDraw.Draw(image)
    line = max(1, round(min(size) / 250))
    inset = max(2, round(min(size) * 0.04))
    draw.rectangle((inset, inset, width - inset - 1, height - inset - 1), outline=grey(0.35), width=line)
    for a, b in (((inset, inset), (width - inset, height - inset)), ((width - inset, inset), (inset, height - inset))):
        draw.line((a, b), fill=grey(0.15), width=line)
    figures = len(scene.placements)
    lines = [f"panel {scene.panel_id}", f"{scene.camera.replace('_', ' ')} / {scene.place}"
             + (f" / {figures} figure{'s' if figures != 1 else ''}" if figures else ""), "storyboard placeholder"]
    font = _font(max(8, round(height * 0.045)))
    boxes = [draw.textbbox((0, 0), text, font=font) for text in lines]
    line_h = max(b[3] - b[1] for b in boxes) * 1.5
    y = height / 2 - line_h * len(lines) / 2
    for text, box in zip(lines, boxes):
        tw = box[2] - box[0]
        x = (width - tw) / 2
        draw.rectangle((x - line * 4, y - line * 2, x + tw + line * 4, y + line_h - line * 2), fill=PAPER)
        draw.text((x - box[0], y - box[1] + line), text, fill=mix(INK, PAPER, 0.2), font=font)
        y += line_h
    return image


def draw_character_sheet(character: dict, size_px: int = 512) -> Image.Image:
    """A square reference image of one character for phase 2: full figure facing front on a plain
    ground, a bust on the side, and palette swatches. No name is drawn (the sheet is language-free)."""
    if isinstance(size_px, bool) or not isinstance(size_px, int) or not MIN_SIDE_PX * 4 <= size_px <= MAX_SIDE_PX:
        raise ValueError(f"size_px must be an integer between {MIN_SIDE_PX * 4} and {MAX_SIDE_PX} px; got {size_px!r}")
    side = size_px * SUPERSAMPLE
    canvas = vertical_gradient((side, side), PAPER, TONE_LIGHT)
    draw = CanvasDraw(canvas)
    line = max(2, side // 300)
    floor_y = side * 0.9
    draw.line((side * 0.05, floor_y, side * 0.95, floor_y), fill=grey(0.4), width=line)
    figure = resolve_figure(character)
    character_id = figure.character_id
    # Full figure on the left: head placed so the feet meet the floor line whatever the proportions.
    probe = Placement(character_id, 0.32, 0.2, 1.0, "right", "smile")
    body = draw_figure(Image.new("RGB", (side, side)), character, probe, "wide", "shojo")
    span = body.feet_y - (body.hy - body.head * 0.6)
    scale = (floor_y - side * 0.1) / span
    head_y = (floor_y - (body.feet_y - body.hy) * scale) / side
    draw_figure(canvas, character, Placement(character_id, 0.32, head_y, scale, "right", "smile"), "wide", "shojo")
    # Bust on the right, in a frame, for the face details.
    bust_box = (int(side * 0.6), int(side * 0.08), int(side * 0.95), int(side * 0.55))
    bust = vertical_gradient((bust_box[2] - bust_box[0], bust_box[3] - bust_box[1]), PAPER, TONE_LIGHT)
    draw_figure(bust, character, Placement(character_id, 0.5, 0.4, 1.0, "left", "neutral"), "bust", "shojo")
    canvas.paste(bust, bust_box[:2])
    draw.rectangle(bust_box, outline=INK, width=line)
    # Palette swatches: hair, skin, outfit, accent.
    colours = figure.colours
    swatch = side * 0.07
    for i, colour in enumerate((colours.hair, colours.skin, colours.outfit, colours.accent)):
        x = side * 0.62 + i * swatch * 1.25
        y = side * 0.64
        draw.rectangle((x, y, x + swatch, y + swatch), fill=colour, outline=INK, width=line)
    image = canvas.reduce(SUPERSAMPLE)
    _mark(image)
    return image


def png_bytes(image: Image.Image, *, compress_level: int = 3) -> bytes:
    """PNG bytes that depend only on the pixels: no timestamp, text, ICC or EXIF chunks, rows unfiltered
    (`png_files`)."""
    return png_files.png_bytes(image, compress_level=compress_level)


def marked_picture(prompt: str, size_px: tuple[int, int], mark: str,
                   references: list[Image.Image] | tuple[Image.Image, ...] = ()) -> Image.Image:
    """A picture that is plainly not art, for stand-ins of an image model (the local Vertex AI stand-in,
    the latency simulator): a screentone sketch fixed by the prompt's hash, every reference image it was
    given shown as a thumbnail along the bottom (so what was sent is visible in what came back), and
    `mark` written across it. The first reference shows through (in page mode: the page's frames)."""
    import hashlib

    width, height = _check_size(tuple(int(v) for v in size_px), "size_px")
    seed = hashlib.sha256(prompt.encode("utf-8")).digest()
    image = Image.new("RGB", (width, height), PAPER)
    if references:  # the first reference shows through (in page mode it is the frame template)
        image = Image.blend(image, references[0].convert("RGB").resize((width, height)), 0.6)
    draw = ImageDraw.Draw(image)
    horizon = int(height * (0.45 + seed[0] / 255 * 0.25))
    step = max(6, min(width, height) // 60)
    for y in range(0, horizon, step):  # a dotted screentone above the horizon
        for x in range((y // step) % 2 * step // 2, width, step):
            draw.ellipse((x, y, x + step // 4 + 1, y + step // 4 + 1), fill=grey(0.7))
    draw.line((0, horizon, width, horizon), fill=INK, width=max(2, height // 250))
    thumbs = [r.convert("RGB") for r in references][:6]
    if thumbs:
        side = max(16, min(height // 5, width // (len(thumbs) + 1)))
        for k, thumb in enumerate(thumbs):
            small = thumb.copy()
            small.thumbnail((side, side))
            x, y = 8 + k * (side + 8), height - side - 8
            image.paste(small, (x, y))
            draw.rectangle((x - 2, y - 2, x + small.width + 1, y + small.height + 1), outline=INK, width=2)
    size = max(10, height // 12)  # the mark fits the middle 45 % of the width: it survives a crop to the panel
    while size > 10 and draw.textlength(mark, font=_font(size)) > width * 0.45:
        size -= 2
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), mark, font=font)
    x, y = (width - (right - left)) / 2, height * 0.08
    draw.rectangle((x - 6, y - 4, x + right - left + 6, y + bottom - top + 8), fill=PAPER, outline=INK, width=2)
    draw.text((x - left, y - top + 2), mark, fill=INK, font=font)
    return image
