"""The fault switch (issue 9): a seeded share of provider calls fails as a 429, 500 or 503 answer, a
call that answers only after its deadline (a timeout), or a call that never answers (a hang).

Which calls fail depends only on the seed and the call's identity (request, phase, attempt, panel,
operation, and how many times that call was tried before), never on timing or on which process
runs it, so the same seed and the same calls give the same faults on the offline, simulated and
vertex paths alike. Off unless MANGAFLOW_FAULT_RATE > 0.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..config import FAULT_KINDS, settings


@dataclass(frozen=True)
class FaultSwitch:
    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS

    @classmethod
    def from_settings(cls) -> "FaultSwitch":
        config = settings()
        return cls(config.fault_rate, config.fault_seed, config.fault_kinds)

    @property
    def on(self) -> bool:
        return self.rate > 0 and bool(self.kinds)

    def draw(self, call_key: str, try_number: int) -> str | None:
        """The fault for the `try_number`-th try (0 first) of the call `call_key`, or None."""
        if not self.on:
            return None
        digest = hashlib.sha256(f"{self.seed}|{call_key}|{try_number}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2 ** 64 >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:12], "big") % len(self.kinds)]
