"""Text providers behind one interface: offline rules (default), a latency simulator, and Vertex AI
when another module supplies it (`mangaflow.providers.vertex.VertexProvider`)."""
from __future__ import annotations

import importlib
import os

from .base import Provider
from .offline import OfflineProvider
from .simulated import SimulatedProvider

__all__ = ["OfflineProvider", "Provider", "SimulatedProvider", "get_provider"]


def get_provider(name: str | None = None) -> Provider:
    """The provider named (or MANGAFLOW_PROVIDER): offline | simulated | vertex; offline by default.

    "vertex" falls back to offline when no Vertex AI module or project is configured, so a laptop
    without credentials still runs the whole pipeline.
    """
    chosen = (name or os.environ.get("MANGAFLOW_PROVIDER") or "offline").strip().lower()
    if chosen == "simulated":
        return SimulatedProvider()
    if chosen == "vertex" and os.environ.get("GOOGLE_CLOUD_PROJECT"):
        try:
            module = importlib.import_module("mangaflow.providers.vertex")
            return module.VertexProvider()
        except ImportError:
            pass
    return OfflineProvider()
