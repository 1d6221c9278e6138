"""Phase 5, scene images. `describe_panel` turns one storyboard panel into a picture description and the
staging of its figures; the picture comes from the request's image model (the description, the style and
the reference sheets of the characters in the panel), from the image cache, or from the procedural
painter (the offline provider's storyboard drawings, and every fallback).

Two ways to ask the model (the request's `image_mode`): `panel`, one image call per panel; `page`, one
call per page: the `plan` operation draws every page inside its frame template (given as the first input
image) and each `panel` call cuts its panel out along the frames. Page mode costs about a third as much
and gives each panel fewer pixels (bench/RESULTS.md, "AI art: cost").
"""
from __future__ import annotations

import functools
import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..config import settings
from ..errors import Conflict, NotFound, RenderError, ValidationError
from ..logs import log_event
from ..providers.base import ImageJob, Provider, Reference
from . import now_iso
from .registry import Phase, PhaseContext, register


def describe_panel(inputs: dict, panel_id: str, feedback: dict | None, provider: Provider) -> dict:
    """Description of panel `panel_id` of `inputs["storyboard"]` (no image_uri; see docs/data-model.md).

    Returns panel_id, description, prompt, characters, setting, mood, camera_angle, staging, size_px.
    Raises NotFound when the panel is not in the storyboard.
    """
    if not isinstance(inputs.get("storyboard"), dict):
        raise ValidationError("inputs.storyboard (phase 4's output) is required to describe a panel",
                              field="storyboard")
    if not isinstance(panel_id, str) or not panel_id:
        raise ValidationError("panel_id must be a non-empty string such as 'p01-1'", field="panel_id")
    return provider.panel_description(inputs, panel_id, feedback)


# A panel the procedural painter could not draw as asked falls back to a simplified drawing, then a
# placeholder: a weaker panel, never a failed manga. Model art is "none" (as asked) or "simplified" (from
# the simpler prompt after a refusal); "procedural" is a panel the model did not draw (refused twice,
# failed, or the budget was spent). Each variant has its own score.
PANEL_FALLBACKS = ("none", "simplified", "placeholder")
PANEL_SCORES = {"none": 1.0, "simplified": 0.7, "procedural": 0.7, "placeholder": 0.5}
IMAGE_MODES = ("panel", "page")
COLLECT_READS = 8  # panel outputs `collect` reads at once
TEMPLATE_PX = (768, 1152)  # a page's frame template, 2:3 (the supported aspect ratio nearest B5)
PANEL_STYLE = ("black ink line art with screentone shading, the look of a printed {style} manga; no text, no "
               "speech bubbles, no captions, no sound effects, no panel border")


@functools.lru_cache(maxsize=None)
def drawing_threads(at_once: int) -> ThreadPoolExecutor:
    """The process's threads that draw panels (`settings().drawings_at_once` of them). A worker serves several
    panel calls on its threads, and each drawing holds a supersampled canvas and its layers (tens of MB).
    Drawn on the calling threads, every thread's malloc arena grew to a drawing's size and kept it (8 threads,
    750 MB per worker for a 32-page book, bench/RESULTS.md "Memory"); drawn here, only these threads' arenas
    do. Drawing is CPU work: more threads than cores would not finish sooner."""
    return ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="panel-drawing")


def storyboard_panels(storyboard: dict) -> list[dict]:
    return [panel for page in storyboard.get("pages", []) for panel in page.get("panels", [])]


def panel_size_px(panel: dict, storyboard: dict) -> tuple[int, int]:
    """The panel's size on its page, so the art is drawn once at the size it is printed."""
    from ..render import pages

    page = next(p for p in storyboard.get("pages", []) if any(q["panel_id"] == panel["panel_id"] for q in p["panels"]))
    _, _, width, height = pages.panel_rects_px(page, tuple(storyboard.get("page_size_px") or pages.PAGE_SIZE_PX))[
        panel["panel_id"]]
    return int(width), int(height)


