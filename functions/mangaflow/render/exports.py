"""Exports of finished pages: PNG per page, a print PDF (B5 at 300 dpi, right-to-left for
Japanese), a CBZ with ComicInfo.xml (schema v2.0), and small WebP previews for approval gates.

The PDF embeds each page's PNG data as-is (PNG's zlib stream with its row predictors is a valid
PDF FlateDecode stream), so a page is compressed once for both the PNG and the PDF. Over the art it
lays the lettering as invisible text (render mode 3, the way scanned books carry OCR text): a Type 0
font with Identity-H (horizontal) or Identity-V (vertical writing, Japanese columns) whose CIDs are
the Unicode code points, and a ToUnicode map, so the text selects, searches and extracts in reading
order while the glyphs seen stay those drawn in the art.
"""
from __future__ import annotations

from mangaflow.errors import RenderError

import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import BinaryIO, Literal, Sequence

from PIL import Image

from mangaflow.render import png_files
from mangaflow.render.lettering import TextRun

PAPER_MM = {"B5": (182.0, 257.0), "A5": (148.0, 210.0), "B6": (128.0, 182.0), "A4": (210.0, 297.0)}
PNG_COMPRESS_LEVEL = 3   # unfiltered rows of flat tones and line art: level 3 is as fast as 1 and 15 % smaller
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Direction = Literal["rtl", "ltr"]


class ExportError(RenderError):
    """Pages or metadata an export cannot be made from."""


def png_bytes(page: Image.Image) -> bytes:
    """A page as an 8-bit RGB PNG (the form the PDF writer can embed without re-encoding)."""
    return png_files.png_bytes(page if page.mode == "RGB" else page.convert("RGB"), compress_level=PNG_COMPRESS_LEVEL)


def preview_webp(image: Image.Image, max_side: int = 800) -> bytes:
    """A small WebP of a page for approval-gate previews."""
    if max_side < 16:
        raise ExportError(f"max_side must be at least 16 px, got {max_side}")
    small = image if image.mode == "RGB" else image.convert("RGB")
    # A box reduction to within 2x of the size first (averages every pixel: no aliasing, and a page of
    # 2150x3035 takes about 26 ms instead of 56 ms for bilinear straight down), then one bilinear resample.
    factor = max(small.size) // max_side
    if factor >= 2:
        small = small.reduce(factor)
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


class PdfWriter:
    """A PDF written page by page to `out` (a file open for binary writing): each page's PNG data is
    embedded as it comes and can then be dropped, so a book never sits whole in memory. The page tree,
    catalog, info and cross-reference table follow the last page (close()); deterministic bytes.
    /ViewerPreferences /Direction is /R2L for right-to-left books. `text_layers` (one list of runs per
    page, in page pixels, in reading order; known before any page is drawn) become the pages'
    invisible text: the fonts' ToUnicode map needs every character of the book up front."""

    def __init__(self, out: BinaryIO, *, pages: int, dpi: int = 300, paper: str = "B5",
                 direction: Direction = "rtl", title: str = "",
                 text_layers: Sequence[Sequence[TextRun]] | None = None) -> None:
        if pages < 1:
            raise ExportError("a PDF needs at least one page")
        if paper not in PAPER_MM:
            raise ExportError(f"paper must be one of {sorted(PAPER_MM)}, got {paper!r}")
        if direction not in ("rtl", "ltr"):
            raise ExportError(f"direction must be 'rtl' or 'ltr', got {direction!r}")
        if not 72 <= dpi <= 1200:
            raise ExportError(f"dpi must be in 72..1200, got {dpi}")
        if text_layers is not None and len(text_layers) != pages:
            raise ExportError(f"text_layers must have one entry per page ({pages}), got {len(text_layers)}")
        self._out, self._pages, self._paper, self._direction, self._title = out, pages, paper, direction, title
        self._text_layers = text_layers
        self._w_pt, self._h_pt = (mm / 25.4 * 72 for mm in PAPER_MM[paper])
        self._start = out.tell()
        self._offsets: dict[int, int] = {}   # object number -> its offset from the header
        self._count = 0
        self._kids: list[int] = []
        self._out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        self._catalog = self._reserve()      # written once the page tree exists
        self._tree = self._reserve()
        self._fonts = _text_fonts(self._add, [run for layer in text_layers or [] for run in layer])

    def _reserve(self) -> int:
        self._count += 1
        return self._count

    def _add(self, body: bytes, number: int | None = None) -> int:
        number = number or self._reserve()
        self._offsets[number] = self._out.tell() - self._start
        self._out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        return number

    def add_page(self, png: bytes) -> None:
        """The next page, an 8-bit RGB or grey PNG of the paper's shape (its zlib data embedded as-is)."""
        index = len(self._kids)
        if index >= self._pages:
            raise ExportError(f"the PDF was opened for {self._pages} pages; page {index + 1} is one too many")
        width, height, colours, data = _png_image_stream(png)
        w_pt, h_pt = self._w_pt, self._h_pt
        if abs((width / height) - (w_pt / h_pt)) > 0.03 * (w_pt / h_pt):
            raise ExportError(f"page {index + 1} is {width}x{height} px, not the shape of {self._paper} paper")
        image = self._add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent 8"
            b" /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors %d /BitsPerComponent 8 /Columns %d >>"
            b" /Length %d >>\nstream\n" % (width, height, b"DeviceRGB" if colours == 3 else b"DeviceGray",
                                           colours, width, len(data)) + data + b"\nendstream")
        del data
        content = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (w_pt, h_pt)
        runs = self._text_layers[index] if self._text_layers else []
        if runs:
            content += b"\n" + _text_content(runs, w_pt / width, h_pt)
        contents = self._add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        font_resources = b" /Font << /FH %d 0 R /FV %d 0 R >>" % self._fonts if runs else b""
        self._kids.append(self._add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f] /Resources << /XObject << /Im0 %d 0 R >>%s >>"
            b" /Contents %d 0 R >>" % (self._tree, w_pt, h_pt, image, font_resources, contents)))

    def close(self) -> None:
        """The page tree, catalog, info and cross-reference table; every page must have been added."""
        if len(self._kids) != self._pages:
            raise ExportError(f"the PDF was opened for {self._pages} pages but {len(self._kids)} were added")
        self._add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % k for k in self._kids), len(self._kids)), self._tree)
        self._add(b"<< /Type /Catalog /Pages %d 0 R /ViewerPreferences << /Direction /%s >> >>" % (
            self._tree, b"R2L" if self._direction == "rtl" else b"L2R"), self._catalog)
        info = self._add(b"<< /Title " + _pdf_text(self._title) + b" /Producer " + _pdf_text("Mangaflow") + b" >>")
        xref = self._out.tell() - self._start
        self._out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (self._count + 1))
        for number in range(1, self._count + 1):
            self._out.write(b"%010d 00000 n \n" % self._offsets[number])
        self._out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            self._count + 1, self._catalog, info, xref))


