"""Phase 2, characters: the story's people with roles, personalities, palettes and figures.

Reference images are drawn beside this output by the service (at most two main characters).
"""
from __future__ import annotations

from ..providers.base import Provider
from . import finish


def run(inputs: dict, feedback: dict | None, provider: Provider) -> dict:
    """Feedback options: add_character, remove_character, personality, visual."""
    return finish(2, provider.characters(inputs, feedback), inputs, provider, feedback)
