"""Analytics writes on the caller's path (issue 16): a run appends about 14 rows (scores, retries,
gate outcomes, timings). Before, each row opened the DuckDB file, inserted and closed it on the
caller's path; now a row is queued and the process's writer thread appends the queue in batches.

Measures, interleaved, medians of ROUNDS rounds of 14 rows on a fresh file each:
  - per-row time on the caller's path, opening the file per row (the former DuckDBBackend.insert),
  - per-row time on the caller's path, queued (DuckDBBackend.insert now),
  - time until all 14 queued rows are in the file (flush), and how many times the file was opened.

    .venv/bin/python bench/bench_analytics_writes.py
"""
from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from mangaflow.stores import analytics  # noqa: E402

ROUNDS, ROWS = 7, 14
WHEN = dt.datetime(2026, 3, 10, 12, tzinfo=dt.timezone.utc)


def row(backend: analytics.DuckDBBackend, attempt: int) -> None:
    analytics.record_quality_score("r-bench", 1 + attempt % 7, attempt, 0.8, "pass", recorded_at=WHEN, backend=backend)


def per_row_open(folder: Path) -> list[float]:
    """The former path: every insert opens, writes and closes the file before the caller goes on."""
    backend = analytics.DuckDBBackend(folder / "open-per-row.duckdb")
    backend.insert = lambda table, rows: backend._write(  # type: ignore[method-assign]
        [(table, [[r.get(f["name"]) for f in analytics.load_table_schema(table)] for r in rows])])
    times = []
    for attempt in range(1, ROWS + 1):
        started = time.perf_counter()
        row(backend, attempt)
        times.append(time.perf_counter() - started)
    return times


def queued(folder: Path) -> tuple[list[float], float, int]:
    backend = analytics.DuckDBBackend(folder / "queued.duckdb")
    times = []
    started_all = time.perf_counter()
    for attempt in range(1, ROWS + 1):
        started = time.perf_counter()
        row(backend, attempt)
        times.append(time.perf_counter() - started)
    backend.flush()
    return times, time.perf_counter() - started_all, backend.batches_written


def main() -> None:
    before, after, durable, opens = [], [], [], []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            before.extend(per_row_open(folder))
            times, whole, batches = queued(folder)
            after.extend(times)
            durable.append(whole)
            opens.append(batches)
    print(f"| caller's path per row, file opened per row | {statistics.median(before) * 1000:.1f} ms |")
    print(f"| caller's path per row, queued | {statistics.median(after) * 1000:.3f} ms |")
    print(f"| {ROWS} queued rows until in the file (flush) | {statistics.median(durable) * 1000:.1f} ms |")
    print(f"| file opened per {ROWS} queued rows | {statistics.median(opens):.0f} (was {ROWS}) |")
    print(f"| a run's {ROWS} rows on the caller's path | {statistics.median(before) * ROWS * 1000:.0f} ms -> "
          f"{statistics.median(after) * ROWS * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
