"""Jobs and their attempts in one SQLite file under the data folder, so both survive a restart.

A job is kept as its serialized Job message; an attempt as one row (when, which run, HTTP status,
duration, error). Every write is its own committed transaction (WAL), so a killed server loses nothing
it has answered for.
"""
from __future__ import annotations

import fcntl
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from .jobs import JobPb

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (name TEXT PRIMARY KEY, job BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    run_id TEXT NOT NULL,
    dispatch TEXT NOT NULL,          -- SCHEDULED (on its cron) or RUN_NOW (the :run method)
    attempt INTEGER NOT NULL,        -- 1 for the first try of a run, 2.. for its retries
    schedule_time TEXT NOT NULL,
    attempt_time TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    response_code INTEGER,           -- the target's HTTP status; NULL when there was no answer
    rpc_code INTEGER NOT NULL,       -- google.rpc.Code of the outcome (0 = OK)
    error TEXT                       -- why it failed, for people
);
CREATE INDEX IF NOT EXISTS attempts_by_job ON attempts (job, id);
"""


@dataclass(frozen=True)
class Attempt:
    job: str
    run_id: str
    dispatch: str
    attempt: int
    schedule_time: str
    attempt_time: str
    duration_ms: float
    response_code: int | None
    rpc_code: int
    error: str | None

    def resource(self) -> dict[str, Any]:
        """The attempt as the local /attempts extension returns it (camelCase, as the REST API writes)."""
        out: dict[str, Any] = {
            "runId": self.run_id, "dispatch": self.dispatch, "attempt": self.attempt,
            "scheduleTime": self.schedule_time, "attemptTime": self.attempt_time,
            "durationMs": round(self.duration_ms, 3), "status": {"code": self.rpc_code},
        }
        if self.response_code is not None:
            out["responseCode"] = self.response_code
        if self.error:
            out["error"] = self.error
            out["status"]["message"] = self.error
        return out


class JobStore:
    """The SQLite file `scheduler.sqlite3` in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_folder(data_dir)
        self.path = data_dir / "scheduler.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process, fast enough
        self._db.executescript(SCHEMA)

    def load_jobs(self) -> dict[str, Any]:
        jobs = {}
        for name, blob in self._db.execute("SELECT name, job FROM jobs ORDER BY name"):
            jobs[name] = JobPb.FromString(blob)
        return jobs

    def save_job(self, job: Any) -> None:
        self._db.execute("INSERT INTO jobs (name, job) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET job = excluded.job",
                         (job.name, job.SerializeToString()))

    def delete_job(self, name: str) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM jobs WHERE name = ?", (name,))
            self._db.execute("DELETE FROM attempts WHERE job = ?", (name,))

    def record_attempt(self, attempt: Attempt, job: Any) -> None:
        """The attempt and the job's new lastAttemptTime / status, in one transaction."""
        row = asdict(attempt)
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(f"INSERT INTO attempts ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                             tuple(row.values()))
            self.save_job(job)

    def attempts(self, job: str, after_id: int, limit: int) -> list[tuple[int, Attempt]]:
        rows = self._db.execute(
            "SELECT id, job, run_id, dispatch, attempt, schedule_time, attempt_time, duration_ms, response_code, "
            "rpc_code, error FROM attempts WHERE job = ? AND id > ? ORDER BY id LIMIT ?", (job, after_id, limit))
        return [(row[0], Attempt(*row[1:])) for row in rows]

    def close(self) -> None:
        self._db.close()
        self._lock.close()


def _lock_folder(data_dir: Path) -> IO[str]:
    """One server per data folder: a second one would deliver (or fire) everything twice."""
    handle = open(data_dir / "server.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise OSError(f"the data folder {data_dir} is in use by another server") from None
    return handle
