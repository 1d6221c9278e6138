"""Quality analytics: append gate scores, retries, feedback, chat metrics, phase timings and run
summaries; run the reports.

The report SQL is written once, in BigQuery's dialect (GoogleSQL). In the cloud it runs on
BigQuery; locally `sqlglot` translates it to DuckDB and it runs on a DuckDB file, so the reports
a developer sees are computed by the same query text that production runs.
"""
from __future__ import annotations

from mangaflow.config import settings

import atexit
import datetime as dt
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from mangaflow.errors import ValidationError

Row = dict[str, Any]
QueryParams = Mapping[str, Any]

DEFAULT_DATASET = "manga_quality_analytics"
DEFAULT_DUCKDB_PATH = ".local/analytics.duckdb"
_LOCK_WAIT_S = 5.0
TABLES = (
    "phase_quality_scores",
    "retry_patterns",
    "quality_trends",
    "user_feedback_analysis",
    "chat_interaction_metrics",
    "phase_timings",
    "run_summaries",
    "quality_reports",
)
QUALITY_DECISIONS = ("pass", "warn", "retry", "give_up")  # mangaflow.quality.gate
RETRY_REASONS = ("quality", "error", "timeout", "fallback")
RUN_STATUSES = ("completed", "failed", "cancelled")
REPORT_PERIODS = ("daily", "weekly")
FEEDBACK_DECISIONS = ("approve", "modify", "skip", "timeout")
CHAT_MESSAGE_TYPES = ("text", "quick_action", "system")


# --------------------------------------------------------------------------------------------
# Report SQL (GoogleSQL). Table names are unqualified: BigQuery resolves them in the job's
# default dataset, DuckDB in its main schema. Days are UTC, windows are half-open so BigQuery
# prunes partitions by recorded_at.
# --------------------------------------------------------------------------------------------

_DAY_WINDOW = (
    "recorded_at >= TIMESTAMP(@day) AND recorded_at < TIMESTAMP(DATE_ADD(@day, INTERVAL 1 DAY))"
)

# Per phase for one day: score statistics with exact (continuous) percentiles, gate decision
# shares, and the day's retries. PERCENTILE_CONT is analytic-only in BigQuery, hence the window
# in `scored` and MAX() to collapse it.
_DAY_PHASE_STATS = f"""
WITH scored AS (
  SELECT
    phase, request_id, score, decision,
    PERCENTILE_CONT(score, 0.5) OVER (PARTITION BY phase) AS p50,
    PERCENTILE_CONT(score, 0.9) OVER (PARTITION BY phase) AS p90
  FROM phase_quality_scores
  WHERE {_DAY_WINDOW}
),
score_stats AS (
  SELECT
    phase,
    COUNT(DISTINCT request_id) AS requests,
    COUNT(*) AS attempts,
    AVG(score) AS avg_score,
    MAX(p50) AS p50_score,
    MAX(p90) AS p90_score,
    MIN(score) AS min_score,
    COUNTIF(decision = 'pass') / COUNT(*) AS pass_rate,
    COUNTIF(decision = 'warn') / COUNT(*) AS warn_rate,
    COUNTIF(decision = 'retry') / COUNT(*) AS retry_rate,
    COUNTIF(decision = 'give_up') AS given_up
  FROM scored
  GROUP BY phase
),
retry_stats AS (
  SELECT phase, COUNT(*) AS retries, AVG(delay_s) AS avg_retry_delay_s
  FROM retry_patterns
  WHERE {_DAY_WINDOW}
  GROUP BY phase
)
"""

