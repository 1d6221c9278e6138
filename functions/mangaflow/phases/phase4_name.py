"""Phase 4, the name (storyboard): exactly `pages` pages of tiled panels carrying every quoted line."""
from __future__ import annotations

from ..providers.base import Provider
from . import finish
from .registry import Phase, PhaseContext, register


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: panel_layout, composition, camera_angle, direction."""
    body = provider.storyboard(inputs, feedback)
    plot = inputs.get("plot") if isinstance(inputs.get("plot"), dict) else {}
    body.setdefault("scenes", list(plot.get("scenes") or []) or _offline_scenes(inputs))
    return finish(4, body, inputs, provider, feedback)


def _offline_scenes(inputs: dict) -> list[dict]:
    # called without phase 3 (a direct call): the scenes the storyboard was cut from
    from ..offline.plot import plot

    return plot(inputs, None)["scenes"]


class Storyboard(Phase):
    number, key, title = 4, "storyboard", "name (storyboard)"

    def produce(self, ctx: PhaseContext) -> dict:
        return run(ctx.inputs, ctx.feedback, ctx.provider)

    def summarise(self, output: dict) -> str:
        pages = output.get("pages", [])
        return (f"{len(pages)} pages, {sum(len(p.get('panels', [])) for p in pages)} panels, "
                f"reading {output.get('reading_direction')}")


register(Storyboard())