def pdf_from_pngs(page_pngs: Sequence[bytes], *, dpi: int = 300, paper: str = "B5",
                  direction: Direction = "rtl", title: str = "",
                  text_layers: Sequence[Sequence[TextRun]] | None = None) -> bytes:
    """A PDF with one page per PNG, each filling a `paper` sized page (PdfWriter, in memory)."""
    out = io.BytesIO()
    writer = PdfWriter(out, pages=len(page_pngs), dpi=dpi, paper=paper, direction=direction, title=title,
                       text_layers=text_layers)
    for png in page_pngs:
        writer.add_page(png)
    writer.close()
    return out.getvalue()


def _cids(text: str) -> bytes:
    """A run's text as 2-byte CIDs (its UTF-16 code units: characters outside the BMP become
    U+FFFD, which the fonts here cannot address)."""
    return "".join(ch if ord(ch) <= 0xFFFF else "\ufffd" for ch in text).encode("utf-16-be")


def _to_unicode_cmap(chars: Sequence[str]) -> bytes:
    """A ToUnicode CMap mapping each CID used to the character it stands for."""
    entries = [b"<%04X> <%04X>" % (ord(ch), ord(ch)) for ch in chars]
    blocks = [b"%d beginbfchar\n" % len(entries[i:i + 100]) + b"\n".join(entries[i:i + 100]) + b"\nendbfchar"
              for i in range(0, len(entries), 100)]
    return (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Mangaflow-UCS def\n/CMapType 2 def\n"
            b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + b"\n".join(blocks)
            + b"\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend")


