"""Phase 1, concept and world analysis: theme, genre, tone, audience, world and story_context."""
from __future__ import annotations

from ..providers.base import Provider
from . import finish


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: brighter, more_serious, change_genre, change_target_age (see PIPELINE.md)."""
    return finish(1, provider.concept(inputs, feedback), inputs, provider, feedback)