_DAILY_QUALITY_REPORT = f"""
{_DAY_PHASE_STATS},
feedback_stats AS (
  SELECT
    phase,
    COUNTIF(decision = 'approve') AS approvals,
    COUNTIF(decision = 'modify') AS modifications,
    COUNTIF(decision = 'skip') AS skips,
    COUNTIF(decision = 'timeout') AS timeouts,
    AVG(wait_s) AS avg_wait_s
  FROM user_feedback_analysis
  WHERE {_DAY_WINDOW}
  GROUP BY phase
)
SELECT
  s.phase, s.requests, s.attempts,
  ROUND(s.avg_score, 4) AS avg_score,
  ROUND(s.p50_score, 4) AS p50_score,
  ROUND(s.p90_score, 4) AS p90_score,
  ROUND(s.min_score, 4) AS min_score,
  ROUND(s.pass_rate, 4) AS pass_rate,
  ROUND(s.warn_rate, 4) AS warn_rate,
  ROUND(s.retry_rate, 4) AS retry_rate,
  s.given_up,
  IFNULL(r.retries, 0) AS retries,
  ROUND(r.avg_retry_delay_s, 3) AS avg_retry_delay_s,
  IFNULL(f.approvals, 0) AS approvals,
  IFNULL(f.modifications, 0) AS modifications,
  IFNULL(f.skips, 0) AS skips,
  IFNULL(f.timeouts, 0) AS timeouts,
  ROUND(f.avg_wait_s, 3) AS avg_wait_s
FROM score_stats AS s
LEFT JOIN retry_stats AS r ON r.phase = s.phase
LEFT JOIN feedback_stats AS f ON f.phase = s.phase
ORDER BY s.phase
"""

# aggregate_daily is idempotent: the day's rows are replaced. DML (not streaming inserts) so a
# rerun may delete them again: BigQuery refuses DELETE over rows still in the streaming buffer.
_DELETE_TRENDS_DAY = "DELETE FROM quality_trends WHERE day = @day"

_INSERT_TRENDS_DAY = f"""
INSERT INTO quality_trends (
  day, phase, requests, attempts, avg_score, p50_score, p90_score, min_score,
  pass_rate, warn_rate, retry_rate, given_up, retries, avg_retry_delay_s, computed_at
)
{_DAY_PHASE_STATS}
SELECT
  @day, s.phase, s.requests, s.attempts, s.avg_score, s.p50_score, s.p90_score, s.min_score,
  s.pass_rate, s.warn_rate, s.retry_rate, s.given_up, IFNULL(r.retries, 0),
  r.avg_retry_delay_s, @computed_at
FROM score_stats AS s
LEFT JOIN retry_stats AS r ON r.phase = s.phase
"""

# A week against the week before, from the daily aggregates. Scores are weighted by attempts so a
# quiet day does not count as much as a busy one.
_WEEKLY_TRENDS = """
WITH this_week AS (
  SELECT
    phase,
    COUNT(*) AS days,
    SUM(requests) AS requests,
    SUM(attempts) AS attempts,
    SUM(avg_score * attempts) / SUM(attempts) AS avg_score,
    MIN(avg_score) AS worst_day_avg_score,
    MAX(avg_score) AS best_day_avg_score,
    SUM(retries) AS retries,
    SUM(retry_rate * attempts) / SUM(attempts) AS retry_rate,
    SUM(given_up) AS given_up
  FROM quality_trends
  WHERE day >= @week_start AND day < DATE_ADD(@week_start, INTERVAL 7 DAY)
  GROUP BY phase
),
last_week AS (
  SELECT phase, SUM(avg_score * attempts) / SUM(attempts) AS avg_score
  FROM quality_trends
  WHERE day >= DATE_SUB(@week_start, INTERVAL 7 DAY) AND day < @week_start
  GROUP BY phase
)
SELECT
  w.phase, w.days, w.requests, w.attempts,
  ROUND(w.avg_score, 4) AS avg_score,
  ROUND(w.worst_day_avg_score, 4) AS worst_day_avg_score,
  ROUND(w.best_day_avg_score, 4) AS best_day_avg_score,
  w.retries,
  ROUND(w.retry_rate, 4) AS retry_rate,
  w.given_up,
  ROUND(p.avg_score, 4) AS previous_avg_score,
  ROUND(w.avg_score - p.avg_score, 4) AS score_change,
  CASE
    WHEN p.avg_score IS NULL THEN 'new'
    WHEN w.avg_score - p.avg_score >= 0.02 THEN 'improving'
    WHEN w.avg_score - p.avg_score <= -0.02 THEN 'declining'
    ELSE 'steady'
  END AS trend
FROM this_week AS w
LEFT JOIN last_week AS p ON p.phase = w.phase
ORDER BY w.phase
"""

