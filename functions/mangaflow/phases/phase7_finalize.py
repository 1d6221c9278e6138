"""Phase 7, final assembly: compose every page (art, lettering, borders), export PNG pages, a
B5 300 dpi PDF and a CBZ (right-to-left for Japanese), WebP previews, and the final quality checks.

Each page and its preview is stored as soon as it is drawn; the PDF and CBZs are written page by page to
temporary files and stored once complete, so the book is never whole in memory (`assemble`, `Shelf`).
The PDF carries the lettering as an invisible text layer over the art (selectable, extractable in
reading order, vertical for Japanese); "cbz_clean" adds a CBZ of the pages without lettering.
Feedback: {"option": "format", "paper": "B5"|"A5"|"B6"|"A4", "exports": ["pdf", "cbz", "cbz_clean"]} (or the paper
as the option's "value", or named in the person's words: "make it A5", "a CBZ without lettering"), {"option": "final_touches", "page_numbers":
false} (alone: page numbers switched off, or on again). The options in force are kept in the output
(`finish_options`), and a modification starts from those of the version shown at the gate.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pathlib
import re
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO, Mapping, Protocol

from PIL import Image, ImageOps

from mangaflow.config import settings
from mangaflow.errors import NotFound, RenderError
from mangaflow.hitl.intents import NotApplicable
from mangaflow.logs import log_event
from mangaflow.render.exports import PAPER_MM, CbzWriter, PdfWriter, png_bytes, preview_webp
from mangaflow.render.lettering import measure_lettering, quotes_lettered
from mangaflow.render.pages import PAGE_SIZE_PX, compose_page, page_text_runs

from .registry import Phase, PhaseContext, register

EXPORT_KINDS = ("pdf", "cbz", "cbz_clean")   # cbz_clean: the pages without lettering (art for re-lettering)
_CLEAN_WORDS = re.compile(r"without (the )?(lettering|text|bubbles)|no (lettering|text)|clean|文字なし|写植なし", re.I)
QUALITY_WEIGHTS = {"visual_consistency": 0.25, "narrative_coherence": 0.20, "technical_quality": 0.15,
                   "readability": 0.15, "pacing": 0.10, "character_development": 0.10, "artistic_appeal": 0.05}


class FinalizeError(RenderError):
    """Inputs phase 7 cannot assemble (names the field and what was expected)."""


class Shelf(Protocol):
    """Where phase 7 puts each file as soon as it is finished: a page and its preview right after the
    page is drawn, an export once its last page is in (from a temporary file, never whole in memory)."""

    def put(self, name: str, data: bytes) -> None: ...
    def put_file(self, name: str, file: BinaryIO) -> None: ...
    def adopt(self, name: str, uri: str) -> None: ...   # a file already stored under its name (a page call's)


class EarlierPages(Protocol):
    """Pages an earlier attempt composed, by the content hash of what each was made from (`page_key`)."""

    def find(self, key: str) -> tuple[bytes, bytes, int] | None: ...   # (page PNG, its preview, attempt)


class PagesAhead(Protocol):
    """Pages composed before `collect` and already stored, by `page_key`: by this attempt's `page` calls, under
    the attempt's names, or by phase 5 as their panels arrived (`made_with_panels` true)."""

    def find(self, key: str) -> tuple[bytes, str, str, bool] | None: ...   # (PNG, its URI, preview's URI, by phase 5)


# What a page's pixels depend on besides its inputs: the code that composes, letters and encodes it. A change
# to any of these files makes every page's key new, so no page drawn by older code is ever reused.
_RENDERER = hashlib.sha256(b"".join(
    (pathlib.Path(__file__).parent.parent / "render" / name).read_bytes()
    for name in ("pages.py", "lettering.py", "typesetting.py", "fonts.py", "exports.py"))).hexdigest()


