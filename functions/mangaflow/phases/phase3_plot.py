"""Phase 3, plot and structure: scenes in story order with acts, settings, emotions and beats."""
from __future__ import annotations

from ..providers.base import Provider
from . import finish
from .registry import Phase, PhaseContext, register


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: faster_pacing, slower_pacing, stronger_climax, add_episode."""
    return finish(3, provider.plot(inputs, feedback), inputs, provider, feedback)


class Plot(Phase):
    number, key, title = 3, "plot", "plot"

    def produce(self, ctx: PhaseContext) -> dict:
        return run(ctx.inputs, ctx.feedback, ctx.provider)

    def summarise(self, output: dict) -> str:
        return "\n".join(f"{s.get('scene_id')} [{s.get('emotion')}] {str(s.get('description'))[:80]}"
                         for s in output.get("scenes", []))


register(Plot())