# Chat engagement per phase for one day: how often a message became an applied modification.
_DAILY_CHAT_ENGAGEMENT = f"""
SELECT
  phase,
  COUNT(DISTINCT session_id) AS sessions,
  COUNT(*) AS messages,
  COUNTIF(applied) AS applied,
  ROUND(COUNTIF(applied) / COUNT(*), 4) AS applied_rate,
  ROUND(AVG(confidence), 4) AS avg_confidence,
  ROUND(AVG(response_ms), 1) AS avg_response_ms
FROM chat_interaction_metrics
WHERE {_DAY_WINDOW}
GROUP BY phase
ORDER BY phase
"""


@functools.lru_cache(maxsize=None)
def to_duckdb_sql(bigquery_sql: str) -> str:
    """Translate one GoogleSQL statement to DuckDB's dialect (cached: the texts are constants)."""
    import sqlglot

    statements = sqlglot.transpile(bigquery_sql, read="bigquery", write="duckdb")
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


class AnalyticsBackend(Protocol):
    """Where the rows go and the reports run: BigQuery in the cloud, DuckDB locally."""

    def insert(self, table: str, rows: Sequence[Row]) -> None: ...

    def query(self, bigquery_sql: str, params: QueryParams) -> list[Row]: ...

    def execute(self, bigquery_sql: str, params: QueryParams) -> None: ...


def schemas_dir() -> Path:
    """The folder of BigQuery table schemas: in the deploy bundle, or at the repository root
    (the same two places mangaflow.schemas looks; Terraform reads the repository's copy)."""
    here = Path(__file__).resolve()
    # Bundle: <root>/mangaflow/stores/analytics.py with <root>/schemas; repository:
    # <repo>/functions/mangaflow/stores/analytics.py with <repo>/schemas.
    for root in (here.parents[2], here.parents[3]):
        candidate = root / "schemas" / "bigquery"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("schemas/bigquery not found beside the mangaflow package")


def load_table_schema(table: str) -> list[dict[str, Any]]:
    """The BigQuery schema (list of fields) of one analytics table."""
    if table not in TABLES:
        raise ValidationError(f"unknown analytics table {table!r}; one of {', '.join(TABLES)}",
                              field="table")
    return json.loads((schemas_dir() / f"{table}.json").read_text(encoding="utf-8"))


_DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INTEGER": "BIGINT",
    "INT64": "BIGINT",
    "FLOAT": "DOUBLE",
    "FLOAT64": "DOUBLE",
    "NUMERIC": "DECIMAL(38, 9)",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
}


def duckdb_create_table(table: str, fields: Sequence[Mapping[str, Any]]) -> str:
    """DuckDB DDL equivalent to a BigQuery schema (REPEATED becomes a list column)."""
    columns = []
    for field in fields:
        column_type = _DUCKDB_TYPES[field["type"].upper()]
        mode = field.get("mode", "NULLABLE").upper()
        if mode == "REPEATED":
            column_type += "[]"
        not_null = " NOT NULL" if mode == "REQUIRED" else ""
        columns.append(f'"{field["name"]}" {column_type}{not_null}')
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({", ".join(columns)})'


