"""Providers behind one interface: offline rules (default), a latency simulator, and Vertex AI
(`mangaflow.providers.vertex.VertexProvider`). A provider is made per phase call, for the request's
provider, around that call's CallScope (deadline, retries, faults, budget, records)."""
from __future__ import annotations

from ..config import PROVIDERS, settings
from ..errors import ConfigError
from .base import ImageJob, Provider, Reference
from .calls import CallScope
from .offline import OfflineProvider
from .simulated import SimulatedProvider

__all__ = ["CallScope", "ImageJob", "OfflineProvider", "Provider", "Reference", "SimulatedProvider", "get_provider"]


def get_provider(name: str | None = None, scope: CallScope | None = None) -> Provider:
    """The provider named (or the configured one, MANGAFLOW_PROVIDER): offline | simulated | vertex."""
    chosen = (name or settings().provider).strip().lower()
    if chosen not in PROVIDERS:
        raise ConfigError(f"the provider must be offline, simulated or vertex, not {chosen!r}", field="provider")
    if chosen == "simulated":
        return SimulatedProvider(scope=scope)
    if chosen == "vertex":
        from .vertex import VertexProvider

        return VertexProvider(scope=scope)
    return OfflineProvider(scope)
