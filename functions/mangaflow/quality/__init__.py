"""Quality evaluation after every phase (independent of the provider), the gate, and retry back-off."""
from __future__ import annotations

from .evaluators import CATEGORY_WEIGHTS, CRITICAL, EVALUATORS, WEIGHTS, critical_cap, weighted_overall
from .gate import MAX_RETRIES, PASS_AT, WARN_AT, GateRun, gate, produce_with_quality_gate, retry_delay

__all__ = ["CATEGORY_WEIGHTS", "CRITICAL", "MAX_RETRIES", "GateRun", "evaluate", "gate", "produce_with_quality_gate",
           "retry_delay", "weighted_overall"]


def evaluate(phase: int, output: dict, inputs: dict) -> dict:
    """{"score": 0..1, "hints": [...], "checks": {name: 0..1}, "warning": str | None} for `output` of `phase`.

    The score is the weighted mean of the checks, capped by any critical check that fails (CRITICAL):
    a defect a reader would see cannot be averaged away by tidy fields. `warning` says what is wrong
    when the score passes with a warning (0.60-0.70). A malformed output scores low with a hint; it
    never raises.
    """
    evaluator = EVALUATORS.get(int(phase))
    if evaluator is None:
        return {"score": 0.0, "hints": [f"no evaluator for phase {phase}; phases are 1-7"], "checks": {}}
    if not isinstance(output, dict):
        return {"score": 0.0, "hints": [f"phase {phase} output must be a JSON object"], "checks": {}}
    try:
        checks, hints = evaluator(output, inputs if isinstance(inputs, dict) else {})
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
        return {"score": 0.0, "hints": [f"phase {phase} output is malformed: {err}"], "checks": {}}
    checks = {name: round(max(0.0, min(1.0, float(value))), 4) for name, value in checks.items()}
    total = sum(WEIGHTS.get(name, 1.0) for name in checks)
    score = sum(value * WEIGHTS.get(name, 1.0) for name, value in checks.items()) / total if total else 0.0
    caps = {name: critical_cap(value, *CRITICAL[name]) for name, value in checks.items() if name in CRITICAL}
    score = min([score, *caps.values()])
    failing = [f"check '{name}' scored {value:.2f}" for name, value in checks.items() if value < 1]
    hints = list(dict.fromkeys(hints + [h for h in failing if not any(h.split("'")[1] in x for x in hints)]))
    warning = None
    if WARN_AT <= round(score, 4) < PASS_AT:
        limiting = sorted((cap, name) for name, cap in caps.items() if cap < 1)
        warning = f"phase {phase} passed with a warning (score {score:.2f}): " + "; ".join(
            [f"{name} {checks[name]:.2f}" for _, name in limiting] or hints[:2])
    return {"score": round(score, 4), "hints": hints, "checks": checks, "warning": warning}
