"""The quality analytics: rows recorded through the public API, report SQL written for BigQuery,
translated by sqlglot and run on a real DuckDB file; aggregates checked against Python's own."""
from __future__ import annotations

import datetime as dt
import json
import statistics

import duckdb
import pytest

from mangaflow.errors import ValidationError
from mangaflow.stores import analytics

UTC = dt.timezone.utc
DAY = dt.date(2026, 11, 2)


def at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def decision_for(score: float) -> str:
    return "pass" if score >= 0.70 else "warn" if score >= 0.60 else "retry"


def percentile_cont(values: list[float], fraction: float) -> float:
    """BigQuery PERCENTILE_CONT: linear interpolation between closest ranks (R-7)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


PHASE1_SCORES = [0.82, 0.55, 0.91, 0.67, 0.74, 0.48, 0.88, 0.79, 0.63, 0.95]
PHASE5_SCORES = [0.71, 0.58, 0.99]


@pytest.fixture
def busy_day(duckdb_backend: analytics.DuckDBBackend) -> analytics.DuckDBBackend:
    """Phase 1 and 5 scores, retries and gate outcomes on DAY, plus rows just outside it."""
    for i, score in enumerate(PHASE1_SCORES):
        analytics.record_quality_score(f"r{i % 4}", 1, 1 + i // 4, score, decision_for(score),
                                       hints=["name every character"] if score < 0.6 else [],
                                       recorded_at=at(DAY, 1 + i), backend=duckdb_backend)
    for i, score in enumerate(PHASE5_SCORES):
        analytics.record_quality_score("r9", 5, 1, score, decision_for(score),
                                       panel_id=f"p01-{i + 1}", recorded_at=at(DAY, 20, i),
                                       backend=duckdb_backend)
    analytics.record_quality_score("r9", 5, 4, 0.52, "give_up", panel_id="p01-2",
                                   recorded_at=at(DAY, 23, 59, 59), backend=duckdb_backend)
    # Outside the day: one second before it and at the next midnight.
    analytics.record_quality_score("r0", 1, 1, 0.10, "retry",
                                   recorded_at=at(DAY - dt.timedelta(days=1), 23, 59, 59),
                                   backend=duckdb_backend)
    analytics.record_quality_score("r0", 1, 1, 0.20, "retry",
                                   recorded_at=at(DAY + dt.timedelta(days=1), 0),
                                   backend=duckdb_backend)
    for attempt, delay in ((2, 1.0), (3, 2.5), (2, 1.2)):
        analytics.record_retry("r1", 1, attempt, "quality", delay_s=delay, score=0.5,
                               recorded_at=at(DAY, 12), backend=duckdb_backend)
    analytics.record_retry("r9", 5, 2, "error", delay_s=5.0, panel_id="p01-2",
                           recorded_at=at(DAY, 21), backend=duckdb_backend)
    analytics.record_retry("r1", 1, 2, "quality", delay_s=9.0,
                           recorded_at=at(DAY + dt.timedelta(days=1), 3), backend=duckdb_backend)
    for decision, wait in (("approve", 10.0), ("approve", 30.0), ("modify", 50.0),
                           ("timeout", 1800.0)):
        analytics.record_feedback("r1", 1, decision, wait,
                                  quick_option="brighter" if decision == "modify" else None,
                                  intensity=0.6 if decision == "modify" else None,
                                  recorded_at=at(DAY, 13), backend=duckdb_backend)
    return duckdb_backend


def test_report_sql_is_written_for_bigquery_and_translated_for_duckdb() -> None:
    translated = analytics.to_duckdb_sql(analytics._DAILY_QUALITY_REPORT)
    assert "PERCENTILE_CONT" in analytics._DAILY_QUALITY_REPORT
    assert "COUNTIF" in analytics._DAILY_QUALITY_REPORT
    assert "QUANTILE_CONT" in translated and "COUNT_IF" in translated
    assert "$day" in translated and "@day" not in translated


def test_daily_report_computes_averages_percentiles_and_gate_shares(busy_day) -> None:
    report = {row["phase"]: row for row in analytics.daily_quality_report(DAY, backend=busy_day)}

    assert sorted(report) == [1, 5]
    phase1 = report[1]
    assert phase1["attempts"] == 10
    assert phase1["requests"] == 4
    assert phase1["avg_score"] == pytest.approx(statistics.fmean(PHASE1_SCORES), abs=1e-4)
    assert phase1["p50_score"] == pytest.approx(statistics.median(PHASE1_SCORES), abs=1e-4)
    assert phase1["p90_score"] == pytest.approx(percentile_cont(PHASE1_SCORES, 0.9), abs=1e-4)
    assert phase1["min_score"] == pytest.approx(0.48)
    assert phase1["pass_rate"] == pytest.approx(6 / 10)
    assert phase1["warn_rate"] == pytest.approx(2 / 10)
    assert phase1["retry_rate"] == pytest.approx(2 / 10)
    assert phase1["given_up"] == 0

    phase5 = report[5]
    assert phase5["attempts"] == 4  # the 23:59:59 give-up row is still the same day
    assert phase5["given_up"] == 1
    assert phase5["avg_score"] == pytest.approx(statistics.fmean(PHASE5_SCORES + [0.52]), abs=1e-4)


def test_daily_report_counts_retries_and_gate_outcomes(busy_day) -> None:
    report = {row["phase"]: row for row in analytics.daily_quality_report(DAY, backend=busy_day)}

    assert report[1]["retries"] == 3  # the next day's retry is not counted
    assert report[1]["avg_retry_delay_s"] == pytest.approx((1.0 + 2.5 + 1.2) / 3, abs=1e-3)
    assert report[5]["retries"] == 1
    assert (report[1]["approvals"], report[1]["modifications"], report[1]["skips"],
            report[1]["timeouts"]) == (2, 1, 0, 1)
    assert report[1]["avg_wait_s"] == pytest.approx((10 + 30 + 50 + 1800) / 4)
    assert (report[5]["approvals"], report[5]["avg_wait_s"]) == (0, None)


def test_a_day_is_a_utc_day(duckdb_backend) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    # 08:00 in Tokyo on the 3rd is 23:00 UTC on the 2nd.
    analytics.record_quality_score("r1", 2, 1, 0.9, "pass",
                                   recorded_at=dt.datetime(2026, 11, 3, 8, tzinfo=tokyo),
                                   backend=duckdb_backend)

    assert [r["phase"] for r in analytics.daily_quality_report(DAY, backend=duckdb_backend)] == [2]
    assert analytics.daily_quality_report(DAY + dt.timedelta(days=1), backend=duckdb_backend) == []


def test_aggregate_daily_writes_quality_trends_and_can_run_again(busy_day) -> None:
    computed_at = at(DAY + dt.timedelta(days=1), 2)

    first = analytics.aggregate_daily(DAY, computed_at=computed_at, backend=busy_day)
    second = analytics.aggregate_daily(DAY, computed_at=computed_at, backend=busy_day)

    assert first == second == 2
    rows = busy_day.query("SELECT * FROM quality_trends ORDER BY phase", {})
    assert [(r["day"], r["phase"]) for r in rows] == [(DAY, 1), (DAY, 5)]
    assert rows[0]["avg_score"] == pytest.approx(statistics.fmean(PHASE1_SCORES))
    assert rows[0]["p90_score"] == pytest.approx(percentile_cont(PHASE1_SCORES, 0.9))
    assert rows[0]["retries"] == 3 and rows[1]["retries"] == 1
    assert rows[1]["given_up"] == 1
    assert rows[0]["computed_at"] == computed_at


def test_weekly_trends_weigh_days_by_attempts_and_compare_with_last_week(duckdb_backend) -> None:
    monday = dt.date(2026, 11, 2)
    # This week, phase 3: 3 attempts averaging 0.9 on Monday, 1 attempt of 0.5 on Wednesday.
    for score in (0.85, 0.9, 0.95):
        analytics.record_quality_score("a", 3, 1, score, "pass", recorded_at=at(monday, 9),
                                       backend=duckdb_backend)
    analytics.record_quality_score("b", 3, 1, 0.5, "retry",
                                   recorded_at=at(monday + dt.timedelta(days=2), 9),
                                   backend=duckdb_backend)
    analytics.record_retry("b", 3, 2, "quality", delay_s=2.0,
                           recorded_at=at(monday + dt.timedelta(days=2), 9),
                           backend=duckdb_backend)
    # Last week, phase 3 averaged 0.7; phase 4 only ran last week.
    last_friday = monday - dt.timedelta(days=3)
    analytics.record_quality_score("c", 3, 1, 0.7, "pass", recorded_at=at(last_friday, 9),
                                   backend=duckdb_backend)
    analytics.record_quality_score("c", 4, 1, 0.8, "pass", recorded_at=at(last_friday, 9),
                                   backend=duckdb_backend)
    # Next Monday belongs to the next week.
    analytics.record_quality_score("d", 3, 1, 0.1, "retry",
                                   recorded_at=at(monday + dt.timedelta(days=7), 9),
                                   backend=duckdb_backend)
    for offset in range(-7, 8):
        analytics.aggregate_daily(monday + dt.timedelta(days=offset), backend=duckdb_backend)

    trends = analytics.weekly_trends(monday, backend=duckdb_backend)

    assert [row["phase"] for row in trends] == [3]
    week = trends[0]
    assert (week["days"], week["attempts"], week["retries"]) == (2, 4, 1)
    assert week["avg_score"] == pytest.approx((0.85 + 0.9 + 0.95 + 0.5) / 4)
    assert week["worst_day_avg_score"] == pytest.approx(0.5)
    assert week["best_day_avg_score"] == pytest.approx(0.9)
    assert week["retry_rate"] == pytest.approx(1 / 4)
    assert week["previous_avg_score"] == pytest.approx(0.7)
    assert week["score_change"] == pytest.approx(0.8 - 0.7)
    assert week["trend"] == "improving"


def test_chat_engagement_counts_applied_modifications(duckdb_backend) -> None:
    for session, applied, confidence, ms in (("s1", True, 0.9, 100), ("s1", False, 0.3, 300),
                                             ("s2", True, 0.8, 200)):
        analytics.record_chat_metric(session, "r1", 4, "text", applied, intent="camera_angle",
                                     confidence=confidence, response_ms=ms,
                                     recorded_at=at(DAY, 10), backend=duckdb_backend)

    [phase4] = analytics.daily_chat_engagement(DAY, backend=duckdb_backend)

    assert (phase4["phase"], phase4["sessions"], phase4["messages"]) == (4, 2, 3)
    assert phase4["applied"] == 2
    assert phase4["applied_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert phase4["avg_confidence"] == pytest.approx((0.9 + 0.3 + 0.8) / 3, abs=1e-4)
    assert phase4["avg_response_ms"] == pytest.approx(200.0)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda b: analytics.record_quality_score("r", 1, 1, 1.5, "pass", backend=b), "score"),
        (lambda b: analytics.record_quality_score("r", 8, 1, 0.5, "pass", backend=b), "phase"),
        (lambda b: analytics.record_quality_score("r", 1, 1, 0.5, "ok", backend=b), "decision"),
        (lambda b: analytics.record_quality_score("", 1, 1, 0.5, "pass", backend=b), "request_id"),
        (lambda b: analytics.record_quality_score(
            "r", 1, 1, 0.5, "pass", recorded_at=dt.datetime(2026, 1, 1), backend=b), "recorded_at"),
        (lambda b: analytics.record_retry("r", 1, 0, "quality", backend=b), "attempt"),
        (lambda b: analytics.record_retry("r", 1, 2, "quality", delay_s=-1.0, backend=b), "delay_s"),
        (lambda b: analytics.record_retry("r", 1, 2, "bored", backend=b), "reason"),
        (lambda b: analytics.record_feedback("r", 1, "maybe", 1.0, backend=b), "decision"),
        (lambda b: analytics.record_feedback("r", 1, "modify", 1.0, modification_round=4,
                                             backend=b), "modification_round"),
        (lambda b: analytics.record_chat_metric("s", "r", 1, "voice", True, backend=b),
         "message_type"),
        (lambda b: analytics.daily_quality_report(dt.datetime(2026, 1, 1, tzinfo=UTC), backend=b),
         "day"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(duckdb_backend, call, field) -> None:
    with pytest.raises(ValidationError) as caught:
        call(duckdb_backend)

    assert caught.value.field == field
    assert field in caught.value.message
    counts = [duckdb_backend.query(f"SELECT COUNT(*) AS n FROM {t}", {})[0]["n"]
              for t in analytics.TABLES]
    assert counts == [0] * len(analytics.TABLES)


def test_local_tables_follow_the_bigquery_schemas(duckdb_backend) -> None:
    duckdb_backend.query("SELECT 1 AS one", {})  # creates the tables
    connection = duckdb.connect(str(duckdb_backend.path), read_only=True)
    try:
        for table in analytics.TABLES:
            schema = json.loads((analytics.schemas_dir() / f"{table}.json").read_text())
            described = connection.execute(f'DESCRIBE "{table}"').fetchall()
            assert [row[0] for row in described] == [field["name"] for field in schema]
            nullable = {row[0]: row[2] == "YES" for row in described}
            for field in schema:
                assert nullable[field["name"]] == (field["mode"] != "REQUIRED"), field["name"]
    finally:
        connection.close()


def test_default_backend_writes_the_duckdb_file_named_by_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "nested" / "analytics.duckdb"
    monkeypatch.setenv("MANGAFLOW_ANALYTICS_DB", str(path))
    monkeypatch.delenv("MANGAFLOW_ANALYTICS", raising=False)

    analytics.record_quality_score("r1", 7, 1, 0.8, "pass", recorded_at=at(DAY, 5))

    assert analytics.backend_from_env().flush()  # rows are written by the process's writer thread
    assert path.exists()
    assert analytics.daily_quality_report(DAY)[0]["phase"] == 7


def test_an_unknown_analytics_backend_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("MANGAFLOW_ANALYTICS", "sqlite")

    from mangaflow.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        analytics.backend_from_env()

    assert caught.value.field == "MANGAFLOW_ANALYTICS"


def test_bigquery_query_parameters_carry_googlesql_types() -> None:
    cases = {
        "day": (DAY, "DATE"),
        "computed_at": (at(DAY, 1), "TIMESTAMP"),
        "flag": (True, "BOOL"),
        "phase": (3, "INT64"),
        "score": (0.5, "FLOAT64"),
        "request_id": ("r1", "STRING"),
    }

    for name, (value, kind) in cases.items():
        parameter = analytics._bigquery_parameter(name, value)
        assert (parameter.name, parameter.type_, parameter.value) == (name, kind, value)


def test_rows_streamed_to_bigquery_are_plain_json() -> None:
    row = analytics._json_row({"recorded_at": at(DAY, 1), "day": DAY, "hints": ["a"], "n": 1})

    assert json.loads(json.dumps(row)) == {"recorded_at": "2026-11-02T01:00:00+00:00",
                                           "day": "2026-11-02", "hints": ["a"], "n": 1}


def test_the_cloud_configuration_selects_bigquery(monkeypatch) -> None:
    monkeypatch.setenv("MANGAFLOW_ANALYTICS", "bigquery")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "manga-prod")
    monkeypatch.setenv("BIGQUERY_DATASET", "manga_quality_analytics")

    backend = analytics.backend_from_env()

    assert isinstance(backend, analytics.BigQueryBackend)
    assert (backend.project, backend.dataset) == ("manga-prod", "manga_quality_analytics")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    with pytest.raises(ValidationError) as caught:
        analytics.backend_from_env()
    assert caught.value.field == "GOOGLE_CLOUD_PROJECT"


def test_a_second_process_holding_the_file_briefly_is_waited_for(duckdb_backend) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
         " time.sleep(0.5); c.close()", str(duckdb_backend.path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        analytics.record_quality_score("r1", 1, 1, 0.9, "pass", recorded_at=at(DAY, 1),
                                       backend=duckdb_backend)
    finally:
        holder.wait(timeout=10)

    assert analytics.daily_quality_report(DAY, backend=duckdb_backend)[0]["attempts"] == 1


def test_the_pipeline_runner_s_call_shapes_are_accepted(duckdb_backend) -> None:
    """service/runner.py records a retry without knowing its back-off delay."""
    analytics.record_quality_score(request_id="r1", phase=2, attempt=2, score=0.66, decision="warn",
                                   hints=["give c2 a palette"], recorded_at=at(DAY, 4),
                                   backend=duckdb_backend)
    analytics.record_retry(request_id="r1", phase=2, attempt=2, reason="quality", score=0.66,
                           recorded_at=at(DAY, 4), backend=duckdb_backend)

    [phase2] = analytics.daily_quality_report(DAY, backend=duckdb_backend)

    assert (phase2["retries"], phase2["avg_retry_delay_s"], phase2["warn_rate"]) == (1, None, 1.0)


def test_writes_leave_the_callers_path_and_come_out_in_batches(tmp_path):
    """Issue 16: a record call queues its row; the process's writer opens the DuckDB file once per
    batch, not once per row, and a query sees every row this process queued."""
    backend = analytics.DuckDBBackend(tmp_path / "analytics.duckdb")
    for attempt in range(1, 15):
        analytics.record_quality_score("r-batch", 3, attempt, 0.7, "pass", recorded_at=at(DAY, 5), backend=backend)

    assert backend.query("SELECT COUNT(*) AS n FROM phase_quality_scores", {})[0]["n"] == 14
    assert 1 <= backend.batches_written < 14