def page_key(page: dict, placements_by_panel: Mapping[str, Any], art_ids: Mapping[str, str],
             page_size: tuple, direction: str, page_numbers: bool) -> str:
    """The content hash of exactly what a finished page is made from: its layout and panels, the lettering
    of its panels, each panel's art (its content-addressed URI), the page size, direction, page numbers
    and the renderer. Two pages with the same key have the same pixels."""
    panel_ids = [str(p.get("panel_id")) for p in page.get("panels", [])]
    made_of = {"renderer": _RENDERER, "page": page, "size": list(page_size), "direction": direction,
               "page_numbers": page_numbers, "art": {pid: art_ids.get(pid) for pid in panel_ids},
               "lettering": {pid: placements_by_panel.get(pid) for pid in panel_ids}}
    return hashlib.sha256(json.dumps(made_of, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class FilesShelf:
    """The files as bytes by name (tests, benchmarks, callers without storage)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.adopted: dict[str, str] = {}

    def put(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def put_file(self, name: str, file: BinaryIO) -> None:
        file.seek(0)
        self.files[name] = file.read()

    def adopt(self, name: str, uri: str) -> None:
        self.adopted[name] = uri


def run(inputs: dict, feedback: dict | None, provider: Any = None, *,
        panel_images: Mapping[str, Image.Image], previous: dict | None = None) -> tuple[dict, dict[str, bytes]]:
    """Compose and export the book, the files returned as bytes by name (see assemble)."""
    shelf = FilesShelf()
    output = assemble(inputs, feedback, panel_images=panel_images, previous=previous, shelf=shelf)
    return output, shelf.files


@dataclass(frozen=True)
class Book:
    """What every page of the book is composed with: the lettered storyboard (phase 6), its pages in order, the
    reading direction, page size and the finishing options in force (from the feedback and the version shown)."""

    lettering: dict
    pages: list
    context: dict
    language: str
    direction: str
    title: str
    page_size: tuple
    options: dict
    placements_by_panel: dict
    ordered: list

    @classmethod
    def of(cls, inputs: dict, feedback: dict | None, previous: dict | None = None) -> "Book":
        lettering = inputs.get("lettering") if isinstance(inputs.get("lettering"), dict) and "pages" in inputs["lettering"] else inputs
        pages = lettering.get("pages")
        if not isinstance(pages, list) or not pages:
            raise FinalizeError("inputs must carry the storyboard's 'pages' (a non-empty list) from phase 6")
        context = lettering.get("story_context") or {}
        language = lettering.get("language") or context.get("language") or (inputs.get("request") or {}).get("language") or "ja"
        return cls(lettering=lettering, pages=pages, context=context, language=language,
                   direction=lettering.get("reading_direction") or ("rtl" if language == "ja" else "ltr"),
                   title=(inputs.get("request") or {}).get("title") or context.get("title") or "Mangaflow",
                   page_size=tuple(lettering.get("page_size_px") or PAGE_SIZE_PX),
                   options=_options(feedback, (previous or {}).get("finish_options")),
                   placements_by_panel={p["panel_id"]: p.get("placements", []) for p in lettering.get("dialogue_placements", [])},
                   ordered=sorted(pages, key=lambda p: int(p.get("page", 0))))

    def key(self, page: dict, art_ids: Mapping[str, str]) -> str:
        return page_key(page, self.placements_by_panel, art_ids, self.page_size, self.direction,
                        self.options["page_numbers"])

    def compose(self, page: dict, art: Mapping[str, Image.Image], lettered: bool = True) -> Image.Image:
        return compose_page(page, art, self.placements_by_panel if lettered else {}, page_size_px=self.page_size,
                            direction=self.direction, page_numbers=self.options["page_numbers"])


def assemble(inputs: dict, feedback: dict | None, *, panel_images: Mapping[str, Image.Image], shelf: Shelf,
             previous: dict | None = None, in_flight: int | None = None, art_ids: Mapping[str, str] | None = None,
             earlier: EarlierPages | None = None, ahead: PagesAhead | None = None) -> dict:
    """Compose the book page by page and hand each file to `shelf` as soon as it is finished; returns
    the output dict (file names where the lead's storage will put URIs). `inputs` is the phase 6
    output (or holds it under "lettering"); `panel_images` maps panel_id to its art.

    At most `in_flight` pages (default: one per core) are drawn, encoded or being stored at once:
    page N is stored before page N + in_flight starts. The exports are written page by page to
    temporary files and stored only once complete: a failure midway stores no export, and whatever
    was stored under their names stays.

    With `art_ids` (each panel's art by a name that changes with its content), every page records its
    `inputs_sha256` (`page_key`); a page `earlier` holds under the same key is not composed again: its PNG
    and preview are stored as they were (`reused_from`), and go into the exports unchanged. A book with a
    CBZ without lettering composes every page (the clean page is not kept). A page `ahead` holds under its key
    was composed by this attempt's `page` call and is already stored under its name: it is only read for the
    exports."""
    book = Book.of(inputs, feedback, previous)
    lettering, pages, context, language, direction, title, page_size, options, placements_by_panel, ordered = (
        book.lettering, book.pages, book.context, book.language, book.direction, book.title, book.page_size,
        book.options, book.placements_by_panel, book.ordered)
    wanted = options["exports"]

    comicinfo = {"Title": title, "Summary": context.get("summary") or None, "Genre": context.get("style") or None,
                 "LanguageISO": language, "Manga": "YesAndRightToLeft" if direction == "rtl" else "No",
                 "BlackAndWhite": "Unknown"}
    exports: dict[str, str] = {"manifest": "manifest.json"}
    page_entries: list[dict] = []
    with ExitStack() as stack:
        def spool() -> BinaryIO:
            return stack.enter_context(tempfile.TemporaryFile(prefix="mangaflow-export-"))

        writers: dict[str, Any] = {}   # export kind -> (file name, its temporary file, its writer)
        if "pdf" in wanted:
            file = spool()
            text_layers = [page_text_runs(page, placements_by_panel, page_size_px=page_size) for page in ordered]
            writers["pdf"] = ("manga.pdf", file, PdfWriter(file, pages=len(ordered), dpi=300, paper=options["paper"],
                                                           direction=direction, title=title, text_layers=text_layers))
        for kind, name, info in (("cbz", "manga.cbz", comicinfo),
                                 ("cbz_clean", "manga-clean.cbz", dict(comicinfo, Notes="Pages without lettering."))):
            if kind in wanted:
                file = spool()
                writers[kind] = (name, file, CbzWriter(file, info))
                stack.callback(writers[kind][2].discard)   # before its file is closed, if the book fails

        def found_before(page: dict, key: str | None) -> tuple[dict, bytes, bytes | None] | None:
            """The page as this attempt's page call stored it (kept where it is), or as an earlier attempt made
            it (copied under this attempt's names); None when it has to be composed."""
            if key is None or "cbz_clean" in writers:
                return None
            number = int(page["page"])
            names = (f"pages/{number:03d}.png", f"previews/{number:03d}.webp")
            entry = {"page": number, "file": names[0], "preview": names[1], "size_px": list(page_size),
                     "inputs_sha256": key}
            stored = ahead.find(key) if ahead is not None else None
            if stored is not None:
                png, page_uri, preview_uri, with_panels = stored
                for name, uri in zip(names, (page_uri, preview_uri)):
                    shelf.adopt(name, uri)
                return ({**entry, "made_with_panels": True} if with_panels else entry), png, None
            copied = earlier.find(key) if earlier is not None else None
            if copied is None:
                return None
            png, preview, attempt = copied
            for name, data in zip(names, (png, preview)):
                shelf.put(name, data)
            return {**entry, "reused_from": attempt}, png, None

        def finish(page: dict) -> tuple[dict, bytes, bytes | None]:
            key = book.key(page, art_ids) if art_ids is not None else None
            reused = found_before(page, key)
            if reused is not None:
                return reused
            # Drawn once, each panel is decoded as it is pasted (one panel's pixels alive at a time); drawn twice
            # (with and without lettering), the page's panels are decoded once for both.
            art = panel_images if "cbz_clean" not in writers else {
                str(p["panel_id"]): panel_images[str(p["panel_id"])] for p in page.get("panels", [])
                if str(p["panel_id"]) in panel_images}
            number = int(page["page"])
            image = book.compose(page, art)
            clean_image = book.compose(page, art, lettered=False) if "cbz_clean" in writers else None
            del art   # decoded panels (up to a page's worth of pixels) are not needed while encoding
            (png, preview), size = page_files(image), list(image.size)
            del image
            shelf.put(f"pages/{number:03d}.png", png)
            shelf.put(f"previews/{number:03d}.webp", preview)
            clean = png_bytes(clean_image) if clean_image is not None else None
            entry = {"page": number, "file": f"pages/{number:03d}.png", "preview": f"previews/{number:03d}.webp",
                     "size_px": size}
            if key is not None:
                entry["inputs_sha256"] = key
            return entry, png, clean

        def bind(result: tuple[dict, bytes, bytes | None]) -> None:
            entry, png, clean = result
            page_entries.append(entry)
            for kind, (_, _, writer) in writers.items():
                writer.add_page(clean if kind == "cbz_clean" else png)

        # Pillow releases the GIL while it draws and encodes, and storage calls wait on the network, so
        # pages are drawn side by side; the bounded window keeps memory to a few pages whatever the book.
        width = max(1, in_flight or os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=min(width, len(ordered))) as pool:
            window: deque[Future] = deque()
            try:
                for page in ordered:
                    while len(window) >= width:
                        bind(window.popleft().result())
                    window.append(pool.submit(finish, page))
                while window:
                    bind(window.popleft().result())
            finally:
                for future in window:
                    future.cancel()
        for _, _, writer in writers.values():
            writer.close()
        # The exports go up side by side (each upload mostly waits on the network).
        with ThreadPoolExecutor(max_workers=max(1, len(writers))) as pool:
            for future in [pool.submit(shelf.put_file, name, file) for name, file, _ in writers.values()]:
                future.result()
        exports.update({kind: name for kind, (name, _, _) in writers.items()})

    output = dict(lettering)
    output.update({
        "pages_composed": page_entries,
        "exports": exports,
        "quality_checks": quality_checks(lettering),
        "finish_options": options,
        "processing_metadata": {"phase": 7, "timestamp": datetime.now(timezone.utc).isoformat(),
                                "status": "completed"},
    })
    # data-model.md: "pages" of the final output are the composed pages ({page, uri}); the
    # storyboard pages stay available under "storyboard_pages" for the evaluators.
    output["storyboard_pages"] = pages
    output["pages"] = [{"page": e["page"], "file": e["file"]} for e in page_entries]
    return output


def _options(feedback: dict | None, before: dict | None = None) -> dict:
    options = {"paper": "B5", "exports": ["pdf", "cbz"], "page_numbers": True}
    options.update({k: v for k, v in (before or {}).items() if k in options})
    if not feedback:
        return options
    items = feedback.get("modifications") or [feedback.get("modification", feedback)]
    for item in items:
        item = dict(item.get("params") or {}, **item)
        option = str(item.get("option") or "").lower().replace(" ", "_")
        words = str(item.get("text") or "")
        if option == "format":
            paper = item.get("paper") or item.get("value") or next(
                (name for name in PAPER_MM if re.search(rf"(?<![A-Za-z0-9]){name}(?![0-9])", words, re.I)), None)
            wanted = item.get("exports") or [e for e in ("pdf", "cbz") if re.search(rf"\b{e}\b", words, re.I)]
            if _CLEAN_WORDS.search(words) and not item.get("exports"):
                wanted = [e for e in wanted if e != "cbz"] + ["cbz_clean"]
                wanted = wanted if wanted != ["cbz_clean"] else list(options["exports"]) + ["cbz_clean"]
            if paper is None and not wanted:
                raise NotApplicable(f"say which paper size ({', '.join(PAPER_MM)}) or which files (PDF, CBZ, a CBZ "
                                    "without lettering) the book should have", field="feedback")
            if paper is not None:
                if paper not in PAPER_MM:
                    raise FinalizeError(f"feedback paper must be one of {sorted(PAPER_MM)}, got {paper!r}")
                options["paper"] = paper
            if wanted:
                if not isinstance(wanted, list) or not all(isinstance(e, str) for e in wanted):
                    raise FinalizeError("feedback exports must be a list naming 'pdf', 'cbz' and/or 'cbz_clean'")
                wanted = [e for e in EXPORT_KINDS if e in wanted]
                if not wanted:
                    raise FinalizeError("feedback exports must name 'pdf', 'cbz' and/or 'cbz_clean'")
                options["exports"] = wanted
        elif option == "final_touches":
            options["page_numbers"] = bool(item["page_numbers"]) if "page_numbers" in item \
                else not options["page_numbers"]
        elif option or (words.strip() and not item.get("hints")):
            raise NotApplicable("phase 7 (pages and exports) can change the paper size (B5, A5, B6, A4), the files "
                                "made (PDF, CBZ, a CBZ without lettering) and switch page numbers off or on", field="feedback")
    return options


def expected_quotes(data: Mapping) -> list[str]:
    """The story's quoted lines: phase 3 dialogue beats if carried forward, else the storyboard's
    speech/thought/shout dialogues."""
    beats = [b.get("text", "") for s in data.get("scenes", []) or [] for b in s.get("beats", []) or []
             if b.get("kind") == "dialogue"]
    if beats and not data.get("translation"):  # a translation's lines are its storyboard's, not the story's
        return beats
    return [d.get("text", "") for page in data.get("pages", []) for panel in page.get("panels", [])
            for d in panel.get("dialogues", []) or [] if d.get("kind") in ("speech", "thought", "shout")]


def quality_checks(data: Mapping) -> dict:
    """Final checks from what the book contains (deterministic, no model): lettering overflow and
    quote coverage are measured; the other categories are simple structural proxies that the
    quality package may replace with its own evaluators."""
    placements = [p for panel in data.get("dialogue_placements", []) for p in panel.get("placements", [])]
    overflow = sum(measure_lettering(panel.get("placements", []), panel.get("panel_size_px") or [1000, 1000])["overflow"]
                   for panel in data.get("dialogue_placements", []))
    quotes = expected_quotes(data)
    lettered = quotes_lettered([panel.get("placements", []) for panel in data.get("dialogue_placements", [])], quotes)
    panels = [panel for page in data.get("pages", []) for panel in page.get("panels", [])]
    descriptions = data.get("image_descriptions", []) or []
    with_art = sum(1 for d in descriptions if d.get("fallback", "none") != "placeholder")
    art_share = with_art / len(descriptions) if descriptions else 0.5
    sizes = [p.get("font_size_px", 0) for p in placements if p.get("kind") != "sfx"]
    legible = sum(1 for s in sizes if s >= 30) / len(sizes) if sizes else 1.0
    per_page = [len(page.get("panels", [])) for page in data.get("pages", [])]
    pacing = sum(1 for n in per_page if 1 <= n <= 7) / len(per_page) if per_page else 0.0
    cast = {c for panel in panels for c in panel.get("characters", [])}
    recurring = sum(1 for c in cast if sum(c in p.get("characters", []) for p in panels) >= 2)
    scenes = {s.get("scene_id") for s in data.get("scenes", []) or []}
    shown = {p.get("scene_id") for p in panels}
    coherence = len(scenes & shown) / len(scenes) if scenes else (1.0 if panels else 0.0)
    angles = {p.get("camera_angle") for p in panels}
    checks = {
        "visual_consistency": round(art_share, 3),
        "narrative_coherence": round(0.5 * coherence + 0.5 * lettered, 3),
        "technical_quality": round(max(0.0, 1.0 - overflow / max(1, len(placements))) * (0.5 + 0.5 * art_share), 3),
        "readability": round(0.5 * legible + 0.5 * lettered if overflow == 0 else 0.5 * legible * lettered, 3),
        "pacing": round(pacing, 3),
        "character_development": round(recurring / len(cast), 3) if cast else 0.5,
        "artistic_appeal": round(min(1.0, 0.5 * art_share + 0.1 * len(angles - {None})), 3),
    }
    checks["overall"] = round(sum(checks[k] * w for k, w in QUALITY_WEIGHTS.items()), 3)
    checks["text_overflow"] = overflow
    checks["quotes_lettered"] = round(lettered, 3)
    return checks


_CONTENT_TYPES = {"png": "image/png", "pdf": "application/pdf", "cbz": "application/vnd.comicbook+zip",
                  "webp": "image/webp", "json": "application/json"}


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode("utf-8")


class StoredShelf:
    """Phase 7's files stored under the attempt's prefix in the final products bucket, as they come."""

    def __init__(self, artifacts: Any, prefix: str) -> None:
        self._artifacts, self._prefix = artifacts, prefix
        self.uris: dict[str, str] = {}

    def put(self, name: str, data: bytes) -> None:
        self.uris[name] = self._artifacts.put_named("final_products", f"{self._prefix}/{name}", data,
                                                    _content_type(name))

    def put_file(self, name: str, file: BinaryIO) -> None:
        self.uris[name] = self._artifacts.put_named_file("final_products", f"{self._prefix}/{name}", file,
                                                         _content_type(name))

    def adopt(self, name: str, uri: str) -> None:
        self.uris[name] = uri


def _content_type(name: str) -> str:
    return _CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


class PanelArt(Mapping[str, Image.Image]):
    """Each panel's art, decoded only when a page being composed asks for it: the book's panels held as
    their PNG bytes (a few MB), never all decoded at once (a 32-page book's 112 panels are about 530 MB
    as RGB, which made phase 7 the gateway worker's peak; bench/RESULTS.md, "Memory")."""

    def __init__(self, encoded: Mapping[str, bytes | Future[bytes]], mirrored: bool = False) -> None:
        self._encoded = encoded   # the bytes, or the storage read that will bring them (asked for per panel)
        # A translation that switched the reading direction letters a flopped layout: the art is flopped too.
        self._mirrored = mirrored

    def __getitem__(self, panel_id: str) -> Image.Image:
        import io

        data = self._encoded[panel_id]
        with Image.open(io.BytesIO(data.result() if isinstance(data, Future) else data)) as image:
            art = image.convert("RGB")
        return ImageOps.mirror(art) if self._mirrored else art

    def __contains__(self, panel_id: object) -> bool:
        return panel_id in self._encoded   # Mapping's own would decode the panel to answer

    def __iter__(self) -> Any:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)


class Final(Phase):
    """Pages composed from the chosen panels and lettering, the exports, and the manifest."""

    number, key, title = 7, "final", "pages and exports"

    def produce(self, ctx: PhaseContext) -> dict:
        """The book (the workflow's `collect`, or the whole phase in one call): every page this attempt's `page`
        calls left is taken as stored, an unchanged page of an earlier attempt is copied, the rest composed."""
        mirrored = _mirrored(ctx)
        descriptions = ctx.inputs["images"]["image_descriptions"]
        # Every panel's PNG read side by side (each read mostly waits), in reading order, while the first
        # pages are already being drawn: a page waits only for its own panels. Reads start only when a page
        # asks for its panels, so a book whose pages were all composed ahead reads none.
        reads = ThreadPoolExecutor(max_workers=8)
        encoded = _LazyReads(reads, ctx.stores.artifacts, {d["panel_id"]: d["image_uri"] for d in descriptions})
        prefix = _prefix(ctx)
        shelf = StoredShelf(ctx.stores.artifacts, prefix)
        ahead = ComposedAhead(ctx.stores.artifacts, prefix)
        made = made_with_panels(ctx)
        previous = _shown_version(ctx)
        art_ids = _art_ids(descriptions, mirrored)
        book = Book.of(ctx.inputs, ctx.feedback, previous)
        if "cbz_clean" not in book.options["exports"]:
            keys = [book.key(page, art_ids) for page in book.ordered]
            made.fetch(keys, reads)
            ahead.fetch(keys, reads)
        try:
            output = assemble(ctx.inputs, ctx.feedback, panel_images=PanelArt(encoded, mirrored), shelf=shelf,
                              previous=previous, art_ids=art_ids, earlier=StoredPages(ctx),
                              ahead=FirstFound(made, ahead))
        finally:
            reads.shutdown(wait=True, cancel_futures=True)
            del encoded
        if ahead.started:   # the phase's span starts with its first page call, not with this one
            output["processing_metadata"]["started_at"] = min(ahead.started)
        uris = shelf.uris
        output["pages"] = [{"page": entry["page"], "uri": uris[entry["file"]], "preview_uri": uris[entry["preview"]],
                            **({"inputs_sha256": entry["inputs_sha256"]} if entry.get("inputs_sha256") else {})}
                           for entry in output["pages_composed"]]
        output["exports"] = {"pdf": uris.get("manga.pdf"), "cbz": uris.get("manga.cbz")}
        if "manga-clean.cbz" in uris:
            output["exports"]["cbz_clean"] = uris["manga-clean.cbz"]
        manifest = build_manifest(ctx, output)
        output["exports"]["manifest"] = ctx.stores.artifacts.put_named(
            "final_products", f"{prefix}/manifest.json", json_bytes(manifest), "application/json")
        return output

    def plan(self, ctx: PhaseContext) -> list[int]:
        """The workflow's `plan`: the pages `page` calls compose side by side (on every worker, so every core
        draws) before `collect` writes the exports; none when the book also wants a CBZ without lettering
        (`collect` draws each page both ways itself). A page phase 5 already made as its panels arrived
        (`make_page_ahead`), lettered as phase 6 lettered it, needs no call: `collect` finds it."""
        book = Book.of(ctx.inputs, ctx.feedback, _shown_version(ctx))
        if "cbz_clean" in book.options["exports"]:
            return []
        art_ids = _art_ids(ctx.inputs["images"]["image_descriptions"], _mirrored(ctx))
        made = made_with_panels(ctx)
        held = side_by_side(*(functools.partial(made.holds, book.key(page, art_ids)) for page in book.ordered))
        return [int(page["page"]) for page, done in zip(book.ordered, held) if not done]

    def compose_one(self, ctx: PhaseContext, number: int) -> dict:
        """The workflow's `page`: compose page `number`, store it and its preview under the attempt's names, then
        a note of its key (`ComposedAhead`) that `collect` finds it by. Nothing is drawn when the note is there
        already (a repeated call) or an earlier attempt holds the same page (`collect` copies it)."""
        book = Book.of(ctx.inputs, ctx.feedback, _shown_version(ctx))
        page = next((p for p in book.ordered if int(p.get("page", 0)) == number), None)
        if page is None:
            raise NotFound(f"page {number} is not in the lettered storyboard "
                           f"(pages {', '.join(str(p.get('page')) for p in book.ordered)})", field="page")
        mirrored = _mirrored(ctx)
        descriptions = ctx.inputs["images"]["image_descriptions"]
        key = book.key(page, _art_ids(descriptions, mirrored))
        prefix = _prefix(ctx)
        ahead = ComposedAhead(ctx.stores.artifacts, prefix)
        made = made_with_panels(ctx)
        if ahead.holds(key) or made.holds(key) or StoredPages(ctx).holds(key):
            return {"page": number, "inputs_sha256": key, "composed": False}
        started_at = datetime.now(timezone.utc).isoformat()
        wanted = {str(p.get("panel_id")) for p in page.get("panels", [])}
        uris = {d["panel_id"]: d["image_uri"] for d in descriptions if d["panel_id"] in wanted}

        # The panels are read here, on the call's own thread: a page thread only composes and encodes (CPU), so
        # one per worker keeps its core busy instead of waiting on storage.
        stored = {pid: ctx.stores.artifacts.get_bytes(uri) for pid, uri in uris.items()}

        def draw() -> tuple[bytes, bytes]:
            return page_files(book.compose(page, PanelArt(stored, mirrored)))

        png, preview = page_threads(settings().pages_at_once).submit(draw).result()
        shelf = StoredShelf(ctx.stores.artifacts, prefix)
        side_by_side((lambda: shelf.put(f"pages/{number:03d}.png", png)),
                     (lambda: shelf.put(f"previews/{number:03d}.webp", preview)))
        ahead.note(key, shelf.uris[f"pages/{number:03d}.png"], shelf.uris[f"previews/{number:03d}.webp"], started_at)
        return {"page": number, "inputs_sha256": key, "composed": True}

    def summarise(self, output: dict) -> str:
        reused = [e["page"] for e in output.get("pages_composed", []) if e.get("reused_from")]
        kept = (f"; {len(reused)} unchanged page{'s' if len(reused) != 1 else ''} reused as drawn before "
                f"({', '.join(map(str, reused))})") if reused else ""
        made = sum(1 for e in output.get("pages_composed", []) if e.get("made_with_panels"))
        early = f"; {made} composed as {'its' if made == 1 else 'their'} panels arrived" if made else ""
        return f"{len(output.get('pages', []))} pages exported: PDF, CBZ, PNG{kept}{early}"

    def artifacts(self, output: dict) -> list[str]:
        return [p["uri"] for p in output.get("pages", [])] + [u for u in output.get("exports", {}).values() if u]


@functools.lru_cache(maxsize=1)
def _preview_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="page-preview")


def page_files(image: Image.Image) -> tuple[bytes, bytes]:
    """A composed page's PNG and WebP preview, encoded side by side: Pillow lets go of the GIL while it encodes,
    so the preview (about 25-45 ms for a B5 page) costs no time beside the PNG (80-130 ms); a page made as its
    last panel arrives is on the critical path."""
    preview = _preview_threads().submit(preview_webp, image)
    try:
        png = png_bytes(image)
    finally:
        webp = preview.result()
    return png, webp


@functools.lru_cache(maxsize=None)
def page_threads(at_once: int) -> ThreadPoolExecutor:
    """The process's threads that compose pages for `page` calls (`settings().pages_at_once` of them): a worker
    takes several calls on its request threads, and each page being composed holds a page's pixels and its
    panels' (about 60 MB), so a worker composes a bounded number at once whatever the calls it holds. The
    calls read their panels before they queue here, so these threads only compute."""
    return ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="page-composing")


def _mirrored(ctx: PhaseContext) -> bool:
    return bool((ctx.inputs.get("lettering") or {}).get("art_mirrored"))


def _art_ids(descriptions: list[dict], mirrored: bool) -> dict[str, str]:
    return {d["panel_id"]: f"{d['image_uri']}{'#mirrored' if mirrored else ''}" for d in descriptions}


def _prefix(ctx: PhaseContext) -> str:
    return f"requests/{ctx.request_id}/attempt-{ctx.attempt}"


class _LazyReads(Mapping[str, "Future[bytes]"]):
    """Each panel's storage read, started the first time a page asks for it."""

    def __init__(self, pool: ThreadPoolExecutor, artifacts: Any, uris: Mapping[str, str]) -> None:
        self._pool, self._artifacts, self._uris = pool, artifacts, dict(uris)
        self._started: dict[str, Future[bytes]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, panel_id: str) -> "Future[bytes]":
        with self._lock:
            if panel_id not in self._started:
                self._started[panel_id] = self._pool.submit(self._artifacts.get_bytes, self._uris[panel_id])
            return self._started[panel_id]

    def __contains__(self, panel_id: object) -> bool:
        return panel_id in self._uris   # Mapping's own would start the read to answer

    def __iter__(self) -> Any:
        return iter(self._uris)

    def __len__(self) -> int:
        return len(self._uris)


class ComposedAhead:
    """Pages this attempt's `page` calls composed: each leaves `composed/<key>.json` (its page's and preview's
    URIs) under the attempt's prefix, written after both, so a note always names a whole page."""

    def __init__(self, artifacts: Any, prefix: str, with_panels: bool = False) -> None:
        self._artifacts, self._prefix, self.with_panels = artifacts, prefix, with_panels
        self.started: list[str] = []   # when each page found was begun (its call's start)
        self._fetching: dict[str, Future] = {}
        self._to_fetch: deque[str] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    READ_AHEAD = 8   # pages read before `collect` asks for them (a page's PNG is about 1 MB)

    def fetch(self, keys: list[str], pool: ThreadPoolExecutor) -> None:
        """Read these pages' notes and PNGs ahead, up to READ_AHEAD at a time, in this order (`find` waits for
        its own): `collect` has nothing to compute for a page composed ahead, only to read it, and reading side by
        side overlaps the reads with writing the exports."""
        with self._lock:
            self._pool = pool
            self._to_fetch.extend(keys)
            self._top_up()

    def _top_up(self) -> None:
        while self._pool is not None and self._to_fetch and len(self._fetching) < self.READ_AHEAD:
            key = self._to_fetch.popleft()
            if key not in self._fetching:
                self._fetching[key] = self._pool.submit(self._find, key)

    def _name(self, key: str) -> str:
        return f"{self._prefix}/composed/{key}.json"

    def note(self, key: str, page_uri: str, preview_uri: str, started_at: str | None = None) -> None:
        noted = {"inputs_sha256": key, "uri": page_uri, "preview_uri": preview_uri}
        if started_at is not None:   # a page call's: the attempt's span starts with it (a page made in phase 5 has none)
            noted["started_at"] = started_at
        self._artifacts.put_named("final_products", self._name(key), json_bytes(noted), "application/json")

    def _read(self, key: str) -> dict | None:
        try:
            return self._artifacts.get_json(self._artifacts.named_uri("final_products", self._name(key)))
        except FileNotFoundError:
            return None

    def holds(self, key: str) -> bool:
        return self._read(key) is not None

    def find(self, key: str) -> tuple[bytes, str, str, bool] | None:
        with self._lock:
            fetching = self._fetching.pop(key, None)
            self._top_up()
        return fetching.result() if fetching is not None else self._find(key)

    def _find(self, key: str) -> tuple[bytes, str, str, bool] | None:
        noted = self._read(key)
        if noted is None:
            return None
        try:
            found = self._artifacts.get_bytes(noted["uri"]), noted["uri"], noted["preview_uri"], self.with_panels
        except FileNotFoundError:
            return None
        if noted.get("started_at"):
            self.started.append(str(noted["started_at"]))
        return found


class FirstFound:
    """Pages ahead looked up in order: those phase 5 made as their panels arrived, then this attempt's page calls'."""

    def __init__(self, *places: ComposedAhead) -> None:
        self._places = places

    def find(self, key: str) -> tuple[bytes, str, str, bool] | None:
        for place in self._places:
            found = place.find(key)
            if found is not None:
                return found
        return None


def made_with_panels(ctx: PhaseContext) -> ComposedAhead:
    return ComposedAhead(ctx.stores.artifacts, with_panels_prefix(ctx.request_id), with_panels=True)


def with_panels_prefix(request_id: str) -> str:
    """Where phase 5 leaves the pages it composed as their panels arrived: content-addressed files, and a note
    by `page_key` (`ComposedAhead`), kept for the request, so a later attempt with the same page finds it too."""
    return f"requests/{request_id}/with-panels"


def make_page_ahead(ctx: PhaseContext, page: dict, descriptions: Mapping[str, dict],
                    threads: ThreadPoolExecutor) -> str | None:
    """Phase 7's work on one page, done in phase 5 by the call that drew the page's last panel: the page is
    lettered as phase 6 will letter it with no edits (`phase6_lettering.letter_page`, the same code), composed as
    phase 7 composes it with its default options, and stored with a note under its `page_key`. Phase 7 finds the
    note only when its key is the same, which is when nothing it is made from changed on the way (bubbles edited at
    gate 6, page numbers switched off, a CBZ without lettering, mirrored art: the page is composed there as
    before). Drawn on `threads` (phase 5's drawing threads, so a worker never holds a drawing and a page at once
    while the model is waited on). `ctx` is the panel call's (phase 5 inputs); `descriptions` the page's panels'
    outputs as stored. Returns the key, None when the page is not made here."""
    from . import phase6_lettering

    storyboard = ctx.inputs["storyboard"]
    language, direction, page_size = phase6_lettering.reading(ctx.inputs, storyboard)
    lettered = phase6_lettering.letter_page(page, page_size, descriptions, direction, language, [])
    # As phase 7 reads phase 6's output, this page's part of it: through JSON (the key hashes exactly what it would).
    book = Book.of(json.loads(json.dumps({
        "pages": [page], "language": language, "reading_direction": direction, "page_size_px": page_size,
        "dialogue_placements": [entry for entry, _, _ in lettered]}, ensure_ascii=False, default=str)), None)
    if "cbz_clean" in book.options["exports"]:
        return None
    page = book.ordered[0]
    key = book.key(page, _art_ids(list(descriptions.values()), False))
    made = made_with_panels(ctx)
    if made.holds(key):   # an earlier attempt's panels, kept, made the same page
        return key
    wanted = [pid for pid in descriptions if pid in {str(p.get("panel_id")) for p in page.get("panels", [])}]
    stored = dict(zip(wanted, side_by_side(*(functools.partial(ctx.stores.artifacts.get_bytes,
                                                               descriptions[pid]["image_uri"]) for pid in wanted))))
    png, preview = threads.submit(lambda: page_files(book.compose(page, PanelArt(stored)))).result()
    prefix = with_panels_prefix(ctx.request_id)
    made.note(key, *side_by_side(
        lambda: ctx.stores.artifacts.put_bytes("final_products", png, "image/png", prefix=prefix),
        lambda: ctx.stores.artifacts.put_bytes("final_products", preview, "image/webp", prefix=prefix)))
    return key


@functools.lru_cache(maxsize=1)
def _io_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="page-io")


def side_by_side(*calls: Any) -> list[Any]:
    """Each call's result, in order, the calls made at once (storage reads and writes mostly wait on the
    network; on the critical path a page's four panel reads one after another cost as much as its preview)."""
    futures = [_io_threads().submit(call) for call in calls]
    return [future.result() for future in futures]


class StoredPages:
    """The pages of this request's earlier phase 7 attempts (the latest first), by `inputs_sha256`: what a
    reopened book, a corrected line or a new paper option does not change is copied, not composed again."""

    LOOK_BACK = 3   # earlier attempts read (each is one small JSON)

    def __init__(self, ctx: PhaseContext) -> None:
        self._artifacts = ctx.stores.artifacts
        self._pages: dict[str, tuple[str, str, int]] = {}
        runs = [r for r in ctx.stores.phase_runs.list(ctx.request_id, 7)
                if int(r["phase"]) == 7 and r.get("panel_id") is None and r.get("status") == "succeeded"
                and r.get("output_uri") and int(r["attempt"]) < int(ctx.attempt)]
        for run_row in sorted(runs, key=lambda r: -int(r["attempt"]))[:self.LOOK_BACK]:
            for page in self._artifacts.get_json(run_row["output_uri"]).get("pages", []):
                if page.get("inputs_sha256") and page.get("preview_uri"):
                    self._pages.setdefault(page["inputs_sha256"], (page["uri"], page["preview_uri"],
                                                                   int(run_row["attempt"])))

    def holds(self, key: str) -> bool:
        return key in self._pages

    def find(self, key: str) -> tuple[bytes, bytes, int] | None:
        if key not in self._pages:
            return None
        uri, preview_uri, attempt = self._pages[key]
        try:
            return self._artifacts.get_bytes(uri), self._artifacts.get_bytes(preview_uri), attempt
        except Exception as err:  # noqa: BLE001 - a page gone from storage is composed again
            log_event("an earlier page could not be read; composing it again", logging.WARNING, uri=uri, error=str(err))
            return None


def _shown_version(ctx: PhaseContext) -> dict | None:
    """The version shown at the gate a modification is about (its options are the starting point)."""
    attempt = (ctx.feedback or {}).get("base_attempt")
    run_row = ctx.stores.phase_runs.find(ctx.request_id, 7, int(attempt)) if attempt else None
    return ctx.stores.artifacts.get_json(run_row["output_uri"]) if run_row and run_row.get("output_uri") else None


def build_manifest(ctx: PhaseContext, output: dict) -> dict:
    """Everything about the run: request, options, each phase's output, scores, timings, gates, what the
    model calls cost, and where every picture came from (provenance per panel and reference sheet)."""
    from ..providers.pricing import request_cost
    from .registry import keys

    request, inputs = ctx.request, ctx.inputs
    phase_keys = keys()
    return {
        "cost": request_cost(ctx.stores.model_calls, request),
        "provenance": {
            "reference_sheets": [{"character_id": r.get("character_id"), "uri": r.get("uri"),
                                  **(r.get("provenance") or {})}
                                 for r in (inputs.get("characters") or {}).get("reference_images", [])],
            "panels": [{"panel_id": d.get("panel_id"), "image_uri": d.get("image_uri"), "fallback": d.get("fallback"),
                        **(d.get("provenance") or {})}
                       for d in (inputs.get("images") or {}).get("image_descriptions", [])],
        },
        "request": {key: request.get(key) for key in ("request_id", "language", "style", "pages", "title", "created_at")},
        "options": request.get("options") or {},
        "story": inputs.get("text", ""),
        "outputs": {phase_keys[p]: inputs.get(phase_keys[p]) for p in range(1, 7)},
        "final": {"pages": output.get("pages"), "exports": dict(output.get("exports", {})),
                  "quality_checks": output.get("quality_checks")},
        "phases": ctx.stores.requests.state(ctx.request_id)["phases"],
        "generated_at": datetime.now(timezone.utc).isoformat(),
    }


register(Final())
