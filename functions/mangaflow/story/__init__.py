"""Deterministic reading of a story: quoted lines, people, scenes, beats, settings and feelings."""
from .analysis import Beat, SceneDraft, StoryAnalysis, analyse
from .people import Figure
from .text import Quote, detect_language, extract_quotes, has_control_characters, normalise

__all__ = ["Beat", "Figure", "Quote", "SceneDraft", "StoryAnalysis", "analyse", "detect_language",
           "extract_quotes", "has_control_characters", "normalise"]
