"""Phase 2, characters: the story's people with roles, personalities, palettes and figures.

Reference images are drawn beside this output by the service (at most two main characters).
"""
from __future__ import annotations

from ..providers.base import Provider
from . import finish
from .registry import Phase, PhaseContext, register


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: add_character, remove_character, personality, visual."""
    return finish(2, provider.characters(inputs, feedback), inputs, provider, feedback)


class Characters(Phase):
    """The cast, and a reference sheet drawn for each of the (at most two) main characters."""

    number, key, title = 2, "characters", "characters"

    def produce(self, ctx: PhaseContext) -> dict:
        from ..render import panel_art

        output = run(ctx.inputs, ctx.feedback, ctx.provider)
        cast = output.get("characters", [])
        main = [c for c in cast if c.get("role") in ("protagonist", "deuteragonist")][:2] or cast[:2]
        output["reference_images"] = [
            {"character_id": character["id"],
             "uri": ctx.stores.artifacts.put_bytes(
                 "output_images", panel_art.png_bytes(panel_art.draw_character_sheet(character, 512)), "image/png",
                 prefix=f"requests/{ctx.request_id}/characters")}
            for character in main]
        return output

    def summarise(self, output: dict) -> str:
        return "\n".join(f"{c.get('name')} ({c.get('role')}): {c.get('personality')}"
                         for c in output.get("characters", []))

    def artifacts(self, output: dict) -> list[str]:
        return [ref["uri"] for ref in output.get("reference_images", []) if ref.get("uri")]


register(Characters())
