"""The offline provider plus a configurable sleep per call, standing in for a slow model in latency tests."""
from __future__ import annotations

import time

from ..config import settings
from .base import Feedback
from .offline import OfflineProvider

PHASE_METHODS = ("concept", "characters", "plot", "storyboard", "panel_description")


class SimulatedProvider(OfflineProvider):
    """Sleeps `latency_s` (one number, or a mapping method name -> seconds) before each call.

    Default from the environment: MANGAFLOW_SIMULATED_LATENCY_S (seconds, default 0.05).
    """

    name = "simulated"

    def __init__(self, latency_s: float | dict[str, float] | None = None) -> None:
        if latency_s is None:
            latency_s = settings().simulated_latency_s
        self.latency_s = latency_s
        self.calls: dict[str, int] = {m: 0 for m in PHASE_METHODS}

    def _wait(self, method: str) -> None:
        self.calls[method] += 1
        delay = self.latency_s.get(method, 0.0) if isinstance(self.latency_s, dict) else self.latency_s
        if delay > 0:
            time.sleep(delay)

    def concept(self, inputs: dict, feedback: Feedback) -> dict:
        self._wait("concept")
        return super().concept(inputs, feedback)

    def characters(self, inputs: dict, feedback: Feedback) -> dict:
        self._wait("characters")
        return super().characters(inputs, feedback)

    def plot(self, inputs: dict, feedback: Feedback) -> dict:
        self._wait("plot")
        return super().plot(inputs, feedback)

    def storyboard(self, inputs: dict, feedback: Feedback) -> dict:
        self._wait("storyboard")
        return super().storyboard(inputs, feedback)

    def panel_description(self, inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        self._wait("panel_description")
        return super().panel_description(inputs, panel_id, feedback)
