"""The quality report of a day with several runs: every chart, the right figures (checked against SQL
written here and run directly on the analytics tables), the page, the PNGs and the JSON in the
final-products bucket, a row in quality_reports, and the page drawn by Debian's Chromium with no error
and no request leaving the machine."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 10)
RUNS = ["r-000000000000aa01", "r-000000000000aa02", "r-000000000000aa03", "r-000000000000aa04"]


def at(hour: int, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def day_of_runs(tmp_path_factory) -> object:
    """Four runs on DAY (one failed, two with a recorded cost, retries in phases 3 and 4, every gate
    outcome), one run the day before and one the day after (outside the daily report)."""
    from mangaflow.stores import analytics

    backend = analytics.DuckDBBackend(tmp_path_factory.mktemp("report") / "analytics.duckdb")
    outcomes = ["approve", "modify", "skip", "timeout"]
    for index, request_id in enumerate(RUNS):
        when = at(2 + index * 5)
        for phase in range(1, 8):
            first = 0.45 if phase in (3, 4) and index % 2 == 0 else 0.9 - 0.05 * index
            analytics.record_quality_score(request_id, phase, 1, first, "retry" if first < 0.6 else "pass",
                                           recorded_at=when, backend=backend)
            if first < 0.6:
                analytics.record_quality_score(request_id, phase, 2, 0.75, "pass", recorded_at=when, backend=backend)
                analytics.record_retry(request_id, phase, 2, "quality", score=0.75, delay_s=1.0, recorded_at=when,
                                       backend=backend)
            analytics.record_feedback(request_id, phase, outcomes[(index + phase) % 4], 4.0 + phase,
                                      recorded_at=when, backend=backend)
            analytics.record_phase_timing(request_id, phase, 0.5 * phase + index, 3.0 + index, attempts=1,
                                          retries=0, modifications=0, decision="approve", recorded_at=when,
                                          backend=backend)
        analytics.record_run_summary(
            request_id, "failed" if index == 3 else "completed", wall_s=60.0 + index, active_s=20.0 + index,
            attempts=8, retries=2 if index % 2 == 0 else 0, modifications=1, timeouts=index % 2,
            avg_score=0.85 - 0.1 * index, min_score=0.7 - 0.1 * index,
            cost_usd=[None, 0.125, None, 0.5][index], review_url=f"http://127.0.0.1:9/review_gate?request_id={request_id}",
            recorded_at=when, backend=backend)
    for other_day, request_id in ((DAY - dt.timedelta(days=1), "r-000000000000bb01"),
                                  (DAY + dt.timedelta(days=1), "r-000000000000bb02")):
        analytics.record_quality_score(request_id, 1, 1, 0.2, "retry", recorded_at=at(12, other_day), backend=backend)
        analytics.record_run_summary(request_id, "completed", wall_s=1, active_s=1, attempts=1, retries=0,
                                     modifications=0, timeouts=0, min_score=0.01, cost_usd=9.0,
                                     recorded_at=at(12, other_day), backend=backend)
    return backend


@pytest.fixture(scope="module")
def published(stack, day_of_runs) -> dict:
    from mangaflow import reports
    from mangaflow.bootstrap import stores

    return reports.publish(stores(), DAY, "daily", inline=True, backend=day_of_runs)


def sql(backend, text: str) -> list[tuple]:
    """DuckDB SQL run directly on the analytics file (not the report's own queries)."""
    import duckdb

    backend.flush()
    connection = duckdb.connect(str(backend.path), read_only=True)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        return connection.execute(text).fetchall()
    finally:
        connection.close()


WINDOW = "recorded_at >= TIMESTAMPTZ '2026-03-10 00:00:00+00' AND recorded_at < TIMESTAMPTZ '2026-03-11 00:00:00+00'"


def stored_json(uri: str) -> dict:
    from mangaflow.bootstrap import stores

    return stores().artifacts.get_json(uri)


def test_the_report_has_every_chart_and_the_figures_of_the_tables(published, day_of_runs):
    data = stored_json(published["data_uri"])
    charts = data["charts"]

    assert set(charts) == {"score_over_time", "retry_rates", "gate_outcomes", "phase_times", "cost_per_run"}
    retry = {(r["phase"], r["attempts"], r["retries"], r["retry_rate"]) for r in charts["retry_rates"]}
    assert retry == {(phase, attempts, retries, round(retries / attempts, 4)) for phase, attempts, retries in sql(
        day_of_runs, f"""SELECT s.phase, COUNT(*), (SELECT COUNT(*) FROM retry_patterns r WHERE r.phase = s.phase
                          AND r.{WINDOW}) FROM phase_quality_scores s WHERE s.{WINDOW} GROUP BY s.phase""")}
    assert {r["phase"]: r["retries"] for r in charts["retry_rates"]}[3] == 2  # runs 1 and 3 retried phase 3
    outcomes = {(g["phase"], g["decision"], g["gates"]) for g in charts["gate_outcomes"]}
    assert outcomes == set(sql(day_of_runs, f"SELECT phase, decision, COUNT(*) FROM user_feedback_analysis "
                                            f"WHERE {WINDOW} GROUP BY phase, decision"))
    assert {g["decision"] for g in charts["gate_outcomes"]} == {"approve", "modify", "skip", "timeout"}
    times = {(t["phase"], t["completions"], t["avg_active_s"], t["avg_gate_wait_s"]) for t in charts["phase_times"]}
    assert times == {(p, n, round(a, 3), round(w, 3)) for p, n, a, w in sql(
        day_of_runs, f"SELECT phase, COUNT(*), AVG(active_s), AVG(gate_wait_s) FROM phase_timings WHERE {WINDOW} "
                     f"GROUP BY phase")}
    assert [(c["request_id"], c["cost_usd"]) for c in charts["cost_per_run"]] == sql(
        day_of_runs, f"SELECT request_id, cost_usd FROM run_summaries WHERE {WINDOW} ORDER BY recorded_at")
    over_time = {(p["day"], p["phase"], p["attempts"], p["avg_score"]) for p in charts["score_over_time"]}
    assert over_time == {(d.isoformat(), p, n, round(s, 4)) for d, p, n, s in sql(
        day_of_runs, "SELECT CAST(recorded_at AS DATE), phase, COUNT(*), AVG(score) FROM phase_quality_scores "
                     "WHERE recorded_at < TIMESTAMPTZ '2026-03-11 00:00:00+00' GROUP BY 1, 2")}
    assert {p["day"] for p in charts["score_over_time"]} == {"2026-03-09", "2026-03-10"}  # history, not tomorrow


def test_the_summary_and_the_worst_runs_come_from_the_days_runs(published, day_of_runs):
    data = stored_json(published["data_uri"])
    [(runs, cost, retries)] = sql(day_of_runs, f"SELECT COUNT(*), SUM(cost_usd), 0 FROM run_summaries WHERE {WINDOW}")
    [(attempts, mean)] = sql(day_of_runs, f"SELECT COUNT(*), AVG(score) FROM phase_quality_scores WHERE {WINDOW}")
    [(retry_rows,)] = sql(day_of_runs, f"SELECT COUNT(*) FROM retry_patterns WHERE {WINDOW}")
    [(timeouts,)] = sql(day_of_runs, f"SELECT COUNT(*) FROM user_feedback_analysis WHERE decision = 'timeout' AND {WINDOW}")

    summary = data["summary"]
    assert (summary["runs"], summary["attempts"], summary["retries"], summary["timeouts"]) == (
        runs, attempts, retry_rows, timeouts)
    assert summary["avg_score"] == pytest.approx(mean, abs=1e-4)
    assert summary["cost_usd"] == pytest.approx(cost) and summary["runs_with_cost"] == 2
    worst = [w["request_id"] for w in data["worst_runs"]]
    assert worst == [r for (r,) in sql(day_of_runs, f"SELECT request_id FROM run_summaries WHERE {WINDOW} "
                                                    f"ORDER BY min_score, request_id")]
    assert worst[0] == RUNS[3] and all(w["review_url"].endswith(w["request_id"]) for w in data["worst_runs"])


def test_the_page_the_pngs_and_the_row_are_stored(published, day_of_runs):
    from mangaflow.bootstrap import stores

    prefix = "gs://mangaflow-local-manga-final-products/reports/daily/2026-03-10/"
    assert published["html_uri"] == prefix + "report.html"
    assert sorted(published["chart_uris"]) == sorted(
        f"{prefix}charts/{name}.png" for name in ("score_over_time", "retry_rates", "gate_outcomes", "phase_times",
                                                  "cost_per_run"))
    for uri in published["chart_uris"]:
        png = stores().artifacts.get_bytes(uri)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000, uri
    page = stores().artifacts.get_bytes(published["html_uri"]).decode()
    assert page == published["html"]
    assert "<script src" not in page and "cdn" not in page.lower()  # nothing to fetch: the libraries are inline
    assert page.count("class='chart'") == 5
    rows = sql(day_of_runs, "SELECT period, period_start, period_end, runs, html_uri, data_uri, len(chart_uris) "
                            "FROM quality_reports")
    assert rows == [("daily", DAY, DAY, 4, published["html_uri"], published["data_uri"], 5)]


def test_the_page_draws_in_chromium_without_errors(published, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(published["html"], encoding="utf-8")
    shot = tmp_path / "report.png"

    run = subprocess.run(["node", str(REPO / "tests" / "ops" / "render_page.js"), str(page), str(shot)],
                         capture_output=True, text=True, timeout=120, cwd=REPO)

    assert run.returncode == 0, run.stdout + run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert (seen["console"], seen["page"], seen["requests"], seen["reportErrors"]) == ([], [], [], [])
    assert seen["offline_requests"] == []  # the page asked nothing of the network
    assert [c["id"] for c in seen["charts"]] == [f"chart-{n}" for n in (
        "score_over_time", "retry_rates", "gate_outcomes", "phase_times", "cost_per_run")]
    assert all(c["svg"] == 1 and c["marks"] > 0 for c in seen["charts"]), seen["charts"]
    assert sorted(seen["links"]) == sorted(f"http://127.0.0.1:9/review_gate?request_id={r}" for r in RUNS)
    assert shot.stat().st_size > 50_000


def test_a_period_with_no_recorded_cost_says_so(stack, tmp_path):
    from mangaflow import reports
    from mangaflow.stores import analytics

    backend = analytics.DuckDBBackend(tmp_path / "analytics.duckdb")
    analytics.record_run_summary("r-000000000000cc01", "completed", wall_s=5, active_s=4, attempts=7, retries=0,
                                 modifications=0, timeouts=0, recorded_at=at(9), backend=backend)
    data = reports.figures(DAY, "daily", backend=backend)
    data["generated_at"] = "now"
    specs = reports.chart_specs(data)

    assert data["summary"]["cost_usd"] is None
    assert specs["cost_per_run"]["mark"]["type"] == "text"
    assert "cost not recorded" in json.dumps(specs["cost_per_run"])
    assert "<dd>not recorded</dd>" in reports.page(data, specs)


def test_the_weekly_report_covers_the_iso_week(stack, day_of_runs):
    from mangaflow import reports

    data = reports.figures(dt.date(2026, 3, 12), "weekly", backend=day_of_runs)  # a Thursday

    assert (data["start"], data["end"]) == ("2026-03-09", "2026-03-15")
    assert data["summary"]["runs"] == 6  # the day's four and the runs of the 9th and 11th
