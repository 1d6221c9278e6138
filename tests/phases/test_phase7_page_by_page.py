"""Phase 7 page by page: each page and preview handed over as soon as it is drawn, at most `in_flight`
pages ahead of the last one stored; the PDF and CBZs written as pages come equal the whole-book exports of
the same pages; a failure midway hands over no export (and, against the real storage emulator, leaves the
export already stored under that name as it was)."""
from __future__ import annotations

import io
import threading
import uuid
import zipfile
from typing import BinaryIO

import pypdf
import pytest
from PIL import Image

from mangaflow.phases import phase7_finalize
from mangaflow.phases.phase7_finalize import FilesShelf, StoredShelf, assemble
from mangaflow.render.exports import cbz_bytes, pdf_from_pngs
from mangaflow.render.pages import page_text_runs, panel_rects_px
from test_phase6_lettering import lettered, sample_story


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add(self, kind: str, what: str) -> None:
        with self.lock:
            self.events.append((kind, what))


class LoggedArt(dict):
    """Panel art that notes which page asked for it (and can fail on one page)."""

    def __init__(self, art: dict, page_of: dict, log: Log, fail_on_page: int | None = None) -> None:
        super().__init__(art)
        self.page_of, self.log, self.fail_on_page = page_of, log, fail_on_page

    def __getitem__(self, panel_id: str) -> Image.Image:
        page = self.page_of[panel_id]
        if page == self.fail_on_page:
            raise RuntimeError(f"panel {panel_id} cannot be read")
        self.log.add("draw", f"{page:03d}")
        return super().__getitem__(panel_id)

    def get(self, panel_id: str, default=None):  # dict's own get would not come through __getitem__
        return self[panel_id] if panel_id in self else default


class LoggedShelf(FilesShelf):
    def __init__(self, log: Log) -> None:
        super().__init__()
        self.log = log

    def put(self, name: str, data: bytes) -> None:
        super().put(name, data)
        self.log.add("put", name)

    def put_file(self, name: str, file: BinaryIO) -> None:
        super().put_file(name, file)
        self.log.add("put_file", name)


@pytest.fixture(scope="module")
def book():
    storyboard, images = sample_story("ja", pages=4)
    phase6 = lettered("ja", storyboard=storyboard, images=images)
    art, page_of = {}, {}
    for page in storyboard["pages"]:
        for shade, (pid, (_, _, w, h)) in enumerate(panel_rects_px(page).items()):
            art[pid] = Image.new("RGB", (w, h), (150 + 20 * shade, 170, 200 - 10 * int(page["page"])))
            page_of[pid] = int(page["page"])
    return phase6, art, page_of


ALL = {"option": "format", "exports": ["pdf", "cbz", "cbz_clean"]}


def _run(book, in_flight: int, fail_on_page: int | None = None):
    phase6, art, page_of = book
    log = Log()
    shelf = LoggedShelf(log)
    output = assemble(phase6, ALL, panel_images=LoggedArt(art, page_of, log, fail_on_page), shelf=shelf,
                      in_flight=in_flight)
    return output, shelf.files, log.events


def test_one_page_in_flight_stores_each_page_before_the_next_is_drawn(book):
    _, files, events = _run(book, in_flight=1)
    assert list(dict.fromkeys(what for kind, what in events if kind == "draw")) == ["001", "002", "003", "004"]
    for n in range(2, 5):
        drawn = events.index(("draw", f"{n:03d}"))
        assert ("put", f"pages/{n - 1:03d}.png") in events[:drawn], f"page {n} drawn before page {n - 1} was stored"
        assert ("put", f"previews/{n - 1:03d}.webp") in events[:drawn]
    exports_at = min(i for i, (kind, _) in enumerate(events) if kind == "put_file")
    assert all(kind != "draw" for kind, _ in events[exports_at:]), "an export was stored before the last page"
    assert sorted(what for kind, what in events if kind == "put_file") == ["manga-clean.cbz", "manga.cbz", "manga.pdf"]


def test_without_the_clean_cbz_pages_are_still_stored_in_order(book):
    phase6, art, page_of = book
    log = Log()
    shelf = LoggedShelf(log)
    output = assemble(phase6, None, panel_images=LoggedArt(art, page_of, log), shelf=shelf, in_flight=1)
    for n in range(2, 5):
        assert ("put", f"pages/{n - 1:03d}.png") in log.events[:log.events.index(("draw", f"{n:03d}"))]
    assert sorted(name for kind, name in log.events if kind == "put_file") == ["manga.cbz", "manga.pdf"]
    assert output["exports"] == {"manifest": "manifest.json", "pdf": "manga.pdf", "cbz": "manga.cbz"}


