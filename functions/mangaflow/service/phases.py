"""Which provider (offline, simulated, vertex) makes the content, and the phases' names."""
from __future__ import annotations

import functools
from typing import Any

from ..config import settings
from ..phases import registry


def phase_keys() -> dict[int, str]:
    """Phase number -> the key of its output: concept, characters, plot, storyboard, images, ..."""
    return registry.keys()


@functools.lru_cache(maxsize=4)
def _provider_named(name: str) -> Any:
    from ..providers import get_provider

    return get_provider(name)


def provider() -> Any:
    """The configured provider (MANGAFLOW_PROVIDER), created once per process."""
    return _provider_named(settings().provider)