def image_mode(request: dict) -> str:
    """How the request's panels are asked for: its `image_mode` option, else MANGAFLOW_IMAGE_MODE."""
    mode = (request.get("options") or {}).get("image_mode") or settings().image_mode
    return mode if mode in IMAGE_MODES else "panel"


def style_of(inputs: dict) -> str:
    return str(inputs.get("style") or (inputs.get("concept") or {}).get("genre") or "shojo")


def cast_of(inputs: dict) -> dict[str, dict]:
    return {c.get("id"): c for c in (inputs.get("characters") or {}).get("characters", [])}


@functools.lru_cache(maxsize=64)
def _sheet(artifacts: Any, character_id: str, uri: str) -> Reference:
    """Sheets are content-addressed: a URI always names the same bytes, read once per process."""
    from ..providers.images import reference

    return reference(character_id, artifacts.get_bytes(uri))


def sheets_for(ctx: PhaseContext, character_ids: list[str]) -> tuple[Reference, ...]:
    """The reference sheets (phase 2) of these characters, in their order; at most three are ever sent."""
    sheets = {r.get("character_id"): r.get("uri") for r in (ctx.inputs.get("characters") or {}).get("reference_images", [])
              if r.get("uri")}
    wanted = [c for c in dict.fromkeys(character_ids) if c in sheets][:3]
    return tuple(_sheet(ctx.stores.artifacts, c, sheets[c]) for c in wanted)


def panel_parts(ctx: PhaseContext, panel: dict, size: tuple[int, int], references: tuple[Reference, ...]) -> dict:
    """Everything a panel's picture is made from (its `inputs:` cache key, docs/vertex.md): when none of
    this changes, a re-run of phase 5 reuses the picture and its description."""
    storyboard = ctx.inputs["storyboard"]
    cast = cast_of(ctx.inputs)
    scene = next((s for s in storyboard.get("scenes") or (ctx.inputs.get("plot") or {}).get("scenes") or []
                  if s.get("scene_id") == panel.get("scene_id")), {})
    feedback = {k: v for k, v in (ctx.feedback or {}).items() if k in ("text", "option", "intensity", "hints")}
    return {
        "panel": {k: panel.get(k) for k in ("scene_description", "characters", "dialogues", "camera_angle", "shot",
                                            "emotion", "size", "layout_type")},
        "scene": {"description": scene.get("description"), "setting": scene.get("setting"),
                  "emotion": scene.get("emotion")},
        "cast": [{k: (cast.get(c) or {}).get(k) for k in ("id", "name", "kind", "visual_description", "palette", "figure")}
                 for c in panel.get("characters") or []],
        "style": style_of(ctx.inputs), "language": ctx.inputs.get("language"),
        "reading_direction": storyboard.get("reading_direction"), "size_px": list(size),
        "references": [r.sha256 for r in references], "feedback": feedback,
    }


def panel_prompts(description: dict, cast: dict[str, dict], style: str) -> tuple[str, str]:
    """The panel's image prompt and the simpler one asked after a refusal (setting, camera, who: no action)."""
    looks = [f"{(cast.get(c) or {}).get('name', c)}: {(cast.get(c) or {}).get('visual_description', '')}"
             for c in description.get("characters") or []]
    prompt = f"Draw one manga panel, {PANEL_STYLE.format(style=style)}. {str(description.get('description', '')).strip()}"
    if looks:
        prompt += "\nCharacters (keep each one's look consistent with their reference sheet): " + " | ".join(looks)
    setting = description.get("setting") or {}
    simple = (f"Draw one quiet manga panel, {PANEL_STYLE.format(style=style)}: a {description.get('camera_angle', 'medium')}"
              f" shot of {setting.get('place') or 'the scene'} at {setting.get('time_of_day', 'day')}"
              + (f", with {len(looks)} calm figure{'s' if len(looks) != 1 else ''}" if looks else "") + ".")
    return prompt, simple


