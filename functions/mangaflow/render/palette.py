"""Colours of the storyboard look: paper, ink, screentone greys, sky light by time of day, and a
character's palette made safe (missing or malformed colours get a stable default from the id)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

RGB = tuple[int, int, int]

PAPER: RGB = (250, 248, 243)
INK: RGB = (30, 30, 36)
# Greys used as flat "screentone" fills; named by how much ink they carry.
TONE_LIGHT: RGB = (226, 225, 222)
TONE_MID: RGB = (188, 187, 186)
TONE_DARK: RGB = (120, 120, 126)
LANTERN: RGB = (255, 196, 110)

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")

# Defaults chosen from readable manga palettes; picked per character id so the same
# unnamed figure keeps one look across panels.
_DEFAULT_HAIR: tuple[RGB, ...] = ((52, 40, 36), (120, 72, 40), (200, 160, 90), (40, 44, 70), (150, 60, 50), (90, 90, 96))
_DEFAULT_OUTFIT: tuple[RGB, ...] = ((70, 100, 160), (170, 70, 80), (80, 130, 100), (200, 150, 70), (110, 80, 140), (90, 90, 100))
_DEFAULT_SKIN: tuple[RGB, ...] = ((250, 222, 200), (238, 200, 170), (205, 160, 125), (160, 115, 85))
_ROBOT_METAL: RGB = (178, 186, 192)


def stable_int(*parts: object) -> int:
    """A stable integer from any values (hashlib, so it does not change between runs like hash())."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def parse_colour(value: object, default: RGB) -> RGB:
    """'#rrggbb' / '#rgb' (or an (r, g, b) sequence) to a tuple; anything else gives `default`."""
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple(max(0, min(255, v)) for v in value)  # type: ignore[return-value]
    if not isinstance(value, str):
        return default
    match = _HEX.match(value.strip())
    if not match:
        return default
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend from a (t=0) to b (t=1)."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def shade(colour: RGB, amount: float) -> RGB:
    """Darken towards ink (amount > 0) or lighten towards paper (amount < 0)."""
    return mix(colour, INK, amount) if amount >= 0 else mix(colour, PAPER, -amount)


def luminance(colour: RGB) -> float:
    """Perceived brightness 0..255 (ITU-R 601 weights, the ones Pillow's 'L' conversion uses)."""
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def grey(level: float) -> RGB:
    """A neutral grey between paper (0.0) and ink (1.0)."""
    return mix(PAPER, INK, max(0.0, min(1.0, level)))


@dataclass(frozen=True)
class FigureColours:
    """Everything a figure is painted with, already derived (shadows, line colour)."""

    hair: RGB
    hair_shadow: RGB
    skin: RGB
    skin_shadow: RGB
    outfit: RGB
    outfit_shadow: RGB
    legs: RGB
    accent: RGB
    line: RGB = INK


def figure_colours(character: dict, *, robot: bool = False) -> FigureColours:
    """The character's palette with a stable default for every missing or malformed colour."""
    palette = character.get("palette") if isinstance(character.get("palette"), dict) else {}
    seed = stable_int(character.get("id", ""), character.get("name", ""))
    hair = parse_colour(palette.get("hair"), _DEFAULT_HAIR[seed % len(_DEFAULT_HAIR)])
    skin_default = _ROBOT_METAL if robot else _DEFAULT_SKIN[(seed >> 8) % len(_DEFAULT_SKIN)]
    skin = parse_colour(palette.get("skin"), skin_default)
    outfit = parse_colour(palette.get("outfit"), _DEFAULT_OUTFIT[(seed >> 16) % len(_DEFAULT_OUTFIT)])
    accent = parse_colour(palette.get("accent"), mix(outfit, (255, 230, 120), 0.6))
    return FigureColours(
        hair=hair,
        hair_shadow=shade(hair, 0.35),
        skin=skin,
        skin_shadow=shade(skin, 0.16),
        outfit=outfit,
        outfit_shadow=shade(outfit, 0.3),
        legs=shade(outfit, 0.55),
        accent=accent,
    )


@dataclass(frozen=True)
class Light:
    """How a time of day lights a scene: sky gradient, surfaces, and whether lamps glow."""

    sky_top: RGB
    sky_bottom: RGB
    wall: RGB
    floor: RGB
    ground: RGB
    far: RGB  # distant silhouettes (skyline, hills)
    ink_on_dark: RGB  # line colour that still reads on the darkest surfaces
    lamps_lit: bool
    dark: bool


def light_for(time_of_day: str, weather: str) -> Light:
    """Greys (with a faint tint, the only colour a background gets besides lamps) per time of day."""
    if time_of_day == "night":
        light = Light((34, 38, 58), (78, 84, 108), (120, 120, 132), (96, 96, 108), (70, 72, 84),
                      (46, 48, 64), (14, 14, 20), True, True)
    elif time_of_day == "evening":
        light = Light((150, 140, 160), (246, 206, 170), (214, 206, 200), (196, 188, 182), (176, 168, 160),
                      (120, 110, 120), INK, True, False)
    elif time_of_day == "dawn":
        light = Light((206, 210, 226), (250, 230, 222), (232, 230, 228), (216, 214, 212), (206, 204, 200),
                      (170, 172, 184), INK, False, False)
    else:
        light = Light((214, 222, 232), (250, 250, 248), (240, 238, 234), (222, 220, 216), (214, 212, 206),
                      (186, 190, 198), INK, False, False)
    if weather in ("rain", "storm"):
        # Overcast: pull the sky towards a flat grey, darker for a storm.
        target = (70, 72, 82) if weather == "storm" else (160, 162, 168)
        weight = 0.7 if weather == "storm" else 0.55
        light = Light(mix(light.sky_top, target, weight), mix(light.sky_bottom, target, weight * 0.8),
                      shade(light.wall, 0.08), shade(light.floor, 0.08), shade(light.ground, 0.12),
                      shade(light.far, 0.1), light.ink_on_dark, light.lamps_lit or weather == "storm",
                      light.dark or weather == "storm")
    return light
