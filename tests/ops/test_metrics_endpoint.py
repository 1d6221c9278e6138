"""A run through the whole local stack, then the gateway's /_metrics (every worker's figures added up):
each phase's completion is in hitl/phase_completion_time exactly as its phase_timings row says; the
gate and retry gauges are what the gates and phase runs of the last hour say; and the run's gate
outcomes and retries are the same rows in PostgreSQL and in the analytics tables."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import requests

from mangaflow.quality import annotated

REPO = Path(__file__).resolve().parents[2]
HARBOUR = next(s for s in annotated.load_corpus(REPO / "examples" / "corpus") if s.name == "harbour-captain.en")
COMPLETION = "hitl_phase_completion_time_seconds"
# The gateway's counters are the whole stack's: another worker's run would move them between the
# two scrapes, so this runs alone, after the parallel part.
pytestmark = pytest.mark.serial


def scrape(gateway: str) -> dict[tuple[str, str], float]:
    """(sample name, phase) -> value of every hitl sample."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = requests.get(f"{gateway}/_metrics", timeout=30)
    assert answer.status_code == 200, answer.text
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name.startswith("hitl_") and "le" not in sample.labels:
                samples[(sample.name, sample.labels.get("phase", ""))] = sample.value
    return samples


def settled(gateway: str) -> dict[tuple[str, str], float]:
    """A scrape once earlier runs' completion events have all been handled (two equal in a row)."""
    previous = None
    for _ in range(40):
        now = {k: v for k, v in scrape(gateway).items() if k[0].startswith(COMPLETION)}
        if now == previous:
            return now
        previous = now
        time.sleep(0.5)
    raise AssertionError("the completion histogram kept moving")


@pytest.fixture(scope="module")
def analytics_backend(stack):
    from mangaflow.stores import analytics

    return analytics.DuckDBBackend(Path(stack["local_dir"]) / "analytics.duckdb")


def rows_of(backend, table: str, request_id: str, columns: str) -> list[tuple]:
    found = backend.query(f"SELECT {columns} FROM {table} WHERE request_id = @rid ORDER BY phase, recorded_at",
                          {"rid": request_id})
    return [tuple(row.values()) for row in found]


@pytest.fixture(scope="module")
def measured_run(stack, run_pipeline, analytics_backend) -> dict:
    before = settled(stack["gateway"])
    modified: set[int] = set()

    def answer(gate: dict) -> dict:
        if gate["phase"] == 2 and 2 not in modified:
            modified.add(2)
            return {"decision": "modify", "token": gate["token"], "feedback": "make the captain look older",
                    "decided_by": "test"}
        return {"decision": "approve", "token": gate["token"], "decided_by": "test"}

    run = run_pipeline(HARBOUR.text, pages=1, answer=answer)
    request_id = run["request_id"]
    deadline = time.monotonic() + 30
    timings: list[tuple] = []
    while time.monotonic() < deadline:  # pushed to phase_transition_handler, then written in a batch
        timings = rows_of(analytics_backend, "phase_timings", request_id, "phase, active_s, retries, modifications")
        if len(timings) == 7:
            break
        time.sleep(0.2)
    assert len(timings) == 7, timings
    return {"request_id": request_id, "before": before, "after": settled(stack["gateway"]), "timings": timings}


def test_each_phase_completion_is_in_the_histogram_as_its_timing_row_says(measured_run):
    before, after = measured_run["before"], measured_run["after"]
    for phase, active_s, _, _ in measured_run["timings"]:
        key = str(phase)
        assert after[(f"{COMPLETION}_count", key)] - before.get((f"{COMPLETION}_count", key), 0) == 1, phase
        assert after[(f"{COMPLETION}_sum", key)] - before.get((f"{COMPLETION}_sum", key), 0) == pytest.approx(
            active_s, abs=1e-6), phase
    by_phase = {phase: (retries, modifications) for phase, _, retries, modifications in measured_run["timings"]}
    assert by_phase[4][0] == 1  # the crowded storyboard was retried once
    assert by_phase[2][1] == 1  # and phase 2 modified once


