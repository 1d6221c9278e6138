"""The quality gate thresholds and the retry back-off."""
import pytest

from mangaflow.quality import gate, retry_delay


@pytest.mark.parametrize("score, attempt, decision", [
    (0.95, 0, "pass"), (0.70, 0, "pass"), (0.6999, 0, "warn"), (0.60, 2, "warn"),
    (0.5999, 0, "retry"), (0.1, 2, "retry"), (0.1, 3, "give_up"), (0.0, 7, "give_up"), (0.9, 3, "pass"),
])
def test_gate_thresholds(score, attempt, decision):
    assert gate(score, attempt)["decision"] == decision


def test_warn_and_give_up_are_flagged_and_give_up_uses_the_best_attempt():
    assert gate(0.65, 0)["flagged"] and not gate(0.8, 0)["flagged"]
    verdict = gate(0.2, 3)
    assert verdict["flagged"] and verdict["use_best_attempt"] and not verdict["retry"]
    assert gate(0.2, 0)["retries_left"] == 2


def test_retry_delay_base_per_phase_doubles_with_bounded_jitter():
    bases = {1: 1, 2: 2, 3: 1, 4: 2, 5: 5, 6: 1, 7: 2}
    for phase, base in bases.items():
        for attempt in (1, 2, 3):
            delay = retry_delay(phase, attempt)
            expected = base * 2 ** (attempt - 1)
            assert expected <= delay <= expected * 1.25


def test_retry_delay_is_capped_at_30_and_60_for_phase_5():
    assert retry_delay(4, 10) == 30.0
    assert retry_delay(5, 10) == 60.0


def test_retry_delay_jitter_is_deterministic_but_varies_by_key():
    assert retry_delay(2, 2, "r-1") == retry_delay(2, 2, "r-1")
    assert len({retry_delay(2, 2, f"r-{i}") for i in range(10)}) > 1
