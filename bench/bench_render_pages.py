"""Benchmark: letter, compose and export the 8-page sample books (about 40 panels each).

Prints phase 6 lettering time, median compose+lettering time per page (2150x3035), PNG encode,
WebP preview, PDF and CBZ times, and the whole phase 7 run. Run: .venv/bin/python bench/bench_render_pages.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "phases"))  # the realistic sample storyboards live with the tests

from test_phase6_lettering import sample_story  # noqa: E402

from mangaflow.phases import phase6_lettering, phase7_finalize  # noqa: E402
from mangaflow.render.exports import cbz_bytes, pdf_from_pngs, png_bytes, preview_webp  # noqa: E402
from mangaflow.render.pages import compose_page, panel_rects_px  # noqa: E402


def synthetic_art(w: int, h: int, staging: list[dict]) -> Image.Image:
    """Flat grey panel with a floor and a head and body per staged figure."""
    art = Image.new("RGB", (w, h), (205, 205, 205))
    d = ImageDraw.Draw(art)
    d.rectangle([0, int(h * 0.7), w, h], fill=(170, 170, 170))
    for s in staging:
        x, y, r = s["x"] * w, s["y"] * h, 0.1 * min(w, h)
        d.rectangle([x - 1.2 * r, y + r, x + 1.2 * r, y + 4 * r], fill=(120, 120, 120))
        d.ellipse([x - r, y - r, x + r, y + r], fill=(240, 220, 200), outline=(0, 0, 0), width=3)
    return art


def bench(language: str) -> dict:
    storyboard, images = sample_story(language)
    # The brief's book has about 30 bubbles: give the quiet panels a line each until it does.
    panels = [p for page in storyboard["pages"] for p in page["panels"]]
    quotes = [d for p in panels for d in p["dialogues"] if d["kind"] == "speech"]
    count = sum(len(p["dialogues"]) for p in panels)
    for k, panel in enumerate(p for p in panels if not p["dialogues"]):
        if count >= 30:
            break
        panel["dialogues"].append(dict(quotes[k % len(quotes)]))
        count += 1
    desc = {d["panel_id"]: d for d in images["image_descriptions"]}
    art = {}
    for page in storyboard["pages"]:
        for pid, (_, _, w, h) in panel_rects_px(page).items():
            art[pid] = synthetic_art(w, h, desc[pid]["staging"])

    t = time.perf_counter()
    lettered = phase6_lettering.run({"storyboard": storyboard, "images": images, "language": language}, None)
    t_phase6 = time.perf_counter() - t
    placements = {p["panel_id"]: p["placements"] for p in lettered["dialogue_placements"]}
    direction = lettered["reading_direction"]

    compose, encode, preview, pngs = [], [], [], []
    for page in storyboard["pages"]:
        t = time.perf_counter()
        image = compose_page(page, art, placements, direction=direction)
        compose.append(time.perf_counter() - t)
        t = time.perf_counter()
        pngs.append(png_bytes(image))
        encode.append(time.perf_counter() - t)
        t = time.perf_counter()
        preview_webp(image)
        preview.append(time.perf_counter() - t)
    t = time.perf_counter()
    pdf = pdf_from_pngs(pngs, direction=direction, title="bench")
    t_pdf = time.perf_counter() - t
    t = time.perf_counter()
    cbz = cbz_bytes(pngs, {"Title": "bench", "LanguageISO": language})
    t_cbz = time.perf_counter() - t

    t = time.perf_counter()
    output, files = phase7_finalize.run(lettered, None, panel_images=art)
    t_phase7 = time.perf_counter() - t
    bubbles = sum(len(p["placements"]) for p in lettered["dialogue_placements"])
    return {"language": language, "panels": len(art), "bubbles": bubbles, "phase6_s": t_phase6,
            "compose_median_ms": statistics.median(compose) * 1000, "png_median_ms": statistics.median(encode) * 1000,
            "webp_median_ms": statistics.median(preview) * 1000, "pdf_ms": t_pdf * 1000, "cbz_ms": t_cbz * 1000,
            "pdf_mb": len(pdf) / 1e6, "cbz_mb": len(cbz) / 1e6, "phase7_s": t_phase7,
            "total_s": t_phase6 + t_phase7, "overflow": output["quality_checks"]["text_overflow"]}


def main() -> None:
    for language in ("ja", "en"):
        r = bench(language)
        print(f"{r['language']}: {r['panels']} panels, {r['bubbles']} bubbles, overflow {r['overflow']}")
        print(f"  phase 6 lettering layout      {r['phase6_s'] * 1000:7.0f} ms")
        print(f"  compose+lettering per page    {r['compose_median_ms']:7.0f} ms (median of 8)")
        print(f"  PNG encode per page           {r['png_median_ms']:7.0f} ms")
        print(f"  WebP preview per page         {r['webp_median_ms']:7.0f} ms")
        print(f"  PDF from PNGs (8 pages)       {r['pdf_ms']:7.0f} ms ({r['pdf_mb']:.1f} MB)")
        print(f"  CBZ (8 pages)                 {r['cbz_ms']:7.0f} ms ({r['cbz_mb']:.1f} MB)")
        print(f"  phase 7 run (all of it)       {r['phase7_s'] * 1000:7.0f} ms")
        print(f"  phase 6 + phase 7             {r['total_s']:7.2f} s")


if __name__ == "__main__":
    main()
