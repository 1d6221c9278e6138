"""The phases' names, and what a request's model calls cost."""
from __future__ import annotations

from typing import Any

from ..phases import registry
from ..providers.pricing import request_cost


def phase_keys() -> dict[int, str]:
    """Phase number -> the key of its output: concept, characters, plot, storyboard, images, ..."""
    return registry.keys()


def cost_of(stores: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The request's cost so far (providers.pricing.request_cost)."""
    return request_cost(stores.model_calls, request)
