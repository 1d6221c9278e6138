"""Phase 7, final assembly: compose every page (art, lettering, borders), export PNG pages, a
B5 300 dpi PDF and a CBZ (right-to-left for Japanese), WebP previews, and the final quality checks.

Returns the output dict (file names where the lead's storage will put URIs) and the files as bytes.
The PDF carries the lettering as an invisible text layer over the art (selectable, extractable in
reading order, vertical for Japanese); "cbz_clean" adds a CBZ of the pages without lettering.
Feedback: {"option": "format", "paper": "B5"|"A5"|"B6"|"A4", "exports": ["pdf", "cbz", "cbz_clean"]} (or the paper
as the option's "value", or named in the person's words: "make it A5", "a CBZ without lettering"), {"option": "final_touches", "page_numbers":
false} (alone: page numbers switched off, or on again). The options in force are kept in the output
(`finish_options`), and a modification starts from those of the version shown at the gate.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Mapping

from PIL import Image, ImageOps

from mangaflow.errors import RenderError
from mangaflow.hitl.intents import NotApplicable
from mangaflow.render.exports import PAPER_MM, cbz_bytes, pdf_from_pngs, png_bytes, preview_webp
from mangaflow.render.lettering import measure_lettering, quotes_lettered
from mangaflow.render.pages import PAGE_SIZE_PX, compose_page, page_text_runs

from .registry import Phase, PhaseContext, register

EXPORT_KINDS = ("pdf", "cbz", "cbz_clean")   # cbz_clean: the pages without lettering (art for re-lettering)
_CLEAN_WORDS = re.compile(r"without (the )?(lettering|text|bubbles)|no (lettering|text)|clean|文字なし|写植なし", re.I)
QUALITY_WEIGHTS = {"visual_consistency": 0.25, "narrative_coherence": 0.20, "technical_quality": 0.15,
                   "readability": 0.15, "pacing": 0.10, "character_development": 0.10, "artistic_appeal": 0.05}


class FinalizeError(RenderError):
    """Inputs phase 7 cannot assemble (names the field and what was expected)."""


def run(inputs: dict, feedback: dict | None, provider: Any = None, *,
        panel_images: Mapping[str, Image.Image], previous: dict | None = None) -> tuple[dict, dict[str, bytes]]:
    """Compose and export the book. `inputs` is the phase 6 output (or holds it under
    "lettering"); `panel_images` maps panel_id to its art."""
    lettering = inputs.get("lettering") if isinstance(inputs.get("lettering"), dict) and "pages" in inputs["lettering"] else inputs
    pages = lettering.get("pages")
    if not isinstance(pages, list) or not pages:
        raise FinalizeError("inputs must carry the storyboard's 'pages' (a non-empty list) from phase 6")
    context = lettering.get("story_context") or {}
    language = lettering.get("language") or context.get("language") or (inputs.get("request") or {}).get("language") or "ja"
    direction = lettering.get("reading_direction") or ("rtl" if language == "ja" else "ltr")
    title = (inputs.get("request") or {}).get("title") or context.get("title") or "Mangaflow"
    page_size = tuple(lettering.get("page_size_px") or PAGE_SIZE_PX)
    options = _options(feedback, (previous or {}).get("finish_options"))

    placements_by_panel = {p["panel_id"]: p.get("placements", []) for p in lettering.get("dialogue_placements", [])}
    files: dict[str, bytes] = {}
    pngs: list[bytes] = []
    page_entries = []
    def render(page: dict) -> tuple[int, bytes, bytes, list[int]]:
        image = compose_page(page, panel_images, placements_by_panel, page_size_px=page_size,
                             direction=direction, page_numbers=options["page_numbers"])
        return int(page["page"]), png_bytes(image), preview_webp(image), list(image.size)

    # Pillow releases the GIL while it draws and encodes, so pages render side by side on every core.
    ordered = sorted(pages, key=lambda p: int(p.get("page", 0)))
    with ThreadPoolExecutor(max_workers=max(1, min(len(ordered), os.cpu_count() or 1))) as pool:
        rendered = list(pool.map(render, ordered))
    for number, png, preview, size in rendered:
        pngs.append(png)
        files[f"pages/{number:03d}.png"] = png
        files[f"previews/{number:03d}.webp"] = preview
        page_entries.append({"page": number, "file": f"pages/{number:03d}.png",
                             "preview": f"previews/{number:03d}.webp", "size_px": size})

    exports: dict[str, str] = {"manifest": "manifest.json"}
    comicinfo = {"Title": title, "Summary": context.get("summary") or None, "Genre": context.get("style") or None,
                 "LanguageISO": language, "Manga": "YesAndRightToLeft" if direction == "rtl" else "No",
                 "BlackAndWhite": "Unknown"}
    if "pdf" in options["exports"]:
        text_layers = [page_text_runs(page, placements_by_panel, page_size_px=page_size) for page in ordered]
        files["manga.pdf"] = pdf_from_pngs(pngs, dpi=300, paper=options["paper"], direction=direction, title=title,
                                           text_layers=text_layers)
        exports["pdf"] = "manga.pdf"
    if "cbz" in options["exports"]:
        files["manga.cbz"] = cbz_bytes(pngs, comicinfo)
        exports["cbz"] = "manga.cbz"
    if "cbz_clean" in options["exports"]:
        def clean(page: dict) -> bytes:
            return png_bytes(compose_page(page, panel_images, {}, page_size_px=page_size, direction=direction,
                                          page_numbers=options["page_numbers"]))
        with ThreadPoolExecutor(max_workers=max(1, min(len(ordered), os.cpu_count() or 1))) as pool:
            clean_pngs = list(pool.map(clean, ordered))
        files["manga-clean.cbz"] = cbz_bytes(clean_pngs, dict(comicinfo, Notes="Pages without lettering."))
        exports["cbz_clean"] = "manga-clean.cbz"

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
    return output, files


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


class PanelArt(Mapping[str, Image.Image]):
    """Each panel's art, decoded only when a page being composed asks for it: the book's panels held as
    their PNG bytes (a few MB), never all decoded at once (a 32-page book's 112 panels are about 530 MB
    as RGB, which made phase 7 the gateway worker's peak; bench/RESULTS.md, "Memory")."""

    def __init__(self, encoded: Mapping[str, bytes], mirrored: bool = False) -> None:
        self._encoded = dict(encoded)
        # A translation that switched the reading direction letters a flopped layout: the art is flopped too.
        self._mirrored = mirrored

    def __getitem__(self, panel_id: str) -> Image.Image:
        import io

        with Image.open(io.BytesIO(self._encoded[panel_id])) as image:
            art = image.convert("RGB")
        return ImageOps.mirror(art) if self._mirrored else art

    def __iter__(self) -> Any:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)


