"""Quality reports people read: the daily or weekly figures of the analytics tables as charts
(Vega-Lite specs made with Altair), written to the final-products bucket as one HTML page that works
offline (the Vega libraries inlined, no CDN), each chart as a PNG, the figures as JSON, and a row in
the `quality_reports` table.

Charts: quality score per phase over time, retry rate per phase, gate outcomes (approve, modify,
skip, timeout), time per phase (work and gate wait), cost per run ("not recorded" when no run
recorded one); then the worst runs with links to their review pages.
"""
from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

from . import maintenance
from .bootstrap import Stores
from .errors import ValidationError
from .stores import analytics

HISTORY_DAYS = {"daily": 14, "weekly": 28}  # how far back "score over time" looks
OUTCOMES = ["approve", "modify", "skip", "timeout"]
OUTCOME_COLOURS = ["#2e7d32", "#f9a825", "#1565c0", "#c62828"]
CHARTS = ("score_over_time", "retry_rates", "gate_outcomes", "phase_times", "cost_per_run")
TITLES = {
    "score_over_time": "Quality score per phase over time",
    "retry_rates": "Retry rate per phase",
    "gate_outcomes": "Gate outcomes per phase",
    "phase_times": "Time per phase (mean seconds)",
    "cost_per_run": "Cost per run",
}