class DuckDBBackend:
    """Analytics in one DuckDB file, which one process at a time may open: rows are queued and a
    writer thread of the process appends them in batches (one open of the file per batch, off the
    caller's path); a query first waits for this process's queued rows, then opens the file briefly
    (the gateway's workers, the CLI and tests may all touch it)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # one connection of this process at a time
        self._ready = False
        self._queue: list[tuple[str, list[list[Any]]]] = []
        self._writing = False
        self._queued = threading.Condition()
        self._writer_pid = 0
        self.batches_written = 0

    def _connect(self) -> Any:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Another process (the CLI beside the local gateway) may hold the file for a moment.
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                connection = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as err:
                if "lock" not in str(err).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # BigQuery's TIMESTAMP(date) is midnight UTC; DuckDB would use the machine's zone.
        connection.execute("SET TimeZone = 'UTC'")
        if not self._ready:
            for table in TABLES:
                fields = load_table_schema(table)
                connection.execute(duckdb_create_table(table, fields))
                # A file made before a column was added to the schema gets it (nullable columns only).
                for field in fields:
                    if field.get("mode", "NULLABLE").upper() == "NULLABLE":
                        connection.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{field["name"]}" '
                                           f'{_DUCKDB_TYPES[field["type"].upper()]}')
            self._ready = True
        return connection

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        names = [field["name"] for field in load_table_schema(table)]
        values = [[row.get(name) for name in names] for row in rows]
        with self._queued:
            self._queue.append((table, values))
            if self._writer_pid != os.getpid():  # none yet, or the parent's (threads do not survive a fork)
                self._writer_pid = os.getpid()
                threading.Thread(target=self._write_forever, name="analytics-writer", daemon=True).start()
                atexit.register(self.flush)
            self._queued.notify_all()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Waits until every row this process queued is in the file; False if that took too long."""
        with self._queued:
            return self._queued.wait_for(lambda: not self._queue and not self._writing, timeout_s)

    def _write_forever(self) -> None:
        while True:
            with self._queued:
                self._queued.wait_for(lambda: bool(self._queue))
                batch, self._queue, self._writing = self._queue, [], True
            try:
                self._write(batch)
            except Exception as err:  # noqa: BLE001 - analytics is best effort; say what was lost
                logging.getLogger("mangaflow").warning("analytics rows not written (%d batches): %s: %s",
                                                       len(batch), type(err).__name__, err)
            finally:
                with self._queued:
                    self._writing = False
                    self._queued.notify_all()

    def _write(self, batch: list[tuple[str, list[list[Any]]]]) -> None:
        by_table: dict[str, list[list[Any]]] = {}
        for table, values in batch:
            by_table.setdefault(table, []).extend(values)
        with self._lock:
            connection = self._connect()
            try:
                for table, values in by_table.items():
                    names = [field["name"] for field in load_table_schema(table)]
                    columns = ", ".join(f'"{name}"' for name in names)
                    placeholders = ", ".join("?" for _ in names)
                    connection.executemany(f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders})', values)
            finally:
                connection.close()
        self.batches_written += 1

    def query(self, bigquery_sql: str, params: QueryParams) -> list[Row]:
        self.flush()
        with self._lock:
            connection = self._connect()
            try:
                cursor = connection.execute(to_duckdb_sql(bigquery_sql), dict(params))
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, values)) for values in cursor.fetchall()]
            finally:
                connection.close()

    def execute(self, bigquery_sql: str, params: QueryParams) -> None:
        self.flush()
        with self._lock:
            connection = self._connect()
            try:
                connection.execute(to_duckdb_sql(bigquery_sql), dict(params))
            finally:
                connection.close()


def _bigquery_parameter(name: str, value: Any) -> Any:
    from google.cloud import bigquery

    # bool before int: bool is an int in Python.
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, dt.datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, dt.date):
        kind = "DATE"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


class BigQueryBackend:
    """Analytics in a BigQuery dataset; the client is created once, on first use."""

    def __init__(self, project: str, dataset: str = DEFAULT_DATASET, location: str | None = None):
        self.project = project
        self.dataset = dataset
        self.location = location
        self._client: Any = None

    def _bigquery_client(self) -> Any:
        if self._client is None:
            from google.cloud import bigquery  # cloud path only: not needed on a laptop

            self._client = bigquery.Client(project=self.project, location=self.location)
        return self._client

    def insert(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        errors = self._bigquery_client().insert_rows_json(
            f"{self.project}.{self.dataset}.{table}", [_json_row(row) for row in rows]
        )
        if errors:
            raise RuntimeError(f"BigQuery rejected rows for {table}: {errors[:3]}")

    def _run(self, bigquery_sql: str, params: QueryParams) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            default_dataset=f"{self.project}.{self.dataset}",
            query_parameters=[_bigquery_parameter(k, v) for k, v in params.items()],
        )
        return self._bigquery_client().query(bigquery_sql, job_config=config).result()

    def query(self, bigquery_sql: str, params: QueryParams) -> list[Row]:
        return [dict(row.items()) for row in self._run(bigquery_sql, params)]

    def execute(self, bigquery_sql: str, params: QueryParams) -> None:
        self._run(bigquery_sql, params)