class Final(Phase):
    """Pages composed from the chosen panels and lettering, the exports, and the manifest."""

    number, key, title = 7, "final", "pages and exports"

    def produce(self, ctx: PhaseContext) -> dict:
        mirrored = bool((ctx.inputs.get("lettering") or {}).get("art_mirrored"))
        panel_images = PanelArt({d["panel_id"]: ctx.stores.artifacts.get_bytes(d["image_uri"])
                                 for d in ctx.inputs["images"]["image_descriptions"]}, mirrored)
        output, files = run(ctx.inputs, ctx.feedback, None, panel_images=panel_images, previous=_shown_version(ctx))
        prefix = f"requests/{ctx.request_id}/attempt-{ctx.attempt}"
        uris = {name: ctx.stores.artifacts.put_named(
                    "final_products", f"{prefix}/{name}", data,
                    _CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream"))
                for name, data in sorted(files.items())}
        page_uris = sorted((name, uri) for name, uri in uris.items() if name.startswith("pages/") and name.endswith(".png"))
        output["pages"] = [{"page": index, "uri": uri} for index, (_, uri) in enumerate(page_uris, start=1)]
        output["exports"] = {"pdf": uris.get("manga.pdf"), "cbz": uris.get("manga.cbz")}
        if "manga-clean.cbz" in uris:
            output["exports"]["cbz_clean"] = uris["manga-clean.cbz"]
        manifest = build_manifest(ctx, output)
        output["exports"]["manifest"] = ctx.stores.artifacts.put_named(
            "final_products", f"{prefix}/manifest.json", json_bytes(manifest), "application/json")
        return output

    def summarise(self, output: dict) -> str:
        return f"{len(output.get('pages', []))} pages exported: PDF, CBZ, PNG"

    def artifacts(self, output: dict) -> list[str]:
        return [p["uri"] for p in output.get("pages", [])] + [u for u in output.get("exports", {}).values() if u]


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
