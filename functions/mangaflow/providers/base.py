"""The interface every text provider (offline rules, Vertex AI, a latency simulator) implements.

One method per phase that needs judgement; phase modules add what is the same for every provider
(carrying context forward, metadata, shape checks).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

Feedback = dict | None


@runtime_checkable
class Provider(Protocol):
    """Writes each phase's content. Every method returns plain JSON-able dicts (see docs/data-model.md)."""

    name: str

    def concept(self, inputs: dict, feedback: Feedback) -> dict:
        """Phase 1: theme, themes, genre, world_setting, target_audience, tone, keywords, estimated_pages, story_context."""
        ...

    def characters(self, inputs: dict, feedback: Feedback) -> dict:
        """Phase 2: characters (with palette and figure), relationships, reference_requests."""
        ...

    def plot(self, inputs: dict, feedback: Feedback) -> dict:
        """Phase 3: story_structure, scenes (with beats), emotional_arc, page_allocation."""
        ...

    def storyboard(self, inputs: dict, feedback: Feedback) -> dict:
        """Phase 4: reading_direction, page_size_px, pages of panels (bbox, camera, dialogues)."""
        ...

    def panel_description(self, inputs: dict, panel_id: str, feedback: Feedback) -> dict:
        """Phase 5 (text part): description, characters, setting, mood, camera_angle, staging for one panel."""
        ...
