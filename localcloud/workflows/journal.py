"""The engine's journal: deployed workflows, executions and every call that leaves the engine, in SQLite.

An entry is written (and committed, WAL) before the engine acts on it: a call's intent before the call, its
outcome before the workflow sees it, a callback's payload before its sender is answered. After a restart
`effects` lets an execution replay to where it stopped. `Journal.memory()` keeps nothing (no --data-dir).
SQLite's `synchronous=NORMAL` in WAL mode survives a killed process (SIGKILL), not a power cut.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WorkflowError

SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    workflow_id TEXT NOT NULL, revision_id TEXT NOT NULL, source TEXT NOT NULL, env TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (workflow_id, revision_id));
CREATE TABLE IF NOT EXISTS workflows (
    workflow_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, revision_id TEXT NOT NULL, created REAL NOT NULL,
    updated REAL NOT NULL, description TEXT NOT NULL, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    execution_id TEXT PRIMARY KEY, name TEXT NOT NULL, workflow_id TEXT NOT NULL, revision_id TEXT NOT NULL,
    argument TEXT NOT NULL, env TEXT NOT NULL, start REAL NOT NULL, call_log_level TEXT NOT NULL,
    labels TEXT, state TEXT NOT NULL, end_time REAL, result TEXT, error TEXT, current_steps TEXT);
CREATE TABLE IF NOT EXISTS effects (
    execution_id TEXT NOT NULL, thread TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    key TEXT NOT NULL, intent TEXT, outcome TEXT, PRIMARY KEY (execution_id, thread, seq));
CREATE TABLE IF NOT EXISTS callback_payloads (
    payload_id INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL, callback_id TEXT NOT NULL,
    payload TEXT NOT NULL);
"""
_BYTES = "\u0000bytes"  # the marker of a bytes value inside journalled JSON (no map key holds a NUL)


