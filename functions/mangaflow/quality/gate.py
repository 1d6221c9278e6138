"""The quality gate after every phase and the retry back-off between attempts (PIPELINE.md)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

PASS_AT = 0.70
WARN_AT = 0.60
MAX_RETRIES = 3
BASE_DELAY_S = {1: 1.0, 2: 2.0, 3: 1.0, 4: 2.0, 5: 5.0, 6: 1.0, 7: 2.0}
CAP_S = 30.0
CAP_PHASE5_S = 60.0


def gate(score: float, attempt: int) -> dict:
    """Decide what happens to a scored output; `attempt` is how many retries were already made (0 first).

    >= 0.70 pass; 0.60-0.70 warn (pass, flagged); < 0.60 retry while fewer than 3 retries were made,
    then give_up: the pipeline continues with the best attempt and flags it.
    """
    score = max(0.0, min(1.0, float(score)))
    attempt = max(0, int(attempt))
    if score >= PASS_AT:
        decision = "pass"
    elif score >= WARN_AT:
        decision = "warn"
    elif attempt < MAX_RETRIES:
        decision = "retry"
    else:
        decision = "give_up"
    return {"decision": decision, "score": round(score, 4), "attempt": attempt,
            "retry": decision == "retry", "flagged": decision in ("warn", "give_up"),
            "use_best_attempt": decision == "give_up",
            "retries_left": max(0, MAX_RETRIES - attempt - (1 if decision == "retry" else 0))}


def retry_delay(phase: int, attempt: int, key: str = "") -> float:
    """Seconds to wait before retry number `attempt` (1-based) of `phase`.

    Base 1/2/1/2/5/1/2 s by phase, doubling per retry, plus up to 25 % jitter taken from sha256 of
    (phase, attempt, key) so two requests retrying together do not collide yet a run is repeatable.
    Capped at 30 s (60 s for phase 5).
    """
    base = BASE_DELAY_S.get(int(phase), 1.0)
    attempt = max(1, int(attempt))
    digest = hashlib.sha256(f"{phase}:{attempt}:{key}".encode()).digest()
    jitter = int.from_bytes(digest[:4], "big") / 2**32 * 0.25
    delay = base * 2 ** (attempt - 1) * (1 + jitter)
    return round(min(CAP_PHASE5_S if int(phase) == 5 else CAP_S, delay), 3)


@dataclass
class GateRun:
    """Every attempt of one phase through the quality gate, and which one is kept."""

    attempts: list[dict] = field(default_factory=list)  # {"output", "score", "decision", "hints", "warning"}
    kept: int = 0

    @property
    def best(self) -> dict:
        return self.attempts[self.kept]


def produce_with_quality_gate(produce: Callable[[list[str]], dict], judge: Callable[[dict], dict]) -> GateRun:
    """The workflow's `produce_with_quality_gate` (workflows/manga_pipeline.workflows.yaml) in one process,
    for tests and benchmarks: produce (the hints of the previous attempt in hand), judge, retry below 0.60
    at most 3 times, keep the best-scoring attempt (the first of equals). No back-off sleep."""
    run = GateRun()
    hints: list[str] = []
    for retry in range(MAX_RETRIES + 1):
        output = produce(hints)
        judged = judge(output)
        verdict = gate(float(judged["score"]), retry)
        run.attempts.append({"output": output, "score": verdict["score"], "decision": verdict["decision"],
                             "hints": list(judged.get("hints") or []), "warning": judged.get("warning")})
        if verdict["score"] > run.best["score"]:
            run.kept = len(run.attempts) - 1
        if not verdict["retry"]:
            break
        hints = list(judged.get("hints") or [])
    return run
