"""The seven phases; each module exposes `run(inputs, feedback, provider) -> dict` (docs/data-model.md).

`finish` is the envelope every text phase shares: the body from the provider, the context carried
forward (story_context, characters, scenes) and processing_metadata.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..hitl.options import QUICK_OPTIONS

__all__ = ["QUICK_OPTIONS", "characters_of", "finish", "now_iso", "story_context_of"]


def now_iso() -> str:
    """Timezone-aware UTC timestamp for processing_metadata."""
    return datetime.now(timezone.utc).isoformat()


def story_context_of(inputs: dict) -> dict:
    """The story_context phase 1 made, or a minimal one built from the request."""
    concept = inputs.get("concept") if isinstance(inputs.get("concept"), dict) else {}
    context = concept.get("story_context") if isinstance(concept.get("story_context"), dict) else None
    if context is not None:
        return dict(context)
    from ..offline.common import language_of, pages_of, reading_direction, style_of

    language = language_of(inputs)
    return {"language": language, "title": str(inputs.get("title") or ""), "summary": "",
            "style": style_of(inputs), "pages": pages_of(inputs), "reading_direction": reading_direction(language)}


def characters_of(inputs: dict) -> list[dict]:
    """Phase 2's character list (inputs hold phase 2's whole output under `characters`)."""
    chars = inputs.get("characters")
    if isinstance(chars, dict):
        chars = chars.get("characters")
    return list(chars) if isinstance(chars, list) else []


def finish(phase: int, body: dict, inputs: dict, provider: object, feedback: dict | None) -> dict:
    """Add the carried-forward context and processing_metadata to a provider's phase body."""
    output = dict(body)
    output.setdefault("story_context", story_context_of(inputs))
    if phase >= 3:
        output.setdefault("characters", characters_of(inputs))
    metadata = {"phase": phase, "timestamp": now_iso(), "status": "completed",
                "provider": getattr(provider, "name", type(provider).__name__)}
    if feedback:
        metadata["feedback"] = {k: feedback[k] for k in ("option", "text", "intensity") if k in feedback}
    output["processing_metadata"] = metadata
    return output
