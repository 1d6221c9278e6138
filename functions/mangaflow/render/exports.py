"""Exports of finished pages: PNG per page, a print PDF (B5 at 300 dpi, right-to-left for
Japanese), a CBZ with ComicInfo.xml (schema v2.0), and small WebP previews for approval gates.

The PDF embeds each page's PNG data as-is (PNG's zlib stream with its row predictors is a valid
PDF FlateDecode stream), so a page is compressed once for both the PNG and the PDF.
"""
from __future__ import annotations

from mangaflow.errors import RenderError

import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import Literal, Sequence

from PIL import Image

PAPER_MM = {"B5": (182.0, 257.0), "A5": (148.0, 210.0), "B6": (128.0, 182.0), "A4": (210.0, 297.0)}
PNG_COMPRESS_LEVEL = 1   # pages are mostly flat tones and line art: level 1 is ~as small, far faster
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Direction = Literal["rtl", "ltr"]


class ExportError(RenderError):
    """Pages or metadata an export cannot be made from."""


def png_bytes(page: Image.Image) -> bytes:
    """A page as an 8-bit RGB PNG (the form the PDF writer can embed without re-encoding)."""
    buf = io.BytesIO()
    (page if page.mode == "RGB" else page.convert("RGB")).save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def preview_webp(image: Image.Image, max_side: int = 800) -> bytes:
    """A small WebP of a page for approval-gate previews."""
    if max_side < 16:
        raise ExportError(f"max_side must be at least 16 px, got {max_side}")
    small = image if image.mode == "RGB" else image.convert("RGB")
    factor = max(small.size) // (2 * max_side)
    if factor >= 2:
        small = small.reduce(factor)  # cheap box reduction first, then one proper resample
    scale = max_side / max(small.size)
    if scale < 1:
        small = small.resize((max(1, round(small.width * scale)), max(1, round(small.height * scale))),
                             Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "WEBP", quality=72, method=2)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# PDF


