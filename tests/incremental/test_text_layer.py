"""The PDF carries the lettering as real text over the art: pypdf extracts every line of the book
in reading order (pages, panels, bubbles; Japanese in vertical columns read right to left), and the
CBZ can also be made of the pages without lettering."""
from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pypdf
import pytest
from PIL import Image, ImageChops

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "phases"))  # the sample books of the phase tests

from mangaflow.hitl.intents import NotApplicable  # noqa: E402
from mangaflow.phases import phase7_finalize  # noqa: E402
from mangaflow.render.exports import ExportError, pdf_from_pngs, png_bytes  # noqa: E402
from mangaflow.render.lettering import TextRun  # noqa: E402
from mangaflow.render.pages import panel_rects_px  # noqa: E402
from test_phase6_lettering import lettered, sample_story  # noqa: E402


def squash(text: str) -> str:
    return "".join(text.split()).replace("\u2010", "")


def book_lines(phase6: dict) -> list[str]:
    """Every dialogue of the book in reading order: pages, then panels by reading_order."""
    lines = []
    for page in sorted(phase6["pages"], key=lambda p: p["page"]):
        for panel in sorted(page["panels"], key=lambda p: p["reading_order"]):
            lines += [d["text"] for d in panel.get("dialogues") or [] if d["text"].strip()]
    return lines


def assert_in_reading_order(extracted: str, lines: list[str]) -> None:
    """Each line is found whole (whitespace aside) after the one before it."""
    flat, at = squash(extracted), 0
    for line in lines:
        found = flat.find(squash(line), at)
        assert found >= 0, f"{line!r} not found after position {at} of the text layer: {flat[at:at + 120]!r}"
        at = found + len(squash(line))


def _art(storyboard):
    return {pid: Image.new("RGB", (w, h), (180, 190, 200))
            for page in storyboard["pages"] for pid, (_, _, w, h) in panel_rects_px(page).items()}


@pytest.fixture(scope="module", params=["ja", "en"])
def book(request):
    storyboard, images = sample_story(request.param, pages=3)
    phase6 = lettered(request.param, storyboard=storyboard, images=images)
    output, files = phase7_finalize.run(phase6, {"option": "format", "exports": ["pdf", "cbz", "cbz_clean"]},
                                        panel_images=_art(storyboard))
    return request.param, phase6, output, files


def test_pdf_text_extracts_to_every_line_in_reading_order(book):
    language, phase6, _, files = book
    reader = pypdf.PdfReader(io.BytesIO(files["manga.pdf"]))
    lines = book_lines(phase6)
    assert len(lines) >= 5
    assert_in_reading_order("\n".join(page.extract_text() for page in reader.pages), lines)
    # and page by page: each page holds exactly its own lines
    for page, pdf_page in zip(sorted(phase6["pages"], key=lambda p: p["page"]), reader.pages):
        assert_in_reading_order(pdf_page.extract_text(), book_lines({"pages": [page]}))


def test_japanese_is_vertical_text_read_right_to_left_english_horizontal(book):
    language, phase6, _, files = book
    reader = pypdf.PdfReader(io.BytesIO(files["manga.pdf"]))
    runs = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            runs.append((text, tm[4], tm[5], font.get("/Encoding") if font else None))

    reader.pages[0].extract_text(visitor_text=visit)
    assert runs
    assert {r[3] for r in runs} == {"/Identity-V" if language == "ja" else "/Identity-H"}
    # The columns of one multi-column Japanese bubble go leftwards; English lines go downwards.
    placement = next(p for panel in phase6["dialogue_placements"] for p in panel["placements"]
                     if len(p["lines"]) >= 2 and panel["panel_id"].startswith("p01"))
    first, second = (next(r for r in runs if squash(r[0]) == squash(line)) for line in placement["lines"][:2])
    if language == "ja":
        assert second[1] < first[1] and abs(second[2] - first[2]) < 1
    else:
        assert second[2] < first[2]


def test_text_layer_is_invisible_over_the_art(book):
    _, _, _, files = book
    page = pypdf.PdfReader(io.BytesIO(files["manga.pdf"])).pages[0]
    content = page.get_contents().get_data()
    assert b"3 Tr" in content and b"/Im0 Do" in content
    assert content.index(b"/Im0 Do") < content.index(b"3 Tr")  # text after (over) the art


def test_clean_cbz_has_the_art_without_lettering(book):
    language, phase6, output, files = book
    assert output["exports"]["cbz_clean"] == "manga-clean.cbz"
    lettered_zip = zipfile.ZipFile(io.BytesIO(files["manga.cbz"]))
    clean_zip = zipfile.ZipFile(io.BytesIO(files["manga-clean.cbz"]))
    assert clean_zip.namelist() == lettered_zip.namelist()
    info = ET.fromstring(clean_zip.read("ComicInfo.xml"))
    assert info.findtext("Notes") == "Pages without lettering."
    clean = Image.open(io.BytesIO(clean_zip.read("001.png"))).convert("RGB")
    full = Image.open(io.BytesIO(lettered_zip.read("001.png"))).convert("RGB")
    # the lettered page differs exactly where bubbles are; the clean one shows the flat art there
    box = ImageChops.difference(clean, full).getbbox()
    assert box is not None
    panel = next(p for p in phase6["dialogue_placements"] if p["placements"] and p["panel_id"].startswith("p01"))
    rect = panel_rects_px(next(p for p in phase6["pages"] if p["page"] == 1))[panel["panel_id"]]
    x, y, w, h = panel["placements"][0]["box"]
    centre = (round(rect[0] + (x + w / 2) * rect[2]), round(rect[1] + (y + h / 2) * rect[3]))
    assert clean.getpixel(centre) == (180, 190, 200)
    assert ImageChops.difference(clean, full).crop((rect[0], rect[1], rect[0] + rect[2], rect[1] + rect[3])).getbbox()


def test_clean_cbz_is_asked_for_in_words_and_kept_off_by_default(book):
    _, phase6, output, _ = book
    options = phase7_finalize._options({"option": "format", "text": "also a CBZ without lettering"},
                                       {"paper": "B5", "exports": ["pdf", "cbz"], "page_numbers": True})
    assert options["exports"] == ["pdf", "cbz", "cbz_clean"]
    assert phase7_finalize._options(None)["exports"] == ["pdf", "cbz"]
    with pytest.raises(phase7_finalize.FinalizeError, match="exports"):
        phase7_finalize._options({"option": "format", "exports": ["docx"]})
    with pytest.raises(phase7_finalize.FinalizeError, match="exports"):
        phase7_finalize._options({"option": "format", "exports": "pdf"})
    with pytest.raises(NotApplicable):
        phase7_finalize._options({"option": "format", "text": "nicer"})


def test_hostile_text_cannot_break_the_pdf():
    page = png_bytes(Image.new("RGB", (215, 303), (255, 255, 255)))
    nasty = "(\\) Tj ET BT /FH 99 Tf (x) Tj % \u0000 \U0001F600 )><"
    pdf = pdf_from_pngs([page], text_layers=[[TextRun(nasty, 10, 20, 12, False, 100), TextRun("縦書き", 50, 5, 12, True)]])
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert squash(nasty.replace("\U0001F600", "\ufffd").replace("\u0000", "")) in squash(text.replace("\u0000", ""))
    assert "縦書き" in squash(text)
    with pytest.raises(ExportError, match="text_layers"):
        pdf_from_pngs([page], text_layers=[])
