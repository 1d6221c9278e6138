"""A phase is a plugin: one module per phase defines what it produces, how its output is judged,
what a person reads at its gate and which artifacts it made, and registers itself here once.
The runner loops over the registry; adding a phase is adding one module to PHASE_MODULES."""
from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..bootstrap import Stores
    from ..providers.base import Provider

# The phase modules, in pipeline order; each registers one Phase.
PHASE_MODULES = ("phase1_concept", "phase2_characters", "phase3_plot", "phase4_name", "phase5_images",
                 "phase6_lettering", "phase7_finalize")


@dataclass(frozen=True)
class PhaseContext:
    """Everything one attempt of a phase works from."""

    stores: "Stores"
    request: dict[str, Any]
    inputs: dict[str, Any]  # the request as the phases see it, plus each earlier phase's chosen output
    feedback: dict[str, Any] | None
    attempt: int
    provider: "Provider"

    @property
    def request_id(self) -> str:
        return str(self.request["request_id"])


class Phase(abc.ABC):
    """One phase of the pipeline."""

    number: int
    key: str  # its output's name in later phases' inputs and in the manifest
    title: str  # what people call it

    @abc.abstractmethod
    def produce(self, ctx: PhaseContext) -> dict[str, Any]:
        """The phase's output for this attempt (artifacts it makes are stored as it goes)."""

    def evaluate(self, output: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        """Score 0..1, hints for a retry and the checks behind the score (independent of the model)."""
        from .. import quality

        return quality.evaluate(self.number, output, inputs)

    @abc.abstractmethod
    def summarise(self, output: dict[str, Any]) -> str:
        """A few lines a person can judge the output by at the approval gate."""

    def artifacts(self, output: dict[str, Any]) -> list[str]:
        """URIs of what this output made besides itself (images, pages, exports)."""
        return []


_REGISTRY: dict[int, Phase] = {}


def register(phase: Phase) -> Phase:
    """Called once by each phase module for its own Phase."""
    existing = _REGISTRY.get(phase.number)
    if existing is not None and type(existing) is not type(phase):
        raise RuntimeError(f"phase {phase.number} is registered twice ({type(existing).__name__}, "
                           f"{type(phase).__name__})")
    _REGISTRY[phase.number] = phase
    return phase


def phases() -> list[Phase]:
    """Every phase, in pipeline order."""
    if len(_REGISTRY) < len(PHASE_MODULES):
        for module in PHASE_MODULES:
            importlib.import_module(f"{__package__}.{module}")
    return [_REGISTRY[number] for number in sorted(_REGISTRY)]


def phase(number: int) -> Phase:
    by_number = {p.number: p for p in phases()}
    if number not in by_number:
        raise KeyError(f"there is no phase {number}")
    return by_number[number]


def keys() -> dict[int, str]:
    """Phase number -> the key of its output (concept, characters, plot, storyboard, ...)."""
    return {p.number: p.key for p in phases()}
