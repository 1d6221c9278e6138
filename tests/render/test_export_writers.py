"""The PDF and CBZ written page by page (PdfWriter, CbzWriter) to real files: the same bytes as the whole-book
functions, the page count checked at both ends, bad metadata refused before any page is written."""
from __future__ import annotations

import io
import tempfile
import zipfile

import pypdf
import pytest
from PIL import Image

from mangaflow.render.exports import CbzWriter, ExportError, PdfWriter, cbz_bytes, pdf_from_pngs, png_bytes
from mangaflow.render.lettering import TextRun


@pytest.fixture(scope="module")
def page_pngs() -> list[bytes]:
    return [png_bytes(Image.new("RGB", (430, 607), (40 * i, 90, 200 - 30 * i))) for i in range(4)]


LAYERS = [[TextRun("夏祭りの夜", 20, 30, 24, True)], [], [TextRun("Lanterns!", 50, 60, 20, False, 120)],
          [TextRun("また明日", 10, 10, 18, True), TextRun("See you", 100, 200, 18, False, 90)]]


def test_pdf_written_page_by_page_to_a_file_is_the_whole_book_pdf(page_pngs) -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"junk before")   # the writer's offsets count from where it starts
        start = file.tell()
        writer = PdfWriter(file, pages=4, direction="rtl", title="灯籠", text_layers=LAYERS)
        for png in page_pngs:
            writer.add_page(png)
        writer.close()
        file.seek(start)
        streamed = file.read()
    assert streamed == pdf_from_pngs(page_pngs, direction="rtl", title="灯籠", text_layers=LAYERS)
    reader = pypdf.PdfReader(io.BytesIO(streamed), strict=True)
    assert len(reader.pages) == 4
    assert "夏祭りの夜" in reader.pages[0].extract_text() and "Lanterns!" in reader.pages[2].extract_text()
    assert reader.pages[1].extract_text().strip() == ""
    for png, page in zip(page_pngs, reader.pages):
        assert page.images[0].image.tobytes() == Image.open(io.BytesIO(png)).convert("RGB").tobytes()


def test_pdf_page_count_is_held_to(page_pngs) -> None:
    writer = PdfWriter(io.BytesIO(), pages=2)
    writer.add_page(page_pngs[0])
    with pytest.raises(ExportError, match="opened for 2 pages but 1 were added"):
        writer.close()
    writer.add_page(page_pngs[1])
    with pytest.raises(ExportError, match="page 3 is one too many"):
        writer.add_page(page_pngs[2])
    with pytest.raises(ExportError, match="at least one page"):
        PdfWriter(io.BytesIO(), pages=0)
    with pytest.raises(ExportError, match="one entry per page"):
        PdfWriter(io.BytesIO(), pages=3, text_layers=LAYERS)
    with pytest.raises(ExportError, match="paper"):
        PdfWriter(io.BytesIO(), pages=1, paper="Letter")


def test_cbz_written_page_by_page_keeps_reading_order_and_bytes(page_pngs) -> None:
    info = {"Title": "灯籠の夏", "LanguageISO": "ja", "Manga": "YesAndRightToLeft"}
    with tempfile.TemporaryFile() as file:
        writer = CbzWriter(file, info)
        for png in page_pngs:
            writer.add_page(png)
        writer.close()
        file.seek(0)
        streamed = file.read()
    assert streamed == cbz_bytes(page_pngs, info)
    archive = zipfile.ZipFile(io.BytesIO(streamed))
    assert archive.namelist() == ["001.png", "002.png", "003.png", "004.png", "ComicInfo.xml"]
    assert [archive.read(f"{i + 1:03d}.png") for i in range(4)] == page_pngs
    assert b"<PageCount>4</PageCount>" in archive.read("ComicInfo.xml")


def test_cbz_refuses_bad_metadata_before_any_page_and_an_empty_book(page_pngs) -> None:
    out = io.BytesIO()
    with pytest.raises(ExportError, match="outside ComicInfo"):
        CbzWriter(out, {"Tittle": "typo"})
    assert out.getvalue() == b""
    with pytest.raises(ExportError, match="at least one page"):
        CbzWriter(io.BytesIO(), {"Title": "x"}).close()
    with pytest.raises(ExportError, match="PNG"):
        CbzWriter(io.BytesIO(), {"Title": "x"}).add_page(b"GIF89a not a png")
