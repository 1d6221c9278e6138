"""Phase 7: the whole sample book is composed and exported, pages first to last, with
right-to-left reading marked for Japanese and the lettering checks at zero overflow."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pypdf
import pytest
from PIL import Image

from mangaflow.phases import phase7_finalize
from mangaflow.render.pages import panel_rects_px
from test_phase6_lettering import lettered, sample_story


def _art(storyboard):
    art = {}
    for page in storyboard["pages"]:
        for pid, (_, _, w, h) in panel_rects_px(page).items():
            art[pid] = Image.new("RGB", (w, h), (180, 190, 200))
    return art


@pytest.fixture(scope="module", params=["ja", "en"])
def book(request):
    language = request.param
    storyboard, images = sample_story(language, pages=3)
    phase6 = lettered(language, storyboard=storyboard, images=images)
    output, files = phase7_finalize.run(phase6, None, panel_images=_art(storyboard))
    return language, output, files


def test_files_are_named_for_the_lead_to_store(book):
    _, output, files = book
    assert set(files) == {"pages/001.png", "pages/002.png", "pages/003.png", "previews/001.webp",
                          "previews/002.webp", "previews/003.webp", "manga.pdf", "manga.cbz"}
    assert output["pages"] == [{"page": n, "file": f"pages/{n:03d}.png"} for n in (1, 2, 3)]
    assert output["exports"] == {"pdf": "manga.pdf", "cbz": "manga.cbz", "manifest": "manifest.json"}
    assert Image.open(io.BytesIO(files["pages/001.png"])).size == (2150, 3035)


def test_page_one_comes_first_and_direction_follows_the_language(book):
    language, _, files = book
    reader = pypdf.PdfReader(io.BytesIO(files["manga.pdf"]))
    assert len(reader.pages) == 3
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/Direction"] == ("/R2L" if language == "ja" else "/L2R")
    first = reader.pages[0].images[0].image
    assert first.tobytes() == Image.open(io.BytesIO(files["pages/001.png"])).convert("RGB").tobytes()
    archive = zipfile.ZipFile(io.BytesIO(files["manga.cbz"]))
    assert archive.read("001.png") == files["pages/001.png"]
    info = ET.fromstring(archive.read("ComicInfo.xml"))
    assert info.findtext("Manga") == ("YesAndRightToLeft" if language == "ja" else "No")
    assert info.findtext("LanguageISO") == language
    assert info.findtext("PageCount") == "3"


def test_quality_checks_report_lettering(book):
    _, output, _ = book
    checks = output["quality_checks"]
    assert checks["text_overflow"] == 0
    assert checks["quotes_lettered"] == 1.0
    for name in phase7_finalize.QUALITY_WEIGHTS:
        assert 0.0 <= checks[name] <= 1.0
    assert checks["overall"] == pytest.approx(sum(checks[k] * w for k, w in phase7_finalize.QUALITY_WEIGHTS.items()), abs=0.01)


def test_a_missing_quote_lowers_quotes_lettered():
    storyboard, images = sample_story("en", pages=1)
    phase6 = lettered("en", storyboard=storyboard, images=images)
    phase6["scenes"] = [{"scene_id": "s1", "beats": [
        {"kind": "dialogue", "text": "What are you doing?"}, {"kind": "dialogue", "text": "A line nobody lettered"}]}]
    assert phase7_finalize.quality_checks(phase6)["quotes_lettered"] == 0.5


def test_exports_are_deterministic_and_feedback_changes_the_format():
    storyboard, images = sample_story("ja", pages=1)
    phase6 = lettered("ja", storyboard=storyboard, images=images)
    art = _art(storyboard)
    _, a = phase7_finalize.run(phase6, None, panel_images=art)
    _, b = phase7_finalize.run(phase6, None, panel_images=art)
    assert a == b
    out, c = phase7_finalize.run(phase6, {"option": "format", "paper": "A5", "exports": ["pdf"]}, panel_images=art)
    assert "manga.cbz" not in c and "cbz" not in out["exports"]
    width = float(pypdf.PdfReader(io.BytesIO(c["manga.pdf"])).pages[0].mediabox.width)
    assert width == pytest.approx(148 / 25.4 * 72, abs=0.01)


def test_inputs_without_pages_are_refused_clearly():
    with pytest.raises(phase7_finalize.FinalizeError, match="pages"):
        phase7_finalize.run({"dialogue_placements": []}, None, panel_images={})