def _png_image_stream(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, colours, zlib data) of a non-interlaced 8-bit grey or RGB PNG."""
    if not png.startswith(_PNG_SIGNATURE):
        raise ExportError("page is not PNG data")
    pos, width, height, colours, idat = 8, 0, 0, 0, []
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if depth != 8 or colour_type not in (0, 2) or interlace:
                raise ExportError("page PNG must be 8-bit grey or RGB, not interlaced")
            colours = 1 if colour_type == 0 else 3
        elif kind == b"IDAT":
            idat.append(data)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if not width or not idat:
        raise ExportError("page PNG has no image data")
    return width, height, colours, b"".join(idat)


def _pdf_text(value: str) -> bytes:
    """A PDF text string: UTF-16BE with a byte-order mark, as hex, so any title is safe."""
    return b"<" + (b"\xfe\xff" + value.encode("utf-16-be")).hex().upper().encode() + b">"


def pdf_from_pngs(page_pngs: Sequence[bytes], *, dpi: int = 300, paper: str = "B5",
                  direction: Direction = "rtl", title: str = "") -> bytes:
    """A PDF with one page per PNG, each filling a `paper` sized page; deterministic bytes.
    /ViewerPreferences /Direction is /R2L for right-to-left books."""
    if not page_pngs:
        raise ExportError("a PDF needs at least one page")
    if paper not in PAPER_MM:
        raise ExportError(f"paper must be one of {sorted(PAPER_MM)}, got {paper!r}")
    if direction not in ("rtl", "ltr"):
        raise ExportError(f"direction must be 'rtl' or 'ltr', got {direction!r}")
    if not 72 <= dpi <= 1200:
        raise ExportError(f"dpi must be in 72..1200, got {dpi}")
    w_pt, h_pt = (mm / 25.4 * 72 for mm in PAPER_MM[paper])
    objects: list[bytes] = []  # objects[i] is object number i + 1

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled once the page tree exists
    pages_obj = add(b"")
    kids = []
    for index, png in enumerate(page_pngs):
        width, height, colours, data = _png_image_stream(png)
        if abs((width / height) - (w_pt / h_pt)) > 0.03 * (w_pt / h_pt):
            raise ExportError(f"page {index + 1} is {width}x{height} px, not the shape of {paper} paper")
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent 8"
            b" /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors %d /BitsPerComponent 8 /Columns %d >>"
            b" /Length %d >>\nstream\n" % (width, height, b"DeviceRGB" if colours == 3 else b"DeviceGray",
                                           colours, width, len(data)) + data + b"\nendstream")
        content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (w_pt, h_pt)
        contents = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f] /Resources << /XObject << /Im0 %d 0 R >> >>"
            b" /Contents %d 0 R >>" % (pages_obj, w_pt, h_pt, image, contents)))
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R /ViewerPreferences << /Direction /%s >> >>" % (
        pages_obj, b"R2L" if direction == "rtl" else b"L2R")
    info = add(b"<< /Title " + _pdf_text(title) + b" /Producer " + _pdf_text("Mangaflow") + b" >>")

    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, info, xref))
    return out.getvalue()


def pdf_bytes(pages: Sequence[Image.Image], *, dpi: int = 300, paper: str = "B5",
              direction: Direction = "rtl", title: str = "") -> bytes:
    """A PDF of page images (each encoded once as PNG and embedded); see pdf_from_pngs."""
    return pdf_from_pngs([png_bytes(p) for p in pages], dpi=dpi, paper=paper, direction=direction, title=title)


# ---------------------------------------------------------------------------------------------
# CBZ

# Element order of ComicInfo v2.0's xs:sequence (the schema rejects any other order).
_COMICINFO_ORDER = (
    "Title", "Series", "Number", "Count", "Volume", "AlternateSeries", "AlternateNumber", "AlternateCount",
    "Summary", "Notes", "Year", "Month", "Day", "Writer", "Penciller", "Inker", "Colorist", "Letterer",
    "CoverArtist", "Editor", "Publisher", "Imprint", "Genre", "Web", "PageCount", "LanguageISO", "Format",
    "BlackAndWhite", "Manga", "Characters", "Teams", "Locations", "ScanInformation", "StoryArc",
    "SeriesGroup", "AgeRating", "Pages", "CommunityRating", "MainCharacterOrTeam", "Review",
)
_MANGA_VALUES = ("Unknown", "No", "Yes", "YesAndRightToLeft")


def _png_size(png: bytes) -> tuple[int, int]:
    if not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ExportError("CBZ pages must be PNG data")
    return struct.unpack(">II", png[16:24])


def comicinfo_xml(comicinfo: dict, page_pngs: Sequence[bytes]) -> bytes:
    """ComicInfo.xml (schema v2.0) for the pages; text is XML-escaped by the serializer."""
    unknown = set(comicinfo) - set(_COMICINFO_ORDER)
    if unknown:
        raise ExportError(f"comicinfo has fields outside ComicInfo v2.0: {sorted(unknown)}")
    if comicinfo.get("Manga", "Unknown") not in _MANGA_VALUES:
        raise ExportError(f"comicinfo Manga must be one of {_MANGA_VALUES}, got {comicinfo['Manga']!r}")
    values = dict(comicinfo, PageCount=len(page_pngs))
    root = ET.Element("ComicInfo", {"xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
                                    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    for name in _COMICINFO_ORDER:
        if name == "Pages":
            pages = ET.SubElement(root, "Pages")
            for index, png in enumerate(page_pngs):
                width, height = _png_size(png)
                attrs = {"Image": str(index), "ImageSize": str(len(png)),
                         "ImageWidth": str(width), "ImageHeight": str(height)}
                if index == 0:
                    attrs["Type"] = "FrontCover"
                ET.SubElement(pages, "Page", attrs)
        elif values.get(name) not in (None, ""):
            ET.SubElement(root, name).text = _xml_safe(str(values[name]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_safe(text: str) -> str:
    """Drop control characters XML 1.0 cannot carry at all (escaping cannot save them)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def cbz_bytes(page_pngs: Sequence[bytes], comicinfo: dict) -> bytes:
    """A CBZ: pages 001.png... in reading order, then ComicInfo.xml; stored (PNG is already
    compressed) with fixed timestamps, so the same pages give the same bytes."""
    if not page_pngs:
        raise ExportError("a CBZ needs at least one page")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        entries = [(f"{i + 1:03d}.png", png) for i, png in enumerate(page_pngs)]
        entries.append(("ComicInfo.xml", comicinfo_xml(comicinfo, page_pngs)))
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buf.getvalue()