def _json_row(row: Row) -> Row:
    """Streaming inserts take JSON: dates and timestamps as ISO-8601 strings."""
    return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
            for k, v in row.items()}


_backends: dict[tuple[str, ...], AnalyticsBackend] = {}
_backends_lock = threading.Lock()


def backend_from_env() -> AnalyticsBackend:
    """BigQuery when MANGAFLOW_ANALYTICS=bigquery (set by the Terraform deploy), else DuckDB at
    MANGAFLOW_ANALYTICS_DB (default .local/analytics.duckdb). One backend per configuration."""
    config = settings()
    if config.analytics == "bigquery":
        if not config.has_cloud_project:
            raise ValidationError("GOOGLE_CLOUD_PROJECT must name the Google Cloud project for BigQuery analytics",
                                  field="GOOGLE_CLOUD_PROJECT")
        key: tuple[str, ...] = ("bigquery", config.google_cloud_project, config.bigquery_dataset)
    else:
        key = ("duckdb", os.path.abspath(config.analytics_db))
    with _backends_lock:
        if key not in _backends:
            if key[0] == "bigquery":
                _backends[key] = BigQueryBackend(key[1], key[2], config.bigquery_location or None)
            else:
                _backends[key] = DuckDBBackend(key[1])
        return _backends[key]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _phase(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
        raise ValidationError(f"phase must be an integer from 1 to 7, got {value!r}", field="phase")
    return value


def _unit(name: str, value: float | None, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValidationError(f"{name} must be a number from 0.0 to 1.0, got {value!r}", field=name)
    return float(value)


def _choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}",
                              field=name)
    return value


def _count(name: str, value: int | None, *, minimum: int, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}, got {value!r}", field=name)
    return value


