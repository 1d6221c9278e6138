"""The offline provider: deterministic rules over the story text, the default without Vertex AI."""
from __future__ import annotations

from . import _cast, _concept, _name, _plot, _staging
from .base import Feedback


class OfflineProvider:
    """Same story and options give the same output; no network, no randomness."""

    name = "offline"

    def concept(self, inputs: dict, feedback: Feedback) -> dict:
        return _concept.concept(inputs, feedback)

    def characters(self, inputs: dict, feedback: Feedback) -> dict:
        return _cast.characters(inputs, feedback)

    def plot(self, inputs: dict, feedback: Feedback) -> dict:
        return _plot.plot(inputs, feedback)

    def storyboard(self, inputs: dict, feedback: Feedback) -> dict:
        return _name.storyboard(inputs, feedback)

    def panel_description(self, inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        return _staging.describe(inputs, panel_id, feedback)
