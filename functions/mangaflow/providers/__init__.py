"""Text providers behind one interface: offline rules (default), a latency simulator, and Vertex AI
when another module supplies it (`mangaflow.providers.vertex.VertexProvider`)."""
from __future__ import annotations

from ..config import settings
from ..errors import ConfigError
from .base import Provider
from .offline import OfflineProvider
from .simulated import SimulatedProvider

__all__ = ["OfflineProvider", "Provider", "SimulatedProvider", "get_provider"]


def get_provider(name: str | None = None) -> Provider:
    """The provider named (or the configured one, MANGAFLOW_PROVIDER): offline | simulated | vertex."""
    chosen = (name or settings().provider).strip().lower()
    if chosen == "simulated":
        return SimulatedProvider()
    if chosen == "vertex":
        from .vertex import VertexProvider

        return VertexProvider()
    if chosen != "offline":
        raise ConfigError(f"the provider must be offline, simulated or vertex, not {chosen!r}")
    return OfflineProvider()