def _seconds(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValidationError(f"{name} must be a number of seconds >= 0, got {value!r}", field=name)
    return float(value)


def _dollars(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValidationError(f"{name} must be an amount of US dollars >= 0, got {value!r}", field=name)
    return float(value)


def _text(name: str, value: str | None, *, optional: bool = False, limit: int = 200) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValidationError(f"{name} must be a non-empty string of at most {limit} characters",
                              field=name)
    return value


def _when(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.timezone.utc)
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationError("recorded_at must be a timezone-aware datetime", field="recorded_at")
    return value.astimezone(dt.timezone.utc)


def _day(name: str, value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError(f"{name} must be a date (not a datetime), got {value!r}", field=name)
    return value


def _hints(hints: Sequence[str] | None) -> list[str]:
    hints = list(hints or [])
    if not all(isinstance(hint, str) for hint in hints) or len(hints) > 50:
        raise ValidationError("hints must be a list of at most 50 strings", field="hints")
    return hints


# --------------------------------------------------------------------------------------------
# Public API: record rows, run reports
# --------------------------------------------------------------------------------------------


def record_quality_score(
    request_id: str,
    phase: int,
    attempt: int,
    score: float,
    decision: str,
    *,
    panel_id: str | None = None,
    provider: str | None = None,
    duration_ms: int | None = None,
    hints: Sequence[str] | None = None,
    cost_usd: float | None = None,
    model_calls: int | None = None,
    recorded_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> Row:
    """Append one quality-gate result to phase_quality_scores; returns the row written."""
    row = {
        "recorded_at": _when(recorded_at),
        "request_id": _text("request_id", request_id),
        "phase": _phase(phase),
        "attempt": _count("attempt", attempt, minimum=1),
        "score": _unit("score", score),
        "decision": _choice("decision", decision, QUALITY_DECISIONS),
        "panel_id": _text("panel_id", panel_id, optional=True),
        "provider": _text("provider", provider, optional=True),
        "duration_ms": _count("duration_ms", duration_ms, minimum=0, optional=True),
        "hints": _hints(hints),
        "cost_usd": None if cost_usd is None else _dollars("cost_usd", cost_usd),
        "model_calls": _count("model_calls", model_calls, minimum=0, optional=True),
    }
    (backend or backend_from_env()).insert("phase_quality_scores", [row])
    return row


def record_retry(
    request_id: str,
    phase: int,
    attempt: int,
    reason: str,
    *,
    score: float | None = None,
    delay_s: float | None = None,
    panel_id: str | None = None,
    hints: Sequence[str] | None = None,
    recorded_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> Row:
    """Append one retry to retry_patterns: `attempt` is the run that is the retry, `score` its
    score when it has one, `delay_s` the back-off before it when the caller knows it."""
    row = {
        "recorded_at": _when(recorded_at),
        "request_id": _text("request_id", request_id),
        "phase": _phase(phase),
        "attempt": _count("attempt", attempt, minimum=1),
        "reason": _choice("reason", reason, RETRY_REASONS),
        "score": _unit("score", score, optional=True),
        "delay_s": None if delay_s is None else _seconds("delay_s", delay_s),
        "panel_id": _text("panel_id", panel_id, optional=True),
        "hints": _hints(hints),
    }
    (backend or backend_from_env()).insert("retry_patterns", [row])
    return row


def record_feedback(
    request_id: str,
    phase: int,
    decision: str,
    wait_s: float,
    *,
    modification_round: int = 0,
    quick_option: str | None = None,
    intensity: float | None = None,
    feedback_text: str | None = None,
    recorded_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> Row:
    """Append one approval-gate outcome (approve, modify, skip or timeout) to
    user_feedback_analysis."""
    row = {
        "recorded_at": _when(recorded_at),
        "request_id": _text("request_id", request_id),
        "phase": _phase(phase),
        "decision": _choice("decision", decision, FEEDBACK_DECISIONS),
        "quick_option": _text("quick_option", quick_option, optional=True),
        "intensity": _unit("intensity", intensity, optional=True),
        "wait_s": _seconds("wait_s", wait_s),
        "modification_round": _count("modification_round", modification_round, minimum=0),
        "feedback_text": _text("feedback_text", feedback_text, optional=True, limit=10_000),
    }
    if row["modification_round"] > 3:
        raise ValidationError("modification_round must be at most 3 (three reruns per phase)",
                              field="modification_round")
    (backend or backend_from_env()).insert("user_feedback_analysis", [row])
    return row


def record_chat_metric(
    session_id: str,
    request_id: str,
    phase: int,
    message_type: str,
    applied: bool,
    *,
    intent: str | None = None,
    confidence: float | None = None,
    response_ms: int | None = None,
    recorded_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> Row:
    """Append one processed chat message to chat_interaction_metrics."""
    if not isinstance(applied, bool):
        raise ValidationError("applied must be true or false", field="applied")
    row = {
        "recorded_at": _when(recorded_at),
        "session_id": _text("session_id", session_id),
        "request_id": _text("request_id", request_id),
        "phase": _phase(phase),
        "message_type": _choice("message_type", message_type, CHAT_MESSAGE_TYPES),
        "intent": _text("intent", intent, optional=True),
        "confidence": _unit("confidence", confidence, optional=True),
        "applied": applied,
        "response_ms": _count("response_ms", response_ms, minimum=0, optional=True),
    }
    (backend or backend_from_env()).insert("chat_interaction_metrics", [row])
    return row


def daily_quality_report(day: dt.date, *, backend: AnalyticsBackend | None = None) -> list[Row]:
    """Per phase for one UTC day: score average and percentiles, gate decision shares, retries
    and approval-gate outcomes. Phases with no scored attempt that day are absent."""
    return (backend or backend_from_env()).query(_DAILY_QUALITY_REPORT, {"day": _day("day", day)})


def daily_chat_engagement(day: dt.date, *, backend: AnalyticsBackend | None = None) -> list[Row]:
    """Per phase for one UTC day: chat sessions, messages and how many became modifications."""
    return (backend or backend_from_env()).query(_DAILY_CHAT_ENGAGEMENT, {"day": _day("day", day)})


def aggregate_daily(
    day: dt.date,
    *,
    computed_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> int:
    """Replace quality_trends rows for `day` with fresh aggregates; returns the rows written."""
    backend = backend or backend_from_env()
    day = _day("day", day)
    backend.execute(_DELETE_TRENDS_DAY, {"day": day})
    backend.execute(_INSERT_TRENDS_DAY, {"day": day, "computed_at": _when(computed_at)})
    written = backend.query("SELECT COUNT(*) AS n FROM quality_trends WHERE day = @day",
                            {"day": day})
    return int(written[0]["n"])


def weekly_trends(week_start: dt.date, *, backend: AnalyticsBackend | None = None) -> list[Row]:
    """Per phase, the seven days from `week_start` (from quality_trends) against the week before:
    weighted average score, best and worst day, retries, and a trend word."""
    return (backend or backend_from_env()).query(
        _WEEKLY_TRENDS, {"week_start": _day("week_start", week_start)}
    )


def record_phase_timing(
    request_id: str,
    phase: int,
    active_s: float,
    gate_wait_s: float,
    *,
    attempts: int,
    retries: int,
    modifications: int,
    decision: str,
    recorded_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> Row:
    """Append one completed phase (its work time without gate waits, its gate waits) to phase_timings."""
    row = {
        "recorded_at": _when(recorded_at),
        "request_id": _text("request_id", request_id),
        "phase": _phase(phase),
        "active_s": _seconds("active_s", active_s),
        "gate_wait_s": _seconds("gate_wait_s", gate_wait_s),
        "attempts": _count("attempts", attempts, minimum=0),
        "retries": _count("retries", retries, minimum=0),
        "modifications": _count("modifications", modifications, minimum=0),
        "decision": _choice("decision", decision, ("approve", "skip", "timeout")),
    }
    (backend or backend_from_env()).insert("phase_timings", [row])
    return row


def record_run_summary(
    request_id: str,
    status: str,
    *,
    wall_s: float,
    active_s: float,
    attempts: int,
    retries: int,
    modifications: int,
    timeouts: int,
    pages: int | None = None,
    language: str | None = None,
    avg_score: float | None = None,
    min_score: float | None = None,
    cost_usd: float | None = None,
    review_url: str | None = None,
    recorded_at: dt.datetime | None = None,
    backend: AnalyticsBackend | None = None,
) -> Row:
    """Append one finished run to run_summaries (cost_usd stays null when the run recorded none)."""
    if cost_usd is not None and (isinstance(cost_usd, bool) or not isinstance(cost_usd, (int, float))
                                 or cost_usd < 0):
        raise ValidationError(f"cost_usd must be a number of dollars >= 0, got {cost_usd!r}", field="cost_usd")
    row = {
        "recorded_at": _when(recorded_at),
        "request_id": _text("request_id", request_id),
        "status": _choice("status", status, RUN_STATUSES),
        "pages": _count("pages", pages, minimum=1, optional=True),
        "language": _text("language", language, optional=True, limit=8),
        "wall_s": _seconds("wall_s", wall_s),
        "active_s": _seconds("active_s", active_s),
        "attempts": _count("attempts", attempts, minimum=0),
        "retries": _count("retries", retries, minimum=0),
        "modifications": _count("modifications", modifications, minimum=0),
        "timeouts": _count("timeouts", timeouts, minimum=0),
        "avg_score": _unit("avg_score", avg_score, optional=True),
        "min_score": _unit("min_score", min_score, optional=True),
        "cost_usd": None if cost_usd is None else float(cost_usd),
        "review_url": _text("review_url", review_url, optional=True, limit=2000),
    }
    (backend or backend_from_env()).insert("run_summaries", [row])
    return row


def record_quality_report(row: Mapping[str, Any], *, backend: AnalyticsBackend | None = None) -> Row:
    """Append one published report (its period, headline figures and where it is) to quality_reports."""
    written = dict(row)
    _choice("period", written.get("period"), REPORT_PERIODS)
    written["generated_at"] = _when(written.get("generated_at"))
    (backend or backend_from_env()).insert("quality_reports", [written])
    return written


# --------------------------------------------------------------------------------------------
# The figures of a quality report (GoogleSQL, each over the period [@start, @end], UTC days).
# --------------------------------------------------------------------------------------------

_PERIOD = "recorded_at >= TIMESTAMP(@start) AND recorded_at < TIMESTAMP(DATE_ADD(@end, INTERVAL 1 DAY))"

REPORT_SQL = {
    # Quality score per phase over time: one point per UTC day and phase (over @history_start..@end).
    "score_over_time": """
SELECT DATE(recorded_at) AS day, phase, COUNT(*) AS attempts, ROUND(AVG(score), 4) AS avg_score
FROM phase_quality_scores
WHERE panel_id IS NULL AND recorded_at >= TIMESTAMP(@history_start)
  AND recorded_at < TIMESTAMP(DATE_ADD(@end, INTERVAL 1 DAY))
GROUP BY day, phase
ORDER BY day, phase
""",
    # Retry rate per phase: quality-gate retries among the scored attempts of the period.
    "retry_rates": f"""
WITH attempts AS (
  SELECT phase, COUNT(*) AS attempts FROM phase_quality_scores WHERE panel_id IS NULL AND {_PERIOD} GROUP BY phase
),
retries AS (
  SELECT phase, COUNT(*) AS retries FROM retry_patterns WHERE panel_id IS NULL AND {_PERIOD} GROUP BY phase
)
SELECT a.phase, a.attempts, IFNULL(r.retries, 0) AS retries,
       ROUND(IFNULL(r.retries, 0) / a.attempts, 4) AS retry_rate
FROM attempts AS a LEFT JOIN retries AS r ON r.phase = a.phase
ORDER BY a.phase
""",
    # Gate outcomes per phase: approve, modify, skip, timeout.
    "gate_outcomes": f"""
SELECT phase, decision, COUNT(*) AS gates
FROM user_feedback_analysis
WHERE {_PERIOD}
GROUP BY phase, decision
ORDER BY phase, decision
""",
    # Time per phase: work to the approved output, and the wait at its gates.
    "phase_times": f"""
SELECT phase, COUNT(*) AS completions, ROUND(AVG(active_s), 3) AS avg_active_s,
       ROUND(MAX(active_s), 3) AS max_active_s, ROUND(AVG(gate_wait_s), 3) AS avg_gate_wait_s
FROM phase_timings
WHERE {_PERIOD}
GROUP BY phase
ORDER BY phase
""",
    # Every run that finished in the period, with its cost when it recorded one.
    "runs": f"""
SELECT request_id, recorded_at, status, pages, wall_s, active_s, attempts, retries, modifications,
       timeouts, avg_score, min_score, cost_usd, review_url
FROM run_summaries
WHERE {_PERIOD}
ORDER BY recorded_at, request_id
""",
    # The worst runs: lowest quality first, then the most retries and timeouts.
    "worst_runs": f"""
SELECT request_id, status, avg_score, min_score, retries, timeouts, modifications, review_url
FROM run_summaries
WHERE {_PERIOD}
ORDER BY min_score IS NULL, min_score, retries DESC, timeouts DESC, request_id
LIMIT 5
""",
}


def report_figures(start: dt.date, end: dt.date, history_start: dt.date, *,
                   backend: AnalyticsBackend | None = None) -> dict[str, list[Row]]:
    """Every figure a quality report charts, by name (REPORT_SQL), for the days start..end."""
    backend = backend or backend_from_env()
    params = {"start": _day("start", start), "end": _day("end", end),
              "history_start": _day("history_start", history_start)}
    return {name: backend.query(sql, {k: v for k, v in params.items() if f"@{k}" in sql})
            for name, sql in REPORT_SQL.items()}