def test_the_runs_gate_outcomes_and_retries_are_the_same_rows_in_both_stores(measured_run, analytics_backend):
    from mangaflow.stores import postgres

    request_id = measured_run["request_id"]
    gates = postgres.database().run(
        "SELECT phase, CASE WHEN timed_out THEN 'timeout' ELSE decision END AS decision FROM approval_gates"
        " WHERE request_id = :rid ORDER BY phase, round", rid=request_id)
    feedback = rows_of(analytics_backend, "user_feedback_analysis", request_id, "phase, decision")
    assert [(g["phase"], g["decision"]) for g in gates] == feedback
    assert feedback[1:3] == [(2, "modify"), (2, "approve")]
    runs = postgres.database().run(
        "SELECT r.phase, r.attempt FROM phase_runs r JOIN phase_runs p ON p.request_id = r.request_id"
        " AND p.phase = r.phase AND p.attempt = r.attempt - 1 AND p.panel_id IS NULL AND p.decision = 'retry'"
        " WHERE r.request_id = :rid AND r.panel_id IS NULL ORDER BY r.phase", rid=request_id)
    retries = rows_of(analytics_backend, "retry_patterns", request_id, "phase, attempt")
    assert [(r["phase"], r["attempt"]) for r in runs] == retries == [(4, 2)]


def expected_gauges(now: dt.datetime) -> dict[tuple[str, str], float]:
    """The gauges from the tables, with SQL written here (the last hour up to `now`)."""
    from mangaflow.stores import postgres

    since = now - dt.timedelta(hours=1)
    gates = postgres.database().run(
        "SELECT phase, COUNT(*) AS n, COUNT(*) FILTER (WHERE timed_out) AS t,"
        " COUNT(*) FILTER (WHERE NOT timed_out) AS a FROM approval_gates WHERE decided_at >= :since"
        " AND decided_at <= :now AND decided_by IS DISTINCT FROM 'cleanup:abandoned' GROUP BY phase",
        since=since, now=now)
    attempts = postgres.database().run(
        "SELECT r.phase, COUNT(*) AS n, COUNT(p.request_id) AS retries FROM phase_runs r LEFT JOIN phase_runs p"
        " ON p.request_id = r.request_id AND p.phase = r.phase AND p.attempt = r.attempt - 1"
        " AND p.panel_id IS NULL AND p.decision = 'retry'"
        " WHERE r.panel_id IS NULL AND r.status = 'succeeded' AND r.finished_at >= :since AND r.finished_at <= :now"
        " GROUP BY r.phase", since=since, now=now)
    expected = {}
    for phase in range(1, 8):
        g = next((row for row in gates if row["phase"] == phase), None)
        a = next((row for row in attempts if row["phase"] == phase), None)
        expected[("hitl_feedback_timeout_rate", str(phase))] = g["t"] / g["n"] if g else 0.0
        expected[("hitl_user_engagement_score", str(phase))] = g["a"] / g["n"] if g else 0.0
        expected[("hitl_retry_rate_per_phase", str(phase))] = a["retries"] / a["n"] if a else 0.0
    return expected


def test_the_gate_and_retry_gauges_are_what_the_last_hours_rows_say(stack, measured_run):
    for _ in range(5):
        start = dt.datetime.now(dt.timezone.utc)
        seen = scrape(stack["gateway"])
        end = dt.datetime.now(dt.timezone.utc)
        expected = expected_gauges(end)
        if expected == expected_gauges(start):  # no row crossed the hour's edge during the scrape
            break
    for key, value in expected.items():
        assert seen[key] == pytest.approx(value, abs=1e-9), key
    assert seen[("hitl_retry_rate_per_phase", "4")] > 0  # this run's retry is in the hour
    assert seen[("hitl_user_engagement_score", "2")] > 0
