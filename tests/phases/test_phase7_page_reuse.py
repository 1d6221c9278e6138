"""Phase 7 reuses a page whose inputs did not change (issue 12): every page records the content hash of what
it is made from (layout, its panels' art and lettering, size, direction, page numbers, the renderer); a later
attempt copies an earlier page with the same hash instead of composing it, and composes exactly the pages
whose inputs changed. The exports are the same bytes as if every page had been composed again."""
from __future__ import annotations

import copy
import io
import zipfile

import pypdf
import pytest
from PIL import Image

from mangaflow.phases.phase7_finalize import FilesShelf, assemble, page_key
from mangaflow.render.pages import panel_rects_px
from test_phase6_lettering import lettered, sample_story


class Earlier:
    """The pages of one earlier assembly, by their inputs_sha256 (what StoredPages reads from storage)."""

    def __init__(self, output: dict, files: dict[str, bytes], attempt: int = 1) -> None:
        self.pages = {e["inputs_sha256"]: (files[e["file"]], files[e["preview"]], attempt)
                      for e in output["pages_composed"]}
        self.asked: list[str] = []

    def find(self, key: str):
        self.asked.append(key)
        return self.pages.get(key)


class CountedArt(dict):
    """Panel art that counts which panels a composition asked for."""

    def __init__(self, art: dict) -> None:
        super().__init__(art)
        self.asked: list[str] = []

    def __getitem__(self, panel_id: str) -> Image.Image:
        self.asked.append(panel_id)
        return super().__getitem__(panel_id)

    def get(self, panel_id: str, default=None):
        return self[panel_id] if panel_id in self else default


@pytest.fixture(scope="module")
def book():
    storyboard, images = sample_story("ja", pages=4)
    phase6 = lettered("ja", storyboard=storyboard, images=images)
    art, art_ids, page_of = {}, {}, {}
    for page in storyboard["pages"]:
        for shade, (pid, (_, _, w, h)) in enumerate(panel_rects_px(page).items()):
            art[pid] = Image.new("RGB", (w, h), (150 + 20 * shade, 170, 200 - 10 * int(page["page"])))
            art_ids[pid] = f"gs://art/{pid}-v1.png"
            page_of[pid] = int(page["page"])
    first_shelf = FilesShelf()
    first = assemble(phase6, None, panel_images=art, shelf=first_shelf, art_ids=art_ids)
    return phase6, art, art_ids, page_of, first, first_shelf.files


def _again(book, phase6=None, art_ids=None, feedback=None):
    base, art, ids, _, first, files = book
    counted, shelf, earlier = CountedArt(art), FilesShelf(), Earlier(first, files)
    output = assemble(phase6 or base, feedback, panel_images=counted, shelf=shelf, art_ids=art_ids or ids,
                      earlier=earlier)
    return output, shelf.files, counted.asked


def _one_line_changed(phase6: dict, page_number: int) -> tuple[dict, str]:
    changed = copy.deepcopy(phase6)
    page = next(p for p in changed["pages"] if int(p["page"]) == page_number)
    panel_ids = {str(p["panel_id"]) for p in page["panels"]}
    target = next(p for p in changed["dialogue_placements"] if p["panel_id"] in panel_ids and p.get("placements"))
    target["placements"][0]["lines"] = ["直した台詞"]
    return changed, target["panel_id"]


def test_every_page_records_what_it_is_made_of_and_nothing_is_reused_the_first_time(book):
    _, _, _, _, first, _ = book
    keys = [e["inputs_sha256"] for e in first["pages_composed"]]
    assert len(keys) == 4 and len(set(keys)) == 4 and all(len(k) == 64 for k in keys)
    assert not any(e.get("reused_from") for e in first["pages_composed"])


