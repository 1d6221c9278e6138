"""The offline provider: the deterministic rules of `mangaflow.offline` behind the Provider interface."""
from __future__ import annotations

from .. import offline
from .base import Feedback


class OfflineProvider:
    """Same story and options give the same output; no network, no randomness."""

    name = "offline"

    def concept(self, inputs: dict, feedback: Feedback) -> dict:
        return offline.concept(inputs, feedback)

    def characters(self, inputs: dict, feedback: Feedback) -> dict:
        return offline.characters(inputs, feedback)

    def plot(self, inputs: dict, feedback: Feedback) -> dict:
        return offline.plot(inputs, feedback)

    def storyboard(self, inputs: dict, feedback: Feedback) -> dict:
        return offline.storyboard(inputs, feedback)

    def panel_description(self, inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        return offline.describe(inputs, panel_id, feedback)
