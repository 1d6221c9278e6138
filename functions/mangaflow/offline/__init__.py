"""The offline content rules: phases 1-4 and phase 5's panel descriptions, made deterministically from
the story analysis (`mangaflow.story`). Domain code: it imports nothing from `providers` or `phases`;
`providers.offline` and `providers.simulated` are thin adapters over it, `providers.vertex` its fallback.
"""
from __future__ import annotations

from .cast import characters
from .concept import concept
from .name import storyboard
from .plot import plot
from .staging import describe
from .translate import translate

__all__ = ["characters", "concept", "describe", "plot", "storyboard", "translate"]
