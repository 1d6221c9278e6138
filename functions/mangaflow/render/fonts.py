"""Lettering fonts: Noto Sans JP / Noto Serif JP from the `pylopdf-fonts-jp` package, cached per size.

Sizes are pixels at 300 dpi (the page resolution); `MIN_FONT_PX` is the smallest size we letter at.
"""
from __future__ import annotations

from mangaflow.errors import RenderError

import functools
import importlib.resources
from pathlib import Path
from typing import Literal

from PIL import ImageFont, features

FontFamily = Literal["sans", "serif"]

# 26 px at 300 dpi is 6.2 pt: about the smallest dialogue size printed manga uses (furigana aside).
MIN_FONT_PX = 26
# Default sizes per bubble kind, px at 300 dpi (38 px = 9.1 pt, the usual B5 tankobon dialogue size).
DEFAULT_FONT_PX = {"speech": 38, "thought": 36, "shout": 46, "narration": 34, "sfx": 120}
MAX_FONT_PX = 200

_FONT_FILES = {"sans": "NotoSansJP-Regular.otf", "serif": "NotoSerifJP-Regular.otf"}
_FONT_PACKAGE = "pylopdf_fonts_jp"


class FontError(RenderError):
    """A font family or size outside what we letter with."""


def font_path(family: FontFamily) -> Path:
    """The .otf file of a family ("sans" or "serif"), inside the installed font package."""
    if family not in _FONT_FILES:
        raise FontError(f"font must be one of {sorted(_FONT_FILES)}, got {family!r}")
    path = Path(str(importlib.resources.files(_FONT_PACKAGE) / _FONT_FILES[family]))
    if not path.is_file():
        raise FontError(f"font file {path} is missing: reinstall pylopdf-fonts-jp")
    return path


@functools.lru_cache(maxsize=256)
def get_font(family: FontFamily, size_px: int) -> ImageFont.FreeTypeFont:
    """A FreeType font of the family at an integer pixel size (cached: loading costs ~5 ms)."""
    if not isinstance(size_px, int) or not 1 <= size_px <= MAX_FONT_PX:
        raise FontError(f"font_size_px must be an integer in 1..{MAX_FONT_PX}, got {size_px!r}")
    return ImageFont.truetype(str(font_path(family)), size_px)


def has_complex_layout() -> bool:
    """Whether Pillow has libraqm, which lets the font's own vertical forms (`vert`) be used."""
    return bool(features.check("raqm"))