def fit_to(size: tuple[int, int]) -> Any:
    """PNG bytes -> PNG bytes cropped to the panel's shape and scaled to its size (no stretching)."""
    def shape(data: bytes) -> bytes:
        from PIL import Image, ImageOps

        from ..render import panel_art

        with Image.open(io.BytesIO(data)) as image:
            if image.size == tuple(size):
                return data
            fitted = ImageOps.fit(image.convert("RGB"), size, method=Image.Resampling.LANCZOS)
        return panel_art.png_bytes(fitted)

    return shape


# ---------------------------------------------------------------------------------- page mode


def frame_template(page: dict, storyboard: dict) -> tuple[bytes, dict[str, list[int]]]:
    """A page's frames as an input image (white, black frame lines, each frame's reading order written small in
    its corner) and every panel's frame in template pixels."""
    from PIL import Image, ImageDraw

    from ..render import pages, panel_art

    page_w, page_h = tuple(storyboard.get("page_size_px") or pages.PAGE_SIZE_PX)
    sx, sy = TEMPLATE_PX[0] / page_w, TEMPLATE_PX[1] / page_h
    image = Image.new("RGB", TEMPLATE_PX, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    frames = {}
    rects = pages.panel_rects_px(page, (page_w, page_h))
    for panel in page.get("panels", []):
        x, y, w, h = rects[panel["panel_id"]]
        box = [round(x * sx), round(y * sy), max(8, round(w * sx)), max(8, round(h * sy))]
        frames[panel["panel_id"]] = box
        draw.rectangle((box[0], box[1], box[0] + box[2] - 1, box[1] + box[3] - 1), outline=(0, 0, 0), width=4)
        draw.text((box[0] + 8, box[1] + 6), str(panel.get("reading_order", "")), fill=(0, 0, 0))
    return panel_art.png_bytes(image), frames


def page_prompts(page: dict, descriptions: dict[str, dict], cast: dict[str, dict], style: str,
                 direction: str) -> tuple[str, str]:
    order = sorted(page.get("panels", []), key=lambda p: int(p.get("reading_order", 0)))
    frames = [f"Frame {p.get('reading_order')}: {descriptions[p['panel_id']].get('description', '').strip()}"
              for p in order]
    names = [c for p in order for c in descriptions[p["panel_id"]].get("characters") or []]
    looks = [f"{(cast.get(c) or {}).get('name', c)}: {(cast.get(c) or {}).get('visual_description', '')}"
             for c in dict.fromkeys(names)]
    reading = "right to left" if direction == "rtl" else "left to right"
    prompt = (f"Draw one whole manga page, {PANEL_STYLE.format(style=style)}. The first image is the page's frame "
              f"layout: draw each frame's picture inside that frame only, keep the frames exactly where they are and "
              f"the gutters white; the small numbers give the reading order ({reading}, top to bottom) and are not "
              "to be drawn. The other images are character reference sheets.\n" + "\n".join(frames))
    if looks:
        prompt += "\nCharacters (keep each one's look consistent with their reference sheet): " + " | ".join(looks)
    simple = (f"Draw a quiet manga page, {PANEL_STYLE.format(style=style)}, with a calm picture inside each frame of "
              "the first image (the frames exactly where they are, the gutters white, the numbers not drawn).")
    return prompt, simple


def page_plan_uri(ctx: PhaseContext, page: int) -> str:
    """Where `plan` leaves a page's picture and its panels' descriptions for the `panel` calls (page mode)."""
    return f"gs://{settings().bucket('temp_data')}/{page_plan_name(ctx, page)}"


def page_plan_name(ctx: PhaseContext, page: int) -> str:
    return f"requests/{ctx.request_id}/phase5/attempt-{ctx.attempt}/page-{page:03d}.json"


class Images(Phase):
    """Phase 5 works in three named operations: `plan` lists the panels of the chosen storyboard (and in page
    mode draws the pages), `panel` describes and draws one (the workflow fans these out), `collect` gathers
    the set."""

    number, key, title = 5, "images", "panel images"

    def plan(self, ctx: PhaseContext) -> list[str]:
        if image_mode(ctx.request) == "page" and ctx.provider.draws_with_model:
            self.draw_pages(ctx)
        return [panel["panel_id"] for panel in storyboard_panels(ctx.inputs["storyboard"])]

    # ------------------------------------------------------------------ one panel

    def draw_panel(self, ctx: PhaseContext, panel_id: str) -> tuple[dict, str]:
        """Describe and draw one panel; returns its output and which fallback variant was drawn."""
        storyboard = ctx.inputs["storyboard"]
        panel = next((p for p in storyboard_panels(storyboard) if p["panel_id"] == panel_id), None)
        if panel is None:
            raise NotFound(f"panel_id {panel_id!r} is not in the chosen storyboard", field="panel_id")
        kept = self.kept_from_shown(ctx, panel_id)
        if kept is not None:
            return kept
        size = panel_size_px(panel, storyboard)
        prefix = f"requests/{ctx.request_id}/panels"
        description, art = None, None
        references, key = self.panel_key(ctx, panel, size)
        if image_mode(ctx.request) == "page" and ctx.provider.draws_with_model:
            description, art = self._cut_from_page(ctx, panel, size, prefix)
        if description is None:
            description, art = self._ask_panel(ctx, panel, size, prefix, references, key)
        if art.uri is not None:
            variant = "simplified" if art.provenance.get("fallback") == "simplified" else "none"
            uri = art.uri
        else:
            uri, variant = self._draw_procedurally(ctx, panel_id, description, size, prefix)
            if art.provenance.get("fallback") == "procedural" and variant == "none":
                variant = "procedural"
        return {**description, "panel_id": panel_id, "image_uri": uri, "size_px": list(size), "attempt": ctx.attempt,
                "fallback": variant, "provenance": art.provenance, "inputs_sha256": key.rsplit(":", 1)[-1]}, variant

    def finish_page_of(self, ctx: PhaseContext, panel_id: str) -> str | None:
        """After a panel is recorded: when it was the last of its page to be drawn in this attempt, the page is
        lettered and composed now (`phase7_finalize.make_page_ahead`), while the model still draws other panels,
        so phase 7 has only the exports left to write when it runs as phase 6 leaves the page ("pages compose as
        their panels arrive"). Best effort: whatever fails here only leaves the page to phase 7. Returns the
        page's key when it is made (or was already), None otherwise."""
        from . import phase7_finalize

        if not settings().pages_with_panels:
            return None
        try:
            page = next((page for page in ctx.inputs["storyboard"].get("pages", [])
                         if any(str(p.get("panel_id")) == panel_id for p in page.get("panels", []))), None)
            if page is None:
                return None
            wanted = [str(p.get("panel_id")) for p in page.get("panels", [])]
            drawn = {run["panel_id"]: run["output_uri"] for run in ctx.stores.phase_runs.list(ctx.request_id, 5)
                     if run.get("panel_id") in wanted and int(run["attempt"]) == ctx.attempt
                     and run.get("status") == "succeeded" and run.get("output_uri")}
            if len(drawn) < len(set(wanted)):
                return None   # another panel of the page is still to come; its call makes the page
            descriptions = dict(zip(wanted, phase7_finalize.side_by_side(
                *(functools.partial(ctx.stores.artifacts.get_json, drawn[pid]) for pid in wanted))))
            return phase7_finalize.make_page_ahead(ctx, page, descriptions,
                                                   drawing_threads(settings().drawings_at_once))
        except Exception as err:  # noqa: BLE001 - phase 7 composes any page not made here
            log_event("a page could not be made with its panels; phase 7 will compose it", logging.WARNING,
                      request_id=ctx.request_id, panel_id=panel_id, error=str(err))
            return None

    def kept_from_shown(self, ctx: PhaseContext, panel_id: str) -> tuple[dict, str] | None:
        """A one-panel redo (`regenerate_panel:<panel>`, from the gate) keeps every other panel of the version
        shown at the gate exactly as it was: no description, no drawing, no model call."""
        feedback = ctx.feedback or {}
        target = feedback.get("value") if feedback.get("option") == "regenerate_panel" else None
        base = feedback.get("base_attempt")
        if not target or not base or target == panel_id:
            return None
        row = ctx.stores.phase_runs.find(ctx.request_id, 5, int(base), panel_id=panel_id)
        if not row or not row.get("output_uri"):
            return None
        shown = ctx.stores.artifacts.get_json(row["output_uri"])
        return {**shown, "attempt": ctx.attempt, "kept_from": int(shown.get("kept_from") or base)}, \
            str(shown.get("fallback") or "none")

    @staticmethod
    def panel_key(ctx: PhaseContext, panel: dict, size: tuple[int, int]) -> tuple[tuple[Reference, ...], str]:
        """The reference sheets a panel is drawn with and its `inputs:` key: the content hash of exactly what
        its picture is made from (`panel_parts`), so only a panel whose own inputs changed is drawn again."""
        from ..providers import images

        references = sheets_for(ctx, panel.get("characters") or []) if ctx.provider.draws_with_model else ()
        model = str(getattr(ctx.provider, "image_model", None) or getattr(ctx.provider, "text_model", "none"))
        return references, images.inputs_key("panel", model, panel_parts(ctx, panel, size, references))

    def _ask_panel(self, ctx: PhaseContext, panel: dict, size: tuple[int, int], prefix: str,
                   references: tuple[Reference, ...], key: str) -> tuple[dict, Any]:
        from ..providers import images

        painter = images.Painter(ctx.stores, ctx.request, ctx.attempt, ctx.provider, ctx.feedback)
        job = ImageJob("panel", panel["panel_id"], "", size, references, images.seed_of(key))
        cached = painter.cached(job, key)
        if cached is not None and cached.description:
            return {**cached.description, "panel_id": panel["panel_id"]}, cached
        description = describe_panel(ctx.inputs, panel["panel_id"], ctx.feedback, ctx.provider)
        prompt, simple = panel_prompts(description, cast_of(ctx.inputs), style_of(ctx.inputs))
        art = painter.paint(replace(job, prompt=prompt), key=key, simple_prompt=simple, prefix=prefix,
                            description=description, shape=fit_to(size))
        return description, art

    def _draw_procedurally(self, ctx: PhaseContext, panel_id: str, description: dict, size: tuple[int, int],
                           prefix: str) -> tuple[str, str]:
        from ..render import panel_art

        characters = ctx.inputs["characters"].get("characters", [])
        last_error: Exception | None = None
        for variant in PANEL_FALLBACKS:
            try:
                data = drawing_threads(settings().drawings_at_once).submit(
                    lambda: panel_art.png_bytes(panel_art.draw_panel(description, characters, size,
                                                                     style=style_of(ctx.inputs),
                                                                     variant=variant))).result()
                break
            except Exception as err:  # noqa: BLE001 - a panel never fails the manga
                last_error = err
                log_event("panel drawing fell back", logging.WARNING, request_id=ctx.request_id, panel_id=panel_id,
                          variant=variant, error=str(err))
        else:
            raise RenderError(f"panel {panel_id} could not be drawn even as a placeholder: {last_error}")
        return ctx.stores.artifacts.put_bytes("output_images", data, "image/png", prefix=prefix), variant

    # ------------------------------------------------------------------ page mode

    def draw_pages(self, ctx: PhaseContext) -> None:
        """Page mode's `plan`: every page of the storyboard asked for in one image call (pages and panel
        descriptions side by side, at most the request's concurrency at once); each page's picture and its
        panels' descriptions are left at `page_plan_uri` for the panel calls. A page already planned (a
        retried call) is not asked again."""
        from ..providers import images

        storyboard = ctx.inputs["storyboard"]
        painter = images.Painter(ctx.stores, ctx.request, ctx.attempt, ctx.provider, ctx.feedback)
        limit = max(1, int((ctx.request.get("options") or {}).get("concurrency_limit") or 5))
        todo = [page for page in storyboard.get("pages", [])
                if not ctx.stores.artifacts.exists(page_plan_uri(ctx, int(page["page"])))]
        jobs = {}
        for page in todo:
            template, frames = frame_template(page, storyboard)
            names = [c for p in page.get("panels", []) for c in p.get("characters") or []]
            references = (images.reference("frames", template), *sheets_for(ctx, names)[:2])
            parts = {"frames": frames, "references": [r.sha256 for r in references],
                     "panels": [panel_parts(ctx, p, panel_size_px(p, storyboard), ()) for p in page.get("panels", [])]}
            key = images.inputs_key("page", painter.model, parts)
            job = ImageJob("page", str(page["page"]), "", TEMPLATE_PX, references, images.seed_of(key))
            jobs[int(page["page"])] = (page, frames, key, job, painter.cached(job, key))
        describe = [(p["panel_id"]) for page, _, _, _, hit in jobs.values() if not (hit and hit.description)
                    for p in page.get("panels", [])]
        with ThreadPoolExecutor(max_workers=limit) as pool:
            described = dict(zip(describe, pool.map(
                lambda pid: describe_panel(ctx.inputs, pid, ctx.feedback, ctx.provider), describe)))
            list(pool.map(lambda number: self._draw_page(ctx, painter, jobs[number], described), list(jobs)))

    def _draw_page(self, ctx: PhaseContext, painter: Any, planned: tuple, described: dict[str, dict]) -> None:
        page, frames, key, job, hit = planned
        direction = ctx.inputs["storyboard"].get("reading_direction") or "rtl"
        if hit is not None and hit.description:
            descriptions, art = hit.description, hit
        else:
            descriptions = {p["panel_id"]: described[p["panel_id"]] for p in page.get("panels", [])}
            prompt, simple = page_prompts(page, descriptions, cast_of(ctx.inputs), style_of(ctx.inputs), direction)
            art = painter.paint(replace(job, prompt=prompt), key=key, simple_prompt=simple,
                                prefix=f"requests/{ctx.request_id}/pages", description=descriptions)
        plan = {"page": int(page["page"]), "image_uri": art.uri, "provenance": art.provenance,
                "descriptions": descriptions, "frames": frames, "template_px": list(TEMPLATE_PX)}
        ctx.stores.artifacts.put_named("temp_data", page_plan_name(ctx, int(page["page"])),
                                       json.dumps(plan, ensure_ascii=False).encode("utf-8"),
                                       "application/json")

    def _cut_from_page(self, ctx: PhaseContext, panel: dict, size: tuple[int, int],
                       prefix: str) -> tuple[dict | None, Any]:
        """Page mode's `panel` call: this panel cut out of its page's picture along its frame. (None, None)
        when `plan` left no page plan (the panel is then asked for alone)."""
        from PIL import Image

        from ..providers.images import Artwork
        from ..render import png_files

        page = next(p for p in ctx.inputs["storyboard"]["pages"] if any(q["panel_id"] == panel["panel_id"]
                                                                       for q in p["panels"]))
        uri = page_plan_uri(ctx, int(page["page"]))
        if not ctx.stores.artifacts.exists(uri):
            return None, None
        plan = ctx.stores.artifacts.get_json(uri)
        description = {**plan["descriptions"][panel["panel_id"]], "panel_id": panel["panel_id"]}
        shared = len(plan["descriptions"]) or 1
        provenance = {**plan["provenance"], "page": plan["page"],
                      "cost_usd": round(float(plan["provenance"].get("cost_usd") or 0) / shared, 8),
                      "page_cost_usd": plan["provenance"].get("cost_usd")}
        if not plan.get("image_uri"):
            return description, Artwork(None, provenance)
        with Image.open(io.BytesIO(ctx.stores.artifacts.get_bytes(plan["image_uri"]))) as image:
            sx, sy = image.width / plan["template_px"][0], image.height / plan["template_px"][1]
            x, y, w, h = plan["frames"][panel["panel_id"]]
            crop = (round(x * sx), round(y * sy), round((x + w) * sx), round((y + h) * sy))
            cut = image.convert("RGB").crop(crop)
        data = fit_to(size)(png_files.png_bytes(cut, compress_level=1))
        provenance["crop_px"] = list(crop)
        return description, Artwork(ctx.stores.artifacts.put_bytes("output_images", data, "image/png", prefix=prefix),
                                    provenance)

    # ------------------------------------------------------------------ the set

    def produce(self, ctx: PhaseContext) -> dict:
        """`collect`: every panel of this attempt, in storyboard order."""
        from ..providers import images

        runs = {run["panel_id"]: run for run in ctx.stores.phase_runs.list(ctx.request_id, 5)
                if run.get("panel_id") and int(run["attempt"]) == ctx.attempt and run.get("status") == "succeeded"}
        missing = [p["panel_id"] for p in storyboard_panels(ctx.inputs["storyboard"]) if p["panel_id"] not in runs]
        if missing:
            raise Conflict(f"panels not drawn for attempt {ctx.attempt}: {', '.join(missing[:10])}", field="panel_id")
        # Read side by side: `collect` is on the critical path, and 28 reads one after another took about
        # 0.1 s of a book (bench/RESULTS.md, "Fixed costs").
        uris = [runs[p["panel_id"]]["output_uri"] for p in storyboard_panels(ctx.inputs["storyboard"])]
        with ThreadPoolExecutor(max_workers=min(COLLECT_READS, len(uris) or 1)) as pool:
            descriptions = list(pool.map(ctx.stores.artifacts.get_json, uris))
        art = images.art_summary([d.get("provenance") or {} for d in descriptions],
                                 ctx.stores.model_calls.budget(ctx.request_id))
        return {"image_descriptions": descriptions, "reuse": reuse_of(descriptions),
                "story_context": ctx.inputs["storyboard"].get("story_context", {}),
                "characters": ctx.inputs["characters"].get("characters", []), "image_mode": image_mode(ctx.request),
                "art": art, "processing_metadata": {"phase": 5, "timestamp": now_iso(), "status": "completed"}}

    def summarise(self, output: dict) -> str:
        from ..providers.images import describe_art

        images = output.get("image_descriptions", [])
        fallbacks = sum(1 for i in images if i.get("fallback") not in (None, "none"))
        kept = [i for i in images if i.get("kept_from")]
        if kept:
            redone = [i["panel_id"] for i in images if not i.get("kept_from")]
            lines = [f"{', '.join(redone)} redrawn, {len(kept)} other panels kept as they were, {fallbacks} fallbacks"]
        else:
            lines = [f"{len(images)} panels drawn, {fallbacks} fallbacks"]
        reuse = output.get("reuse") or {}
        if reuse.get("reused"):
            redrawn = reuse.get("redrawn_panels") or []
            lines.append(f"reused {reuse['reused']} panels whose inputs did not change (from "
                         f"{', '.join(reuse.get('from_requests') or [])}); drew {len(redrawn)} again"
                         + (f": {', '.join(redrawn)}" if redrawn else ""))
        if output.get("art"):
            lines.append(describe_art(output["art"], f"panels ({output.get('image_mode', 'panel')} mode)"))
        return "\n".join(lines)

    def artifacts(self, output: dict) -> list[str]:
        return [i["image_uri"] for i in output.get("image_descriptions", []) if i.get("image_uri")]


def reuse_of(descriptions: list[dict]) -> dict:
    """Which panels came from an earlier picture with the same inputs (the cache), and which were drawn."""
    by_source: dict[str, list[str]] = {"cache": [], "model": [], "procedural": []}
    sources: set[str] = set()
    for d in descriptions:
        provenance = d.get("provenance") or {}
        by_source.setdefault(provenance.get("source") or "procedural", []).append(d["panel_id"])
        if provenance.get("source") == "cache" and (provenance.get("cache") or {}).get("request_id"):
            sources.add(provenance["cache"]["request_id"])
    return {"reused": len(by_source["cache"]), "redrawn": len(by_source["model"]),
            "procedural": len(by_source["procedural"]), "reused_panels": by_source["cache"],
            "redrawn_panels": by_source["model"], "from_requests": sorted(sources)}


register(Images())
