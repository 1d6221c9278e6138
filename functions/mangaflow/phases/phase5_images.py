"""Phase 5, scene images: the text part. `describe_panel` turns one storyboard panel into a picture
description and the staging of its figures; the drawing is done from it by the render package.
"""
from __future__ import annotations

import logging

from ..errors import Conflict, NotFound, RenderError, ValidationError
from ..logs import log_event
from ..providers.base import Provider
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


# A panel that could not be drawn as asked falls back to a simplified drawing, then a placeholder:
# a weaker panel, never a failed manga. Each variant has its own score.
PANEL_FALLBACKS = ("none", "simplified", "placeholder")
PANEL_SCORES = {"none": 1.0, "simplified": 0.7, "placeholder": 0.5}


def storyboard_panels(storyboard: dict) -> list[dict]:
    return [panel for page in storyboard.get("pages", []) for panel in page.get("panels", [])]


def panel_size_px(panel: dict, storyboard: dict) -> tuple[int, int]:
    """The panel's size on its page, so the art is drawn once at the size it is printed."""
    from ..render import pages

    page = next(p for p in storyboard.get("pages", []) if any(q["panel_id"] == panel["panel_id"] for q in p["panels"]))
    _, _, width, height = pages.panel_rects_px(page, tuple(storyboard.get("page_size_px") or pages.PAGE_SIZE_PX))[
        panel["panel_id"]]
    return int(width), int(height)


class Images(Phase):
    """Phase 5 works in three named operations: `plan` lists the panels of the chosen storyboard,
    `panel` describes and draws one (the workflow fans these out), `collect` gathers the set."""

    number, key, title = 5, "images", "panel images"

    def plan(self, ctx: PhaseContext) -> list[str]:
        return [panel["panel_id"] for panel in storyboard_panels(ctx.inputs["storyboard"])]

    def draw_panel(self, ctx: PhaseContext, panel_id: str) -> tuple[dict, str]:
        """Describe and draw one panel; returns its output and which fallback variant was drawn."""
        from ..render import panel_art

        storyboard = ctx.inputs["storyboard"]
        panel = next((p for p in storyboard_panels(storyboard) if p["panel_id"] == panel_id), None)
        if panel is None:
            raise NotFound(f"panel_id {panel_id!r} is not in the chosen storyboard", field="panel_id")
        description = describe_panel(ctx.inputs, panel_id, ctx.feedback, ctx.provider)
        size = panel_size_px(panel, storyboard)
        characters = ctx.inputs["characters"].get("characters", [])
        style = ctx.inputs.get("style") or ctx.inputs["concept"].get("genre") or "shojo"
        last_error: Exception | None = None
        for variant in PANEL_FALLBACKS:
            try:
                data = panel_art.png_bytes(panel_art.draw_panel(description, characters, size, style=style,
                                                                variant=variant))
                break
            except Exception as err:  # noqa: BLE001 - a panel never fails the manga
                last_error = err
                log_event("panel drawing fell back", logging.WARNING, request_id=ctx.request_id, panel_id=panel_id,
                          variant=variant, error=str(err))
        else:
            raise RenderError(f"panel {panel_id} could not be drawn even as a placeholder: {last_error}")
        uri = ctx.stores.artifacts.put_bytes("output_images", data, "image/png",
                                             prefix=f"requests/{ctx.request_id}/panels")
        return {**description, "panel_id": panel_id, "image_uri": uri, "size_px": list(size),
                "attempt": ctx.attempt, "fallback": variant}, variant

    def produce(self, ctx: PhaseContext) -> dict:
        """`collect`: every panel of this attempt, in storyboard order."""
        runs = {run["panel_id"]: run for run in ctx.stores.phase_runs.list(ctx.request_id, 5)
                if run.get("panel_id") and int(run["attempt"]) == ctx.attempt and run.get("status") == "succeeded"}
        missing = [p["panel_id"] for p in storyboard_panels(ctx.inputs["storyboard"]) if p["panel_id"] not in runs]
        if missing:
            raise Conflict(f"panels not drawn for attempt {ctx.attempt}: {', '.join(missing[:10])}", field="panel_id")
        descriptions = [ctx.stores.artifacts.get_json(runs[p["panel_id"]]["output_uri"])
                        for p in storyboard_panels(ctx.inputs["storyboard"])]
        return {"image_descriptions": descriptions, "story_context": ctx.inputs["storyboard"].get("story_context", {}),
                "characters": ctx.inputs["characters"].get("characters", []),
                "processing_metadata": {"phase": 5, "timestamp": now_iso(), "status": "completed"}}

    def summarise(self, output: dict) -> str:
        images = output.get("image_descriptions", [])
        fallbacks = sum(1 for i in images if i.get("fallback") not in (None, "none"))
        return f"{len(images)} panels drawn, {fallbacks} fallbacks"

    def artifacts(self, output: dict) -> list[str]:
        return [i["image_uri"] for i in output.get("image_descriptions", []) if i.get("image_uri")]


register(Images())