def test_an_unchanged_book_composes_no_page_and_exports_the_same_bytes(book):
    _, _, _, _, _, files = book
    output, again, asked = _again(book)
    assert asked == [], "no panel art is read for a page that is reused"
    assert [e.get("reused_from") for e in output["pages_composed"]] == [1, 1, 1, 1]
    for name in ("manga.pdf", "manga.cbz", *(f"pages/{n:03d}.png" for n in range(1, 5)),
                 *(f"previews/{n:03d}.webp" for n in range(1, 5))):
        assert again[name] == files[name], name


def test_one_corrected_line_composes_only_its_page(book):
    phase6, _, _, page_of, _, files = book
    changed, panel_id = _one_line_changed(phase6, 2)
    output, again, asked = _again(book, phase6=changed)
    assert {page_of[p] for p in asked} == {2}, "only page 2's panels were decoded"
    assert [e.get("reused_from") for e in output["pages_composed"]] == [1, None, 1, 1]
    assert again["pages/002.png"] != files["pages/002.png"]
    assert all(again[f"pages/{n:03d}.png"] == files[f"pages/{n:03d}.png"] for n in (1, 3, 4))
    fresh = FilesShelf()
    assemble(changed, None, panel_images=book[1], shelf=fresh, art_ids=book[2])
    assert again["manga.pdf"] == fresh.files["manga.pdf"] and again["manga.cbz"] == fresh.files["manga.cbz"]
    text = pypdf.PdfReader(io.BytesIO(again["manga.pdf"])).pages[1].extract_text()
    assert "直した台詞" in text.replace("\n", "").replace(" ", "")


def test_new_art_for_one_panel_composes_only_the_page_showing_it(book):
    _, _, art_ids, page_of, _, _ = book
    panel_id = next(pid for pid, page in page_of.items() if page == 3)
    output, _, asked = _again(book, art_ids={**art_ids, panel_id: "gs://art/redrawn.png"})
    assert {page_of[p] for p in asked} == {3}
    assert [e.get("reused_from") for e in output["pages_composed"]] == [1, 1, None, 1]


def test_page_numbers_off_changes_every_page(book):
    output, _, _ = _again(book, feedback={"option": "final_touches", "page_numbers": False})
    assert not any(e.get("reused_from") for e in output["pages_composed"])


def test_a_clean_cbz_composes_every_page_and_keeps_its_lettering_off(book):
    output, again, asked = _again(book, feedback={"option": "format", "exports": ["pdf", "cbz", "cbz_clean"]})
    assert not any(e.get("reused_from") for e in output["pages_composed"]) and asked
    clean = zipfile.ZipFile(io.BytesIO(again["manga-clean.cbz"]))
    assert len([n for n in clean.namelist() if n.endswith(".png")]) == 4


def test_the_key_names_each_input(book):
    phase6, _, art_ids, _, _, _ = book
    page = phase6["pages"][0]
    placements = {p["panel_id"]: p.get("placements") for p in phase6["dialogue_placements"]}
    base = page_key(page, placements, art_ids, (2150, 3035), "rtl", True)
    assert base == page_key(copy.deepcopy(page), copy.deepcopy(placements), dict(art_ids), (2150, 3035), "rtl", True)
    panel_id = str(page["panels"][0]["panel_id"])
    others = [page_key(page, placements, art_ids, (2150, 3035), "ltr", True),
              page_key(page, placements, art_ids, (2150, 3035), "rtl", False),
              page_key(page, placements, art_ids, (1754, 2480), "rtl", True),
              page_key(page, placements, {**art_ids, panel_id: "gs://art/other.png"}, (2150, 3035), "rtl", True),
              page_key(page, {**placements, panel_id: [{"lines": ["x"]}]}, art_ids, (2150, 3035), "rtl", True)]
    assert base not in others and len(set(others)) == len(others)
    unrelated = next(pid for pid in art_ids if pid not in {str(p["panel_id"]) for p in page["panels"]})
    assert page_key(page, placements, {**art_ids, unrelated: "gs://art/other.png"}, (2150, 3035), "rtl", True) == base
