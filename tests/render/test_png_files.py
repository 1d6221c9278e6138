"""PNG files written with unfiltered rows (mangaflow.render.png_files): the pixels come back exactly in every
mode the pipeline writes, the file holds nothing but the picture, and every row's filter byte is 0."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw

from mangaflow.render.png_files import png_bytes


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    found, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body)
        found.append((kind, body))
        pos += 12 + length
    return found


def drawing(mode: str, size: tuple[int, int] = (301, 777)) -> Image.Image:
    """A picture with line art, a gradient and flat tones, more rows than one band (256)."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 7):
        draw.line((x, 0, size[0] - x, size[1]), fill=(x % 256, 40, 200), width=2)
    draw.ellipse((20, 20, 200, 300), fill=(30, 30, 30), outline=(250, 0, 0), width=5)
    for y in range(size[1] // 2, size[1]):
        draw.line((0, y, size[0] // 3, y), fill=(y % 256, y % 256, y % 256))
    if mode in ("RGBA", "LA"):
        image.putalpha(Image.linear_gradient("L").resize(size))
    return image.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1"])
def test_every_mode_comes_back_pixel_for_pixel(mode: str) -> None:
    image = drawing(mode)
    back = Image.open(io.BytesIO(png_bytes(image)))
    back.load()
    assert back.mode == mode and back.size == image.size
    assert back.tobytes() == image.tobytes()


def test_other_modes_are_written_as_rgb() -> None:
    image = drawing("RGB").convert("CMYK")
    back = Image.open(io.BytesIO(png_bytes(image)))
    assert back.mode == "RGB"
    assert back.tobytes() == image.convert("RGB").tobytes()


@pytest.mark.parametrize("mode,colour_type,channels", [("RGB", 2, 3), ("RGBA", 6, 4), ("L", 0, 1), ("LA", 4, 2)])
def test_rows_are_unfiltered_and_nothing_but_the_picture_is_written(mode: str, colour_type: int,
                                                                    channels: int) -> None:
    image = drawing(mode)
    image.info["icc_profile"] = b"not a profile"      # Pillow would copy this into an iCCP chunk
    image.info["dpi"] = (300, 300)
    found = chunks(png_bytes(image))
    assert [kind for kind, _ in found if kind != b"IDAT"] == [b"IHDR", b"IEND"]
    width, height, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", found[0][1])
    assert (width, height, depth, kind, interlace) == (image.width, image.height, 8, colour_type, 0)
    raw = zlib.decompress(b"".join(body for kind, body in found if kind == b"IDAT"))
    stride = 1 + width * channels
    assert len(raw) == stride * height
    assert {raw[row * stride] for row in range(height)} == {0}   # filter type None on every row


def test_same_pixels_give_the_same_bytes_and_a_higher_level_is_no_larger() -> None:
    image = drawing("RGB")
    other = drawing("RGB")
    other.info["icc_profile"] = b"x"
    assert png_bytes(image) == png_bytes(other)
    assert len(png_bytes(image, compress_level=9)) <= len(png_bytes(image, compress_level=1))
    stored = png_bytes(image, compress_level=0)
    assert Image.open(io.BytesIO(stored)).tobytes() == image.tobytes()
    assert len(stored) > image.width * image.height * 3


@pytest.mark.parametrize("level", [-1, 10, 3.0, True, "3", None])
def test_a_bad_level_is_refused_by_name(level: object) -> None:
    with pytest.raises(ValueError, match="compress_level must be an integer from 0 to 9"):
        png_bytes(Image.new("RGB", (2, 2)), compress_level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [(0, 5), (5, 0)])
def test_an_empty_image_is_refused(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="at least 1x1 pixels"):
        png_bytes(Image.new("RGB", size))


def test_a_one_pixel_image_and_a_band_boundary() -> None:
    for size in [(1, 1), (3, 256), (3, 257), (2, 512)]:
        image = drawing("RGB", size)
        assert Image.open(io.BytesIO(png_bytes(image))).tobytes() == image.tobytes()