def test_two_pages_in_flight_never_run_further_ahead(book):
    _, _, events = _run(book, in_flight=2)
    for n in range(3, 5):
        drawn = events.index(("draw", f"{n:03d}"))
        assert ("put", f"pages/{n - 2:03d}.png") in events[:drawn], f"page {n} drawn before page {n - 2} was stored"


def test_exports_made_page_by_page_equal_the_whole_book_exports(book):
    phase6, _, _ = book
    output, files, _ = _run(book, in_flight=2)
    pngs = [files[f"pages/{n:03d}.png"] for n in range(1, 5)]
    pages = sorted(phase6["pages"], key=lambda p: p["page"])
    placements = {p["panel_id"]: p["placements"] for p in phase6["dialogue_placements"]}
    layers = [page_text_runs(page, placements) for page in pages]
    title = phase6.get("story_context", {}).get("title") or "Mangaflow"
    assert files["manga.pdf"] == pdf_from_pngs(pngs, direction="rtl", title=title, text_layers=layers)
    reader = pypdf.PdfReader(io.BytesIO(files["manga.pdf"]))
    assert len(reader.pages) == 4 and any(page.extract_text().strip() for page in reader.pages)
    cbz = zipfile.ZipFile(io.BytesIO(files["manga.cbz"]))
    assert cbz.namelist() == ["001.png", "002.png", "003.png", "004.png", "ComicInfo.xml"]
    assert [cbz.read(f"{n:03d}.png") for n in range(1, 5)] == pngs
    clean = zipfile.ZipFile(io.BytesIO(files["manga-clean.cbz"]))
    assert clean.namelist() == cbz.namelist()
    assert all(clean.read(f"{n:03d}.png") != cbz.read(f"{n:03d}.png") for n in range(1, 5))  # lettering removed
    assert b"Pages without lettering." in clean.read("ComicInfo.xml")
    info = cbz.read("ComicInfo.xml")
    assert files["manga.cbz"] == cbz_bytes(pngs, _comicinfo_of(info))
    assert [e["page"] for e in output["pages_composed"]] == [1, 2, 3, 4]


def _comicinfo_of(xml: bytes) -> dict:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    return {child.tag: child.text for child in root if child.tag not in ("Pages", "PageCount")}


def test_a_failure_midway_hands_over_no_export(book):
    phase6, art, page_of = book
    log = Log()
    shelf = LoggedShelf(log)
    with pytest.raises(RuntimeError, match="cannot be read"):
        assemble(phase6, ALL, panel_images=LoggedArt(art, page_of, log, fail_on_page=3), shelf=shelf, in_flight=1)
    assert sorted(shelf.files) == ["pages/001.png", "pages/002.png", "previews/001.webp", "previews/002.webp"]
    assert not [what for kind, what in log.events if kind == "put_file"]


def test_a_failed_attempt_leaves_the_stored_export_intact_on_real_storage(book, services):
    from mangaflow.stores import objects

    phase6, art, page_of = book
    prefix = f"test/{uuid.uuid4().hex[:8]}/attempt-1"
    store = objects.object_store()
    before = b"%PDF-1.7 the version shown before"
    store.put_named("final_products", f"{prefix}/manga.pdf", before, "application/pdf")
    shelf = StoredShelf(store, prefix)
    with pytest.raises(RuntimeError, match="cannot be read"):
        assemble(phase6, ALL, panel_images=LoggedArt(art, page_of, Log(), fail_on_page=2), shelf=shelf, in_flight=1)
    assert store.get_bytes(f"gs://{store.bucket_name('final_products')}/{prefix}/manga.pdf") == before
    assert not store.exists(f"gs://{store.bucket_name('final_products')}/{prefix}/manga.cbz")
    # and a run that finishes replaces it with the whole book, pages stored under the prefix
    output = assemble(phase6, ALL, panel_images=art, shelf=shelf)
    stored = store.get_bytes(shelf.uris["manga.pdf"])
    assert len(pypdf.PdfReader(io.BytesIO(stored)).pages) == 4
    assert sorted(name for name in shelf.uris if name.startswith("pages/")) == [f"pages/{n:03d}.png" for n in range(1, 5)]
    assert zipfile.ZipFile(io.BytesIO(store.get_bytes(shelf.uris["manga.cbz"]))).namelist()[-1] == "ComicInfo.xml"
    assert output["exports"]["pdf"] == "manga.pdf"


def test_panel_art_decodes_only_what_a_page_asks_for():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(buffer, "PNG")
    art = phase7_finalize.PanelArt({"p1": buffer.getvalue(), "p2": b"not a png"})
    assert "p2" in art and "p3" not in art    # answered without decoding p2 (which would fail)
    assert art["p1"].size == (8, 6)
