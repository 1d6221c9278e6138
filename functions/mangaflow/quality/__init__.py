"""Quality evaluation after every phase (independent of the provider), the gate, and retry back-off."""
from __future__ import annotations

from .evaluators import CATEGORY_WEIGHTS, EVALUATORS, WEIGHTS, weighted_overall
from .gate import MAX_RETRIES, gate, retry_delay

__all__ = ["CATEGORY_WEIGHTS", "MAX_RETRIES", "evaluate", "gate", "retry_delay", "weighted_overall"]


def evaluate(phase: int, output: dict, inputs: dict) -> dict:
    """{"score": 0..1, "hints": [...], "checks": {name: 0..1}} for `output` of `phase`.

    A malformed output scores low with a hint; it never raises.
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
    failing = [f"check '{name}' scored {value:.2f}" for name, value in checks.items() if value < 1]
    hints = list(dict.fromkeys(hints + [h for h in failing if not any(h.split("'")[1] in x for x in hints)]))
    return {"score": round(score, 4), "hints": hints, "checks": checks}
