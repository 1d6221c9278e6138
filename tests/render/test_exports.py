"""Exports: the PDF is B5 at 300 dpi with one page per image and reads right to left for
Japanese; the CBZ holds the pages and a valid, escaped ComicInfo.xml; both are deterministic."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pypdf
import pytest
from PIL import Image

from mangaflow.render.exports import (
    ExportError, cbz_bytes, pdf_bytes, pdf_from_pngs, png_bytes, preview_webp,
)


def pages(n=3):
    return [Image.new("RGB", (2150, 3035), (255 - 40 * i, 200, 40 * i)) for i in range(n)]


@pytest.fixture(scope="module")
def page_pngs():
    return [png_bytes(p) for p in pages()]


def test_pdf_has_a_b5_page_per_image_and_reads_right_to_left(page_pngs):
    reader = pypdf.PdfReader(io.BytesIO(pdf_from_pngs(page_pngs, direction="rtl", title="灯籠の夏")))
    assert len(reader.pages) == 3
    for page in reader.pages:
        box = page.mediabox
        assert float(box.width) == pytest.approx(182 / 25.4 * 72, abs=0.01)
        assert float(box.height) == pytest.approx(257 / 25.4 * 72, abs=0.01)
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == "/R2L"
    assert reader.metadata.title == "灯籠の夏"
    image = reader.pages[1].images[0].image
    assert image.size == (2150, 3035)
    # 2150 px across 182 mm is 300 dpi.
    assert image.size[0] / (182 / 25.4) == pytest.approx(300, abs=1)
    assert image.getpixel((10, 10)) == (215, 200, 40)  # the page data survives losslessly


def test_pdf_for_english_reads_left_to_right():
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes(pages(1), direction="ltr", title="Moss")))
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == "/L2R"


def test_pdf_title_with_pdf_syntax_is_safe():
    reader = pypdf.PdfReader(io.BytesIO(pdf_bytes(pages(1), title="a) /Evil (b \\ <<")))
    assert reader.metadata.title == "a) /Evil (b \\ <<"


def test_pdf_refuses_pages_of_the_wrong_shape():
    with pytest.raises(ExportError, match="shape of B5"):
        pdf_bytes([Image.new("RGB", (3000, 1000))])


def test_exports_are_deterministic(page_pngs):
    assert pdf_from_pngs(page_pngs, title="t") == pdf_from_pngs(page_pngs, title="t")
    info = {"Title": "t", "LanguageISO": "ja", "Manga": "YesAndRightToLeft"}
    assert cbz_bytes(page_pngs, info) == cbz_bytes(page_pngs, info)


def test_cbz_holds_pages_in_order_and_comicinfo(page_pngs):
    data = cbz_bytes(page_pngs, {"Title": "灯籠の夏", "Summary": "夏祭り", "LanguageISO": "ja",
                                 "Manga": "YesAndRightToLeft"})
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["001.png", "002.png", "003.png", "ComicInfo.xml"]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
    assert archive.read("002.png") == page_pngs[1]
    root = ET.fromstring(archive.read("ComicInfo.xml"))
    assert root.tag == "ComicInfo"
    assert root.findtext("Title") == "灯籠の夏"
    assert root.findtext("PageCount") == "3"
    assert root.findtext("Manga") == "YesAndRightToLeft"
    assert root.findtext("LanguageISO") == "ja"
    page_elems = root.find("Pages").findall("Page")
    assert [p.get("Image") for p in page_elems] == ["0", "1", "2"]
    assert page_elems[0].get("Type") == "FrontCover"
    assert page_elems[1].get("ImageSize") == str(len(page_pngs[1]))
    assert page_elems[1].get("ImageWidth") == "2150" and page_elems[1].get("ImageHeight") == "3035"
    # Schema v2.0 is an xs:sequence: Summary after Title, PageCount before LanguageISO before Manga before Pages.
    order = [child.tag for child in root]
    assert order.index("Title") < order.index("Summary") < order.index("PageCount") < order.index("LanguageISO") \
        < order.index("Manga") < order.index("Pages")


def test_story_text_that_looks_like_markup_is_escaped(page_pngs):
    evil = 'The <b>robot</b> & "Moss" </Summary><Manga>Yes</Manga>\x01'
    data = cbz_bytes(page_pngs[:1], {"Title": evil, "Summary": evil, "Manga": "No"})
    raw = zipfile.ZipFile(io.BytesIO(data)).read("ComicInfo.xml")
    assert b"<b>" not in raw and b"&lt;b&gt;" in raw
    root = ET.fromstring(raw)
    assert root.findtext("Summary") == evil.replace("\x01", "")
    assert root.findtext("Manga") == "No"
    assert len(root.findall("Manga")) == 1


def test_comicinfo_refuses_unknown_fields_and_values(page_pngs):
    with pytest.raises(ExportError, match="outside ComicInfo"):
        cbz_bytes(page_pngs, {"Tittle": "typo"})
    with pytest.raises(ExportError, match="Manga must be"):
        cbz_bytes(page_pngs, {"Manga": "Sideways"})


def test_preview_is_a_small_webp():
    data = preview_webp(pages(1)[0], max_side=800)
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    assert max(image.size) == 800 and image.size[1] > image.size[0]
