"""Phase 1, concept and world analysis: theme, genre, tone, audience, world and story_context."""
from __future__ import annotations

from ..providers.base import Provider
from . import finish
from .registry import Phase, PhaseContext, register


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: brighter, more_serious, change_genre, change_target_age (see PIPELINE.md)."""
    return finish(1, provider.concept(inputs, feedback), inputs, provider, feedback)


class Concept(Phase):
    number, key, title = 1, "concept", "concept"

    def produce(self, ctx: PhaseContext) -> dict:
        return run(ctx.inputs, ctx.feedback, ctx.provider)

    def summarise(self, output: dict) -> str:
        return (f"genre {output.get('genre')}, tone {output.get('tone')}, theme: {output.get('theme')}\n"
                f"keywords: {', '.join(map(str, output.get('keywords', [])[:8]))}")


register(Concept())