def encode(value: Any) -> str:
    """JSON text of a workflow value; bytes survive as a marked base64 map. A string holding a lone
    surrogate (a callback body may carry one as a \\ud800 escape) is kept as its escape: SQLite text
    is UTF-8, which cannot hold it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_encode_other)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), default=_encode_other)
    return text


def _encode_other(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    return str(value)  # a function value (never the result of a call leaving the engine)


def decode(text: str | None) -> Any:
    return None if text is None else json.loads(text, object_hook=_decode_bytes)


def _decode_bytes(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _BYTES in obj:
        return base64.b64decode(obj[_BYTES])
    return obj


@dataclass
class Effect:
    """One journalled call of one thread: what it was (kind, key), its intent and (once known) outcome."""

    kind: str
    key: str
    intent: Any
    outcome: dict[str, Any] | None

    def result(self) -> Any:
        """The recorded outcome as the workflow saw it: the value, or the error raised again."""
        assert self.outcome is not None
        if "error" in self.outcome:
            raise WorkflowError(self.outcome["error"])
        return self.outcome.get("value")


class DataDirInUse(Exception):
    """Another engine already journals into this folder."""


class Journal:
    """SQLite journal in `folder` (None: keep nothing). One connection, used from the event loop's thread."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None
        self.durable = folder is not None
        self._db: sqlite3.Connection | None = None
        self._lock: int | None = None
        if self.folder is not None:
            self._open(self.folder)

    @classmethod
    def memory(cls) -> "Journal":
        return cls(None)

    def _open(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        lock = os.open(folder / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(lock, 32).decode(errors="replace").strip() or "another process"
            os.close(lock)
            raise DataDirInUse(f"data dir {folder} is used by another engine (pid {holder}); give each engine "
                               f"its own --data-dir") from None
        os.ftruncate(lock, 0)
        os.write(lock, str(os.getpid()).encode())
        self._lock = lock
        db = sqlite3.connect(folder / "workflows.sqlite3", isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            os.close(self._lock)  # closing releases the flock
            self._lock = None

    def _write(self, sql: str, args: tuple) -> int:
        db = self._db
        if db is None:
            return 0
        return db.execute(sql, args).lastrowid or 0

    # ------------------------------------------------------------------ workflows
    def save_revision(self, workflow_id: str, revision_id: str, source: str, env: dict[str, str],
                      created: float) -> None:
        self._write("INSERT OR REPLACE INTO revisions VALUES (?, ?, ?, ?, ?)",
                    (workflow_id, revision_id, source, encode(env), created))

    def save_workflow(self, workflow_id: str, revision: int, revision_id: str, created: float, updated: float,
                      description: str, labels: dict[str, str]) -> None:
        self._write("INSERT OR REPLACE INTO workflows VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (workflow_id, revision, revision_id, created, updated, description, encode(labels)))

    def delete_workflow(self, workflow_id: str) -> None:
        self._write("DELETE FROM workflows WHERE workflow_id = ?", (workflow_id,))

    def workflows(self) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT w.workflow_id, w.revision, w.revision_id, w.created, w.updated, w.description, w.labels, "
            "r.source, r.env FROM workflows w JOIN revisions r USING (workflow_id, revision_id) ORDER BY w.rowid")
        return [{"workflow_id": r[0], "revision": r[1], "revision_id": r[2], "created": r[3], "updated": r[4],
                 "description": r[5], "labels": decode(r[6]), "source": r[7], "env": decode(r[8])} for r in rows]

    def revision(self, workflow_id: str, revision_id: str) -> tuple[str, dict[str, str]] | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT source, env FROM revisions WHERE workflow_id = ? AND revision_id = ?",
                               (workflow_id, revision_id)).fetchone()
        return (row[0], decode(row[1])) if row else None

    # ------------------------------------------------------------------ executions
    def start(self, execution_id: str, name: str, workflow_id: str, revision_id: str, argument: str,
              env: dict[str, str], start: float, call_log_level: str, labels: dict[str, str] | None) -> None:
        self._write("INSERT INTO executions (execution_id, name, workflow_id, revision_id, argument, env, start, "
                    "call_log_level, labels, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE')",
                    (execution_id, name, workflow_id, revision_id, argument, encode(env), start, call_log_level,
                     encode(labels) if labels is not None else None))

    def finish(self, execution_id: str, state: str, end: float, result: str | None, error: dict | None,
               current_steps: list[dict[str, str]]) -> None:
        self._write("UPDATE executions SET state = ?, end_time = ?, result = ?, error = ?, current_steps = ? "
                    "WHERE execution_id = ?",
                    (state, end, result, encode(error) if error is not None else None, encode(current_steps),
                     execution_id))

    def executions(self) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        cols = ("execution_id", "name", "workflow_id", "revision_id", "argument", "env", "start", "call_log_level",
                "labels", "state", "end_time", "result", "error", "current_steps")
        rows = self._db.execute(f"SELECT {', '.join(cols)} FROM executions ORDER BY rowid")
        out = []
        for row in rows:
            item = dict(zip(cols, row))
            for key in ("env", "labels", "error", "current_steps"):
                item[key] = decode(item[key])
            out.append(item)
        return out

    # ------------------------------------------------------------------ calls leaving the engine
    def intent(self, execution_id: str, thread: str, seq: int, kind: str, key: str, intent: Any) -> None:
        self._write("INSERT OR REPLACE INTO effects VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    (execution_id, thread, seq, kind, key, encode(intent)))

    def outcome(self, execution_id: str, thread: str, seq: int, kind: str, key: str, intent: Any,
                outcome: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO effects VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (execution_id, thread, seq, kind, key, encode(intent), encode(outcome)))

    def effects(self, execution_id: str) -> dict[tuple[str, int], Effect]:
        if self._db is None:
            return {}
        rows = self._db.execute("SELECT thread, seq, kind, key, intent, outcome FROM effects WHERE execution_id = ?",
                                (execution_id,))
        return {(r[0], r[1]): Effect(r[2], r[3], decode(r[4]), decode(r[5])) for r in rows}

    # ------------------------------------------------------------------ callbacks
    def received(self, execution_id: str, callback_id: str, payload: dict[str, Any]) -> int:
        return self._write("INSERT INTO callback_payloads (execution_id, callback_id, payload) VALUES (?, ?, ?)",
                           (execution_id, callback_id, encode(payload)))

    def payloads(self, execution_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        if self._db is None:
            return []
        rows = self._db.execute("SELECT payload_id, callback_id, payload FROM callback_payloads "
                                "WHERE execution_id = ? ORDER BY payload_id", (execution_id,))
        return [(r[0], r[1], decode(r[2])) for r in rows]
