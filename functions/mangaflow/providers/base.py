"""The interface every provider (offline rules, Vertex AI, a latency simulator) implements.

One method per phase that needs judgement, and `image` for pictures; phase modules add what is the
same for every provider (carrying context forward, metadata, shape checks). Every call a provider
makes goes through its CallScope (`providers.calls`): deadline, retries, faults, budget, records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Feedback = dict | None


@dataclass(frozen=True)
class Reference:
    """An image the model is shown: a character sheet or a page's frame template."""

    label: str
    data: bytes
    sha256: str
    size_px: tuple[int, int]


@dataclass(frozen=True)
class ImageJob:
    """One picture to ask an image model for: a character sheet, a panel, or a whole page (page mode,
    with the frame template first among the references)."""

    kind: str  # sheet | panel | page
    item: str  # the character id, panel id or page number it is for
    prompt: str
    size_px: tuple[int, int]
    references: tuple[Reference, ...] = field(default_factory=tuple)
    seed: int | None = None


@runtime_checkable
class Provider(Protocol):
    """Writes each phase's content. Every method returns plain JSON-able dicts (see docs/data-model.md)."""

    name: str
    # True when `image` asks a model (the picture may be cached, budgeted, refused); the offline
    # provider draws procedural storyboards instead and says so.
    draws_with_model: bool

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

    def translate(self, lines: list[dict], source: str, target: str) -> dict:
        """A finished book's lines ({"id", "text", "kind"}) in the target language: {"lines": [{"id", "text"}]}
        (a TranslationAnswer). Text only: a translation never asks for a picture."""
        ...

    def image(self, job: ImageJob) -> "object":
        """One try of `job` through the provider's scope: a calls.Outcome whose reply holds PNG bytes (or
        `blocked` with the reason no image came). Raises BudgetExhausted, CallFailed, UpstreamUnavailable."""
        ...
