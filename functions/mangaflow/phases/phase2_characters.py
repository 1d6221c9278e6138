"""Phase 2, characters: the story's people with roles, personalities, palettes and figures, and a reference
sheet for each of the (at most two) main characters: from the image model when the request's provider has
one (cached, budgeted, a simpler prompt after a refusal), else, or when the model fails, the procedural sheet.
"""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

from ..providers.base import ImageJob, Provider
from . import finish
from .registry import Phase, PhaseContext, register

SHEET_ASK_PX = (1024, 1024)  # what the image model is asked for (1:1)
SHEET_KEEP_PX = 768  # what is kept: one 768x768 tile, the cheapest reference to send with every panel
PROCEDURAL_SHEET_PX = 512


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: add_character, remove_character, personality, visual."""
    return finish(2, provider.characters(inputs, feedback), inputs, provider, feedback)


def sheet_prompts(character: dict, style: str) -> tuple[str, str]:
    """The sheet's prompt and the simpler one asked after a refusal."""
    palette = character.get("palette") or {}
    figure = character.get("figure") or {}
    look = str(character.get("visual_description") or "").strip()
    prompt = (f"A character reference sheet for a {style} manga: one person drawn full-figure from the front, in "
              "three-quarter view, and as a bust with three expressions (neutral, smiling, angry), on a plain white "
              "ground; black ink line art with screentone shading and flat colour accents; no text, no labels. "
              f"{character.get('name', '')}: {look}. Colours: hair {palette.get('hair')}, skin {palette.get('skin')}, "
              f"outfit {palette.get('outfit')}, accent {palette.get('accent')}. Build {figure.get('build', 'average')}, "
              f"age {figure.get('age', 'adult')}, hair style {figure.get('hair_style', 'short')}.")
    simple = f"A simple full-figure drawing of one manga character standing on a white ground, front view, no text. {look}"
    return prompt, simple


def sheet_inputs(character: dict, style: str) -> dict:
    """What a sheet is made from: the character's look (not their personality or relationships) and the style."""
    return {"name": character.get("name"), "kind": character.get("kind"),
            "visual_description": character.get("visual_description"), "palette": character.get("palette"),
            "figure": character.get("figure"), "style": style}


def keep_sheet(data: bytes) -> bytes:
    """The model's sheet reduced to one 768 px tile, as PNG."""
    from PIL import Image

    from ..render import panel_art

    with Image.open(io.BytesIO(data)) as image:
        sheet = image.convert("RGB")
    sheet.thumbnail((SHEET_KEEP_PX, SHEET_KEEP_PX))
    return panel_art.png_bytes(sheet)


def draw_sheet(ctx: PhaseContext, painter: object, character: dict, style: str) -> dict:
    """One main character's reference sheet: {character_id, uri, provenance}."""
    from ..providers import images
    from ..render import panel_art

    prompt, simple = sheet_prompts(character, style)
    key = images.inputs_key("sheet", painter.model, sheet_inputs(character, style))  # type: ignore[attr-defined]
    job = ImageJob("sheet", str(character["id"]), prompt, SHEET_ASK_PX, seed=images.seed_of(key))
    prefix = f"requests/{ctx.request_id}/characters"
    art = painter.cached(job, key) or painter.paint(job, key=key, simple_prompt=simple, prefix=prefix,  # type: ignore[attr-defined]
                                                    shape=keep_sheet)
    uri = art.uri or ctx.stores.artifacts.put_bytes(
        "output_images", panel_art.png_bytes(panel_art.draw_character_sheet(character, PROCEDURAL_SHEET_PX)),
        "image/png", prefix=prefix)
    return {"character_id": character["id"], "uri": uri, "provenance": art.provenance}


class Characters(Phase):
    """The cast, and a reference sheet drawn for each of the (at most two) main characters."""

    number, key, title = 2, "characters", "characters"

    def produce(self, ctx: PhaseContext) -> dict:
        from ..providers import images

        output = run(ctx.inputs, ctx.feedback, ctx.provider)
        cast = output.get("characters", [])
        main = [c for c in cast if c.get("role") in ("protagonist", "deuteragonist")][:2] or cast[:2]
        style = ctx.inputs.get("style") or (ctx.inputs.get("concept") or {}).get("genre") or "shojo"
        painter = images.Painter(ctx.stores, ctx.request, ctx.attempt, ctx.provider, ctx.feedback)
        with ThreadPoolExecutor(max_workers=max(1, len(main))) as pool:  # the sheets are asked for side by side
            output["reference_images"] = list(pool.map(lambda c: draw_sheet(ctx, painter, c, style), main))
        output["art"] = images.art_summary([r["provenance"] for r in output["reference_images"]],
                                           ctx.stores.model_calls.budget(ctx.request_id))
        return output

    def summarise(self, output: dict) -> str:
        lines = [f"{c.get('name')} ({c.get('role')}): {c.get('personality')}" for c in output.get("characters", [])]
        if output.get("art"):
            from ..providers.images import describe_art

            lines.append(describe_art(output["art"], "reference sheets"))
        return "\n".join(lines)

    def artifacts(self, output: dict) -> list[str]:
        return [ref["uri"] for ref in output.get("reference_images", []) if ref.get("uri")]


register(Characters())
