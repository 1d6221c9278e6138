"""PNG files of the pictures the pipeline makes (panels, reference sheets, pages), written by pypng with
every row unfiltered.

Pillow's PNG encoder tries the five row filters on every row and keeps the best, which costs more than the
deflate after it, and its decoder undoes the filter again whenever a page reads its panels back. Panels and
pages are line art and flat tones, whose unfiltered rows deflate as small or smaller: a book's panel
(1828x1667) is 12.9 ms to write instead of 29.5 ms at 177 KB instead of 188 KB, and 15 ms to read instead of
30; a B5 page (2150x3035) 56 ms instead of 118 ms at 686 KB instead of 802 KB (bench/RESULTS.md, "All cores").
The bytes depend only on the pixels: IHDR, IDAT and IEND, no timestamp, text, ICC or EXIF chunk.
"""
from __future__ import annotations

import io
from typing import Iterator

import png  # pypng
from PIL import Image

# Pillow modes pypng writes: (greyscale, alpha), all 8 bits a sample.
_PLAIN = {"RGB": (False, False), "RGBA": (False, True), "L": (True, False), "LA": (True, True)}
_BAND_ROWS = 256   # rows packed at a time: a page's raw bytes never sit whole in memory beside the page


def png_bytes(image: Image.Image, *, compress_level: int = 3) -> bytes:
    """The image as PNG bytes. RGB, RGBA, L and LA are written unfiltered by pypng; palette and 1-bit
    images by Pillow (whose palette and bit packing pypng would need spelled out); any other mode as RGB."""
    if isinstance(compress_level, bool) or not isinstance(compress_level, int) or not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be an integer from 0 to 9; got {compress_level!r}")
    if image.width < 1 or image.height < 1:
        raise ValueError(f"a PNG needs at least 1x1 pixels; got {image.width}x{image.height}")
    if image.mode in ("P", "1"):
        buffer = io.BytesIO()
        # icc_profile=None stops Pillow copying a profile from image.info; no pnginfo means no text chunks.
        image.save(buffer, format="PNG", compress_level=compress_level, optimize=False, icc_profile=None)
        return buffer.getvalue()
    clean = image if image.mode in _PLAIN else image.convert("RGB")
    greyscale, alpha = _PLAIN[clean.mode]
    writer = png.Writer(clean.width, clean.height, greyscale=greyscale, alpha=alpha, bitdepth=8,
                        compression=compress_level)
    buffer = io.BytesIO()
    writer.write_packed(buffer, _rows(clean))
    return buffer.getvalue()


def _rows(image: Image.Image) -> Iterator[memoryview]:
    """The image's rows as packed bytes, a band of rows at a time."""
    stride = image.width * len(image.getbands())
    for top in range(0, image.height, _BAND_ROWS):
        bottom = min(image.height, top + _BAND_ROWS)
        band = memoryview(image.crop((0, top, image.width, bottom)).tobytes())
        for row in range(bottom - top):
            yield band[row * stride:(row + 1) * stride]