def period_days(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    """The days a report covers: the day itself, or the ISO week (Monday to Sunday) holding it."""
    if period not in analytics.REPORT_PERIODS:
        raise ValidationError(f"period must be one of {', '.join(analytics.REPORT_PERIODS)}, got {period!r}",
                              field="period")
    if period == "daily":
        return day, day
    start = maintenance.week_start_of(day)
    return start, start + dt.timedelta(days=6)


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def figures(day: dt.date, period: str = "daily", *,
            backend: analytics.AnalyticsBackend | None = None) -> dict[str, Any]:
    """Everything the report shows, JSON-ready: the period, a summary, each chart's rows, the worst
    runs, and the per-phase table of the daily (or weekly) quality report."""
    start, end = period_days(day, period)
    history_start = end - dt.timedelta(days=HISTORY_DAYS[period] - 1)
    rows = _plain(analytics.report_figures(start, end, history_start, backend=backend))
    runs = rows.pop("runs")
    rows["cost_per_run"] = [{"request_id": r["request_id"], "cost_usd": r["cost_usd"]} for r in runs]
    costs = [r["cost_usd"] for r in runs if r["cost_usd"] is not None]
    attempts = sum(r["attempts"] for r in rows["retry_rates"])
    scored = [p for p in rows["score_over_time"] if start.isoformat() <= p["day"] <= end.isoformat()]
    summary = {
        "runs": len(runs),
        "attempts": attempts,
        "avg_score": round(sum(p["avg_score"] * p["attempts"] for p in scored) / attempts, 4) if attempts else None,
        "retries": sum(r["retries"] for r in rows["retry_rates"]),
        "timeouts": sum(g["gates"] for g in rows["gate_outcomes"] if g["decision"] == "timeout"),
        "cost_usd": round(sum(costs), 6) if costs else None,
        "runs_with_cost": len(costs),
    }
    return {"period": period, "start": start.isoformat(), "end": end.isoformat(),
            "history_start": history_start.isoformat(), "summary": summary,
            "charts": {name: rows[name] for name in CHARTS}, "runs": runs, "worst_runs": rows["worst_runs"],
            "quality": maintenance.quality_report(day, period, backend=backend)}


# -- charts -----------------------------------------------------------------------------------


def chart_specs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One Vega-Lite spec per chart (data inlined), made with Altair."""
    import altair as alt

    charts = data["charts"]
    width = 520

    def frame(rows: list[dict[str, Any]]) -> Any:
        return alt.Chart(alt.Data(values=rows)).properties(width=width, height=240)

    phase = alt.X("phase:O", title="phase")
    specs = {
        "score_over_time": frame(charts["score_over_time"]).mark_line(point=True).encode(
            x=alt.X("day:T", title="day (UTC)"), y=alt.Y("avg_score:Q", title="mean score", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("phase:N", title="phase"), tooltip=["day:T", "phase:N", "avg_score:Q", "attempts:Q"]),
        "retry_rates": frame(charts["retry_rates"]).mark_bar().encode(
            x=phase, y=alt.Y("retry_rate:Q", title="retries / attempts", scale=alt.Scale(domain=[0, 1])),
            tooltip=["phase:O", "attempts:Q", "retries:Q", "retry_rate:Q"]),
        "gate_outcomes": frame(charts["gate_outcomes"]).mark_bar().encode(
            x=phase, y=alt.Y("gates:Q", title="gates"),
            color=alt.Color("decision:N", title="outcome",
                            scale=alt.Scale(domain=OUTCOMES, range=OUTCOME_COLOURS)),
            tooltip=["phase:O", "decision:N", "gates:Q"]),
        "phase_times": frame(charts["phase_times"]).transform_fold(
            ["avg_active_s", "avg_gate_wait_s"], as_=["measure", "seconds"]).mark_bar().encode(
            x=phase, xOffset="measure:N", y=alt.Y("seconds:Q", title="seconds"),
            color=alt.Color("measure:N", title="", scale=alt.Scale(
                domain=["avg_active_s", "avg_gate_wait_s"], range=["#5e35b1", "#90a4ae"]),
                legend=alt.Legend(labelExpr="datum.label == 'avg_active_s' ? 'work' : 'waiting at the gate'")),
            tooltip=["phase:O", "completions:Q", "avg_active_s:Q", "max_active_s:Q", "avg_gate_wait_s:Q"]),
    }
    recorded = [row for row in charts["cost_per_run"] if row["cost_usd"] is not None]
    if recorded:
        specs["cost_per_run"] = frame(recorded).mark_bar().encode(
            x=alt.X("request_id:N", title="run", sort=None), y=alt.Y("cost_usd:Q", title="US dollars"),
            tooltip=["request_id:N", "cost_usd:Q"])
    else:
        specs["cost_per_run"] = alt.Chart(alt.Data(values=[{"text": "cost not recorded for any run"}])).mark_text(
            size=16).encode(text="text:N").properties(width=width, height=60)
    return {name: {**chart.properties(title=TITLES[name]).to_dict(), "$schema": alt.SCHEMA_URL}
            for name, chart in specs.items()}


def chart_pngs(specs: dict[str, dict[str, Any]]) -> dict[str, bytes]:
    import vl_convert

    return {name: bytes(vl_convert.vegalite_to_png(spec, scale=2)) for name, spec in specs.items()}


def _script_json(value: Any) -> str:
    # Inside <script>: no "</" can close the element early.
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def _table(rows: list[dict[str, Any]], columns: list[str], link: str | None = None) -> str:
    if not rows:
        return "<p class='empty'>none in this period</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = "not recorded" if value is None and column == "cost_usd" else ("" if value is None else str(value))
            if column == link and row.get("review_url"):
                text = f"<a href='{html.escape(row['review_url'], quote=True)}'>{html.escape(text)}</a>"
            else:
                text = html.escape(text)
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(data: dict[str, Any], specs: dict[str, dict[str, Any]]) -> str:
    """The report as one HTML page that needs nothing from the network."""
    import vl_convert

    summary = data["summary"]
    title = f"Mangaflow quality report: {data['period']} {data['start']}" + (
        f" to {data['end']}" if data["end"] != data["start"] else "")
    cost = "not recorded" if summary["cost_usd"] is None else f"${summary['cost_usd']:.4f} ({summary['runs_with_cost']} runs)"
    facts = [("runs finished", summary["runs"]), ("scored attempts", summary["attempts"]),
             ("mean score", summary["avg_score"] if summary["avg_score"] is not None else "no attempts"),
             ("quality-gate retries", summary["retries"]), ("gates timed out", summary["timeouts"]), ("cost", cost)]
    sections = "".join(  # each chart carries its own title
        f"<section><div class='chart' id='chart-{name}' role='img' aria-label='{html.escape(TITLES[name])}'></div>"
        f"</section>" for name in CHARTS)
    worst = _table(data["worst_runs"], ["request_id", "status", "min_score", "avg_score", "retries", "timeouts",
                                        "modifications"], link="request_id")
    phases = _table(data["quality"].get("phases", []), ["phase", "requests", "attempts", "avg_score", "min_score",
                                                        "retries", "approvals", "modifications", "skips", "timeouts"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
.chart {{ min-height: 100px; }} .empty {{ color: #777; }} dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }}
</style>
<script>{vl_convert.javascript_bundle()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p>Generated {html.escape(data['generated_at'])} (UTC days). Figures from the analytics tables; the same data is in report.json.</p>
<dl>{''.join(f'<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>' for k, v in facts)}</dl>
{sections}
<section><h2>Worst runs</h2>{worst}</section>
<section><h2>Per phase</h2>{phases}</section>
<script>
const specs = {_script_json(specs)};
window.reportErrors = [];
window.reportRendered = Promise.all(Object.entries(specs).map(([name, spec]) =>
  vegaEmbed('#chart-' + name, spec, {{actions: false, renderer: 'svg'}}).catch(err => {{
    window.reportErrors.push(name + ': ' + err);
    document.getElementById('chart-' + name).textContent = 'This chart could not be drawn: ' + err;
  }})));
</script>
</body></html>
"""


# -- publishing ---------------------------------------------------------------------------------


def publish(stores: Stores, day: dt.date, period: str = "daily", *, inline: bool = False,
            backend: analytics.AnalyticsBackend | None = None) -> dict[str, Any]:
    """Make the report of `day` (daily) or of its ISO week (weekly), write it to the final-products
    bucket (reports/<period>/<start>/: report.html, report.json, charts/<chart>.png) and record
    it in `quality_reports`. With `inline` the answer carries the page itself too."""
    data = figures(day, period, backend=backend)
    data["generated_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    specs = chart_specs(data)
    prefix = f"reports/{period}/{data['start']}"
    chart_uris = [stores.artifacts.put_named("final_products", f"{prefix}/charts/{name}.png", png, "image/png")
                  for name, png in chart_pngs(specs).items()]
    text = page(data, specs)
    html_uri = stores.artifacts.put_named("final_products", f"{prefix}/report.html", text.encode("utf-8"),
                                          "text/html; charset=utf-8")
    data_uri = stores.artifacts.put_named("final_products", f"{prefix}/report.json",
                                          json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"),
                                          "application/json")
    summary = data["summary"]
    analytics.record_quality_report({
        "period_start": dt.date.fromisoformat(data["start"]), "period": period,
        "period_end": dt.date.fromisoformat(data["end"]), "generated_at": dt.datetime.fromisoformat(data["generated_at"]),
        "runs": summary["runs"], "attempts": summary["attempts"], "avg_score": summary["avg_score"],
        "retries": summary["retries"], "timeouts": summary["timeouts"], "cost_usd": summary["cost_usd"],
        "html_uri": html_uri, "data_uri": data_uri, "chart_uris": chart_uris}, backend=backend)
    answer = {"period": period, "start": data["start"], "end": data["end"], "html_uri": html_uri,
              "data_uri": data_uri, "chart_uris": chart_uris, "summary": summary,
              "flagged_phases": data["quality"].get("flagged_phases", [])}
    if inline:
        answer["html"] = text
    return answer