def _text_fonts(add, runs: Sequence[TextRun]) -> tuple[int, int]:
    """The two Type 0 fonts of the text layer (horizontal, vertical) over one CID font; never
    painted (render mode 3), so no glyphs are embedded."""
    if not runs:
        return 0, 0
    chars = sorted({ch for run in runs for ch in _cids(run.text).decode("utf-16-be")})
    cmap = zlib.compress(_to_unicode_cmap(chars))
    to_unicode = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(cmap) + cmap + b"\nendstream")
    descriptor = add(b"<< /Type /FontDescriptor /FontName /MangaflowText /Flags 4 /FontBBox [0 -120 1000 880]"
                     b" /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>")
    cid_font = add(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /MangaflowText /CIDSystemInfo"
                   b" << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor %d 0 R"
                   b" /DW 1000 /DW2 [880 -1000] /CIDToGIDMap /Identity >>" % descriptor)
    return tuple(add(b"<< /Type /Font /Subtype /Type0 /BaseFont /MangaflowText /Encoding /%s"
                     b" /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (encoding, cid_font, to_unicode))
                 for encoding in (b"Identity-H", b"Identity-V"))


def _text_content(runs: Sequence[TextRun], scale: float, h_pt: float) -> bytes:
    """The content stream of one page's text layer: each run its own BT..ET in reading order, at
    its page position (pixels to points by `scale`, y flipped); horizontal runs squeezed (Tz) to
    the drawn line's width so a selection covers what the reader sees."""
    out = [b"q 3 Tr"]
    for run in runs:
        size = run.size_px * scale
        x, y = run.x * scale, h_pt - run.y * scale
        text = _cids(run.text)
        if run.vertical:
            out.append(b"BT /FV %.2f Tf 100 Tz 1 0 0 1 %.2f %.2f Tm <%s> Tj ET" % (size, x, y, text.hex().encode()))
        else:
            natural = size * len(text) / 2
            squeeze = max(1.0, min(400.0, 100.0 * run.width_px * scale / natural)) if natural else 100.0
            out.append(b"BT /FH %.2f Tf %.2f Tz 1 0 0 1 %.2f %.2f Tm <%s> Tj ET" % (
                size, squeeze, x, y, text.hex().encode()))
    out.append(b"Q")
    return b"\n".join(out)


def pdf_bytes(pages: Sequence[Image.Image], *, dpi: int = 300, paper: str = "B5",
              direction: Direction = "rtl", title: str = "",
              text_layers: Sequence[Sequence[TextRun]] | None = None) -> bytes:
    """A PDF of page images (each encoded once as PNG and embedded); see pdf_from_pngs."""
    return pdf_from_pngs([png_bytes(p) for p in pages], dpi=dpi, paper=paper, direction=direction, title=title,
                         text_layers=text_layers)


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
    return _comicinfo(comicinfo, [(len(png), *_png_size(png)) for png in page_pngs])


def _comicinfo(comicinfo: dict, pages: Sequence[tuple[int, int, int]]) -> bytes:
    """ComicInfo.xml from each page's (bytes, width, height)."""
    unknown = set(comicinfo) - set(_COMICINFO_ORDER)
    if unknown:
        raise ExportError(f"comicinfo has fields outside ComicInfo v2.0: {sorted(unknown)}")
    if comicinfo.get("Manga", "Unknown") not in _MANGA_VALUES:
        raise ExportError(f"comicinfo Manga must be one of {_MANGA_VALUES}, got {comicinfo['Manga']!r}")
    values = dict(comicinfo, PageCount=len(pages))
    root = ET.Element("ComicInfo", {"xmlns:xsd": "http://www.w3.org/2001/XMLSchema",
                                    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    for name in _COMICINFO_ORDER:
        if name == "Pages":
            element = ET.SubElement(root, "Pages")
            for index, (size, width, height) in enumerate(pages):
                attrs = {"Image": str(index), "ImageSize": str(size),
                         "ImageWidth": str(width), "ImageHeight": str(height)}
                if index == 0:
                    attrs["Type"] = "FrontCover"
                ET.SubElement(element, "Page", attrs)
        elif values.get(name) not in (None, ""):
            ET.SubElement(root, name).text = _xml_safe(str(values[name]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_safe(text: str) -> str:
    """Drop control characters XML 1.0 cannot carry at all (escaping cannot save them)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


class CbzWriter:
    """A CBZ written page by page to `out` (a seekable binary file): pages 001.png... in reading
    order, then ComicInfo.xml (close()); stored (PNG is already compressed) with fixed timestamps,
    so the same pages give the same bytes. The metadata (check it before the first page) is
    validated at once, so a bad field fails before any page is drawn."""

    def __init__(self, out: BinaryIO, comicinfo: dict) -> None:
        _comicinfo(comicinfo, [])
        self._comicinfo = comicinfo
        self._archive = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED)
        self._pages: list[tuple[int, int, int]] = []

    def _write(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_STORED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        self._archive.writestr(info, data)

    def add_page(self, png: bytes) -> None:
        self._pages.append((len(png), *_png_size(png)))
        self._write(f"{len(self._pages):03d}.png", png)

    def close(self) -> None:
        if not self._pages:
            raise ExportError("a CBZ needs at least one page")
        self._write("ComicInfo.xml", _comicinfo(self._comicinfo, self._pages))
        self._archive.close()

    def discard(self) -> None:
        """Let go of an unfinished CBZ (its file is being thrown away); nothing once closed."""
        if self._archive.fp is not None:
            self._archive.close()


def cbz_bytes(page_pngs: Sequence[bytes], comicinfo: dict) -> bytes:
    """A CBZ of the pages (CbzWriter, in memory)."""
    if not page_pngs:
        raise ExportError("a CBZ needs at least one page")
    buf = io.BytesIO()
    writer = CbzWriter(buf, comicinfo)
    for png in page_pngs:
        writer.add_page(png)
    writer.close()
    return buf.getvalue()
