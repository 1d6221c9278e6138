"""Shared reading of phase inputs for the offline provider (request fields, the cached analysis)."""
from __future__ import annotations

from ..story import StoryAnalysis, analyse, detect_language, normalise

STYLES = ("shonen", "shojo", "seinen", "josei", "kodomo")


def language_of(inputs: dict) -> str:
    lang = inputs.get("language")
    if lang in ("ja", "en"):
        return lang
    context = (inputs.get("concept") or {}).get("story_context") or {}
    if context.get("language") in ("ja", "en"):
        return context["language"]
    return detect_language(normalise(str(inputs.get("text") or "")))


def pages_of(inputs: dict) -> int:
    try:
        return max(1, min(32, int(inputs.get("pages") or 8)))
    except (TypeError, ValueError):
        return 8


def style_of(inputs: dict) -> str:
    style = str(inputs.get("style") or "").lower()
    return style if style in STYLES else ""


def max_scenes_for(pages: int) -> int:
    """Enough scenes to fill the pages, few enough that every scene can have its own panels."""
    return max(3, min(30, pages * 3))


def story_of(inputs: dict, max_scenes: int | None = None) -> StoryAnalysis:
    pages = pages_of(inputs)
    return analyse(str(inputs.get("text") or ""), language_of(inputs), max_scenes or max_scenes_for(pages))


def reading_direction(language: str) -> str:
    return "rtl" if language == "ja" else "ltr"
