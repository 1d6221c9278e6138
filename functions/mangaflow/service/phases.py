"""Which module runs each phase, and which provider (offline, simulated, vertex) makes the content."""
from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any

from ..config import settings

PHASE_KEYS = {1: "concept", 2: "characters", 3: "plot", 4: "storyboard", 5: "images", 6: "lettering", 7: "final"}
PHASE_MODULES = {1: "phase1_concept", 2: "phase2_characters", 3: "phase3_plot", 4: "phase4_name",
                 5: "phase5_images", 6: "phase6_lettering", 7: "phase7_finalize"}


def phase_module(phase: int) -> ModuleType:
    return importlib.import_module(f"mangaflow.phases.{PHASE_MODULES[phase]}")


@functools.lru_cache(maxsize=4)
def _provider_named(name: str) -> Any:
    from ..providers import get_provider

    return get_provider(name)


def provider() -> Any:
    """The configured provider (MANGAFLOW_PROVIDER), created once per process."""
    return _provider_named(settings().provider)
