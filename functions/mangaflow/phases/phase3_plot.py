"""Phase 3, plot and structure: scenes in story order with acts, settings, emotions and beats."""
from __future__ import annotations

from ..providers.base import Provider
from . import finish


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: faster_pacing, slower_pacing, stronger_climax, add_episode."""
    return finish(3, provider.plot(inputs, feedback), inputs, provider, feedback)
