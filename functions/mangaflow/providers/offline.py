"""The offline provider: the deterministic rules of `mangaflow.offline` behind the Provider interface.
Its calls go through the scope like any model's (the fault switch and deadlines apply to them too)."""
from __future__ import annotations

from typing import Any, Callable

from .. import offline
from ..errors import UpstreamUnavailable
from .base import Feedback, ImageJob
from .calls import CallScope, CallSpec, Reply, unrecorded

RULES_MODEL = "offline-rules"


class OfflineProvider:
    """Same story and options give the same output; no network, no randomness. It has no image model:
    panels and sheets are the procedural storyboard drawings."""

    name = "offline"
    text_model = RULES_MODEL
    draws_with_model = False

    def __init__(self, scope: CallScope | None = None) -> None:
        self.scope = scope or unrecorded()

    def _rules(self, operation: str, rule: Callable[[], dict], item: str = "") -> dict:
        spec = CallSpec(operation, "text", self.name, self.text_model, item=item)
        return self.scope.call(spec, lambda: Reply(rule(), model_version=self.text_model)).reply.value

    def concept(self, inputs: dict, feedback: Feedback) -> dict:
        return self._rules("concept", lambda: offline.concept(inputs, feedback))

    def characters(self, inputs: dict, feedback: Feedback) -> dict:
        return self._rules("characters", lambda: offline.characters(inputs, feedback))

    def plot(self, inputs: dict, feedback: Feedback) -> dict:
        return self._rules("plot", lambda: offline.plot(inputs, feedback))

    def storyboard(self, inputs: dict, feedback: Feedback) -> dict:
        return self._rules("storyboard", lambda: offline.storyboard(inputs, feedback))

    def panel_description(self, inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        return self._rules("panel_description", lambda: offline.describe(inputs, panel_id, feedback), item=panel_id)

    def translate(self, lines: list[dict], source: str, target: str) -> dict:
        return self._rules("translate", lambda: offline.translate(lines, source, target))

    def image(self, job: ImageJob) -> Any:
        raise UpstreamUnavailable("the offline provider has no image model; it draws procedural storyboards")
