"""PostgreSQL state of a generation (requests, phase runs, gates, feedback, preview versions)
through pg8000, with migrations, one reused connection per process and retries on dropped links."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import os
import re
import struct
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Iterable

import pg8000.exceptions
import pg8000.native

from mangaflow.config import Settings, clamp_hitl_timeout, settings
from mangaflow.model.base import MAX_ATTEMPTS
from mangaflow.stores._process_wide import ProcessWide
from mangaflow.errors import StoreValueError
from mangaflow.stores._retry import StoreUnavailable, with_retry

MIGRATION_LOCK_KEY = 0x6D616E6761  # "manga": the advisory lock that serialises migrations
# SQLSTATEs that mean "the server is going away or not ready yet"; the operation is repeated.
_TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004", "53300"}
GATE_DECISIONS = ("approve", "modify", "skip")
RUN_STATUSES = ("running", "succeeded", "failed", "skipped")


class InvalidRecord(StoreValueError):
    """A value passed to the repository is out of bounds; the message names the field."""


def _sql_dirs() -> list[Path]:
    """Where migrations are looked for: MANGAFLOW_SQL_DIR, the repository's schemas/sql, then the
    deployed bundle's copy (functions/schemas/sql, put there by the packaging step)."""
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / "schemas" / "sql", here.parents[2] / "schemas" / "sql"]
    configured = settings().sql_dir
    if configured:
        candidates.insert(0, Path(configured))
    return [path for path in candidates if path.is_dir()]


def migration_files() -> list[Path]:
    """The migrations in order: files named NNN_name.sql."""
    dirs = _sql_dirs()
    if not dirs:
        raise FileNotFoundError("no schemas/sql directory found; set MANGAFLOW_SQL_DIR")
    files = sorted(p for p in dirs[0].glob("[0-9][0-9][0-9]_*.sql"))
    return files


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, (pg8000.exceptions.InterfaceError, ConnectionError, OSError, struct.error, EOFError)):
        return True
    if isinstance(err, pg8000.exceptions.DatabaseError) and err.args:
        detail = err.args[0]
        if isinstance(detail, dict):
            return detail.get("C") in _TRANSIENT_SQLSTATES
    return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


class Database:
    """One pg8000 connection per process, opened lazily, reopened when it dies; calls are
    serialised because a pg8000 connection is not thread-safe."""

    def __init__(self, config: Settings | None = None, retry_deadline_s: float = 20.0) -> None:
        self._config = config or settings()
        self._conn: Any = None
        self._pid = 0
        self._lock = threading.RLock()
        self._migrated = False
        self.retry_deadline_s = retry_deadline_s
        self.reconnects = 0

    # -- connection -------------------------------------------------------------------

    def where(self) -> str:
        if self._config.cloud_sql_instance:
            return f"Cloud SQL {self._config.cloud_sql_instance}"
        url = urllib.parse.urlsplit(self._config.database_url or "")
        return f"{url.hostname}:{url.port or 5432}" if url.hostname else "DATABASE_URL (unset)"

    def _open(self) -> Any:
        cfg = self._config
        if cfg.cloud_sql_instance:
            # In the cloud: private IP and IAM database authentication through the connector.
            from google.cloud.sql.connector import Connector, IPTypes

            connector = Connector(ip_type=IPTypes.PRIVATE, enable_iam_auth=True)
            conn = connector.connect(cfg.cloud_sql_instance, "pg8000", user=cfg.db_user, db=cfg.db_name)
            conn.autocommit = True
            return conn
        if not cfg.database_url:
            raise StoreUnavailable("PostgreSQL", "DATABASE_URL (unset)")
        url = urllib.parse.urlsplit(cfg.database_url)
        if url.scheme not in ("postgresql", "postgres"):
            raise InvalidRecord(f"DATABASE_URL must start with postgresql://, got {url.scheme or 'nothing'}://")
        return pg8000.native.Connection(
            urllib.parse.unquote(url.username or "postgres"),
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            database=(url.path or "/").lstrip("/") or cfg.db_name,
            password=urllib.parse.unquote(url.password) if url.password else None,
            timeout=10,
            application_name="mangaflow",
        )

    def _connection(self) -> Any:
        if self._conn is None or self._pid != os.getpid():
            # After a fork the parent's socket must not be shared; open a new one.
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def _drop(self, _err: BaseException | None = None) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self.reconnects += 1
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the socket is already dead
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()
            self.reconnects = max(0, self.reconnects - 1)

    # -- running SQL -----------------------------------------------------------------------

    @staticmethod
    def _execute(conn: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(conn, pg8000.native.Connection):
            rows = conn.run(sql, **params) if params else conn.run(sql)
            columns = conn.columns
        else:  # a DB-API connection from the Cloud SQL connector: same core, named parameters
            statement, make_values = pg8000.native.to_statement(sql)
            context = conn.execute_unnamed(statement, make_values(params)) if params else conn.execute_simple(sql)
            rows, columns = context.rows, context.columns
        if not columns or rows is None:
            return []
        names = [c["name"] for c in columns]
        return [{name: _jsonable(value) for name, value in zip(names, row)} for row in rows]

    def run(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """One statement (or a transaction block), retried on connection loss; callers pass only
        statements that are safe to repeat. Rows come back as JSON-friendly dicts."""
        self.ensure_schema()
        return self._run(sql, params)

    def _run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        _refuse_unstorable(params)

        def attempt() -> list[dict[str, Any]]:
            with self._lock:
                conn = self._connection()
                try:
                    return self._execute(conn, sql, params)
                except BaseException:
                    # A driver error can leave the wire protocol half-way through a message (pg8000
                    # failing to encode a value, a timeout mid-read): the next query would read this
                    # one's answer. A connection that saw any error is never used again.
                    self._drop()
                    raise

        def reset(err: BaseException) -> None:
            with self._lock:
                self._drop(err)

        return with_retry(
            attempt, is_transient=_is_transient, on_retry=reset, service="PostgreSQL", where=self.where,
            deadline_s=self.retry_deadline_s,
        )

    # -- migrations --------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        if not self._migrated:
            self.migrate()

    def migrate(self) -> list[str]:
        """Applies every migration not yet in schema_migrations, in order, under an advisory
        lock so concurrent processes do not race; returns the versions applied now."""
        applied: list[str] = []

        def attempt() -> list[str]:
            applied.clear()
            with self._lock:
                conn = self._connection()
                self._execute(conn, "SELECT pg_advisory_lock(:k)", {"k": MIGRATION_LOCK_KEY})
                try:
                    self._execute(
                        conn,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version text PRIMARY KEY, name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())",
                        {},
                    )
                    done = {r["version"] for r in self._execute(conn, "SELECT version FROM schema_migrations", {})}
                    for path in migration_files():
                        version, _, name = path.stem.partition("_")
                        if version in done:
                            continue
                        body = path.read_text(encoding="utf-8")
                        self._execute(conn, "BEGIN", {})
                        try:
                            self._execute(conn, body, {})
                            self._execute(
                                conn,
                                "INSERT INTO schema_migrations (version, name) VALUES (:v, :n)",
                                {"v": version, "n": name},
                            )
                            self._execute(conn, "COMMIT", {})
                        except Exception:
                            try:
                                self._execute(conn, "ROLLBACK", {})
                            except Exception:  # noqa: BLE001 - connection may be gone
                                pass
                            raise
                        applied.append(version)
                finally:
                    try:
                        self._execute(conn, "SELECT pg_advisory_unlock(:k)", {"k": MIGRATION_LOCK_KEY})
                    except Exception:  # noqa: BLE001 - a dead session releases its locks anyway
                        pass
                return list(applied)

        def reset(err: BaseException) -> None:
            with self._lock:
                self._drop(err)

        result = with_retry(
            attempt, is_transient=_is_transient, on_retry=reset, service="PostgreSQL", where=self.where,
            deadline_s=self.retry_deadline_s,
        )
        self._migrated = True
        return result


# The process-wide Database (lazily created from settings()). `reset_database()` forgets it after the environment changed (tests).
database = ProcessWide(Database)
reset_database = database.reset

# ------------------------------------------------------------------------------ validation


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_unstorable(params: dict[str, Any]) -> None:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate: refuse such a
    value by name before anything is sent (the HTTP edge already refuses them; this is the last line)."""
    for name, value in params.items():
        if isinstance(value, str) and _UNSTORABLE.search(value):
            raise InvalidRecord(f"{name} holds a NUL or a lone surrogate, which PostgreSQL cannot store")


def _phase(phase: int) -> int:
    if not isinstance(phase, int) or not 1 <= phase <= 7:
        raise InvalidRecord(f"phase must be an integer 1..7, got {phase!r}")
    return phase


def _score(score: float | None) -> float | None:
    if score is None:
        return None
    if not 0.0 <= float(score) <= 1.0:
        raise InvalidRecord(f"score must be between 0.0 and 1.0, got {score!r}")
    return float(score)


def _ts(value: _dt.datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# ------------------------------------------------------------------------------ repository


def new_request_id() -> str:
    return f"r-{uuid.uuid4().hex[:16]}"


def create_request(
    user_id: str,
    *,
    request_id: str | None = None,
    client_address: str | None = None,
    title: str | None = None,
    language: str | None = None,
    style: str | None = None,
    pages: int | None = None,
    input_uri: str | None = None,
    hitl_timeout_s: int | None = None,
    auto_approve: bool = False,
    options: dict[str, Any] | None = None,
    db: Database | None = None,
) -> dict[str, Any]:
    """Creates a generation request (or returns the existing one with the same request_id, so a
    retried call writes nothing twice)."""
    if not user_id:
        raise InvalidRecord("user_id must not be empty")
    if language is not None and language not in ("ja", "en"):
        raise InvalidRecord(f"language must be 'ja' or 'en', got {language!r}")
    if pages is not None and not 1 <= int(pages) <= 200:
        raise InvalidRecord(f"pages must be between 1 and 200, got {pages!r}")
    db = db or database()
    rid = request_id or new_request_id()
    timeout = clamp_hitl_timeout(hitl_timeout_s if hitl_timeout_s is not None else db._config.hitl_timeout_s)
    rows = db.run(
        "INSERT INTO generation_requests (request_id, user_id, client_address, title, language, style, pages,"
        " input_uri, hitl_timeout_s, auto_approve, options)"
        " VALUES (:rid, :uid, :addr, :title, :lang, :style, :pages, :input, :timeout, :auto, CAST(:opts AS jsonb))"
        " ON CONFLICT (request_id) DO NOTHING RETURNING *",
        rid=rid, uid=user_id, addr=client_address, title=title, lang=language, style=style, pages=pages,
        input=input_uri, timeout=timeout, auto=auto_approve, opts=_json(options or {}),
    )
    return rows[0] if rows else get_request(rid, db=db)


def get_request(request_id: str, *, db: Database | None = None) -> dict[str, Any]:
    """The request row; KeyError naming the id when there is none."""
    rows = (db or database()).run("SELECT * FROM generation_requests WHERE request_id = :rid", rid=request_id)
    if not rows:
        raise KeyError(f"request_id {request_id!r} not found")
    return rows[0]


def update_request(
    request_id: str,
    *,
    status: str | None = None,
    current_phase: int | None = None,
    result_uri: str | None = None,
    error: str | None = None,
    execution_name: str | None = None,
    db: Database | None = None,
) -> dict[str, Any]:
    """Sets the given fields (others untouched); completed_at is stamped on a final status."""
    if current_phase is not None:
        _phase(current_phase)
    rows = (db or database()).run(
        "UPDATE generation_requests SET status = COALESCE(:status, status),"
        " current_phase = COALESCE(CAST(:phase AS smallint), current_phase),"
        " result_uri = COALESCE(:result, result_uri), error = COALESCE(:error, error),"
        " execution_name = COALESCE(:execution, execution_name), updated_at = now(),"
        " completed_at = CASE WHEN :status IN ('completed', 'failed', 'cancelled')"
        "   THEN COALESCE(completed_at, now()) ELSE completed_at END"
        " WHERE request_id = :rid RETURNING *",
        status=status, phase=current_phase, result=result_uri, error=error, execution=execution_name,
        rid=request_id,
    )
    if not rows:
        raise KeyError(f"request_id {request_id!r} not found")
    return rows[0]


def reopen_request(request_id: str, entry: dict[str, Any], *, db: Database | None = None) -> dict[str, Any] | None:
    """A finished request runs again (service/reopening.py): in one statement, only while it is `completed`,
    its status goes back to running, completed_at is cleared and `entry` is added to `options.reopens`.
    A reopened run that failed or was cancelled leaves the finished book: that request may be reopened too.
    None otherwise (running, waiting, never finished, or reopened by another call first)."""
    rows = (db or database()).run(
        "UPDATE generation_requests SET status = 'running', completed_at = NULL, error = NULL, updated_at = now(),"
        " options = jsonb_set(options, '{reopens}',"
        "   COALESCE(options->'reopens', '[]'::jsonb) || jsonb_build_array(CAST(:entry AS jsonb)))"
        " WHERE request_id = :rid AND (status = 'completed'"
        "   OR (status IN ('failed', 'cancelled') AND jsonb_array_length(COALESCE(options->'reopens', '[]')) > 0))"
        " RETURNING *",
        rid=request_id, entry=_json(entry),
    )
    return rows[0] if rows else None


def list_translations(request_id: str, *, db: Database | None = None) -> list[dict[str, Any]]:
    """The requests made by translating this one's book (their `options.translated_from`), oldest first."""
    return (db or database()).run(
        "SELECT * FROM generation_requests WHERE options->>'translated_from' = :rid ORDER BY created_at, request_id",
        rid=request_id,
    )


def undo_reopen(request_id: str, status: str, *, db: Database | None = None) -> dict[str, Any]:
    """A reopen whose execution could not be started: the request is back to `status` (what it was before),
    its last `options.reopens` entry removed."""
    rows = (db or database()).run(
        "UPDATE generation_requests SET status = :status, completed_at = COALESCE(completed_at, now()),"
        " updated_at = now(), options = options #- '{reopens,-1}'"
        " WHERE request_id = :rid RETURNING *",
        rid=request_id, status=status,
    )
    if not rows:
        raise KeyError(f"request_id {request_id!r} not found")
    return rows[0]


def record_phase_run(
    request_id: str,
    phase: int,
    attempt: int,
    *,
    panel_id: str | None = None,
    status: str = "succeeded",
    input_uri: str | None = None,
    output_uri: str | None = None,
    score: float | None = None,
    decision: str | None = None,
    hints: Iterable[str] | None = None,
    fallback: str | None = None,
    error: str | None = None,
    started_at: _dt.datetime | str | None = None,
    finished_at: _dt.datetime | str | None = None,
    duration_ms: int | None = None,
    db: Database | None = None,
) -> dict[str, Any]:
    """Records one attempt of a phase (phase 5: of one panel). Recording the same
    (request, phase, attempt, panel) again returns the stored row and writes nothing."""
    _phase(phase)
    if not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPTS:
        raise InvalidRecord(f"attempt must be an integer 1..{MAX_ATTEMPTS}, got {attempt!r}")
    if status not in RUN_STATUSES:
        raise InvalidRecord(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
    if duration_ms is not None and duration_ms < 0:
        raise InvalidRecord(f"duration_ms must be >= 0, got {duration_ms!r}")
    db = db or database()
    rows = db.run(
        "INSERT INTO phase_runs (request_id, phase, attempt, panel_id, status, input_uri, output_uri, score,"
        " decision, hints, fallback, error, started_at, finished_at, duration_ms)"
        " VALUES (:rid, :phase, :attempt, :panel, :status, :input, :output, :score, :decision,"
        " CAST(:hints AS jsonb), :fallback, :error, CAST(:started AS timestamptz), CAST(:finished AS timestamptz),"
        " :duration)"
        " ON CONFLICT ON CONSTRAINT phase_runs_attempt_key DO NOTHING RETURNING *",
        rid=request_id, phase=phase, attempt=attempt, panel=panel_id, status=status, input=input_uri,
        output=output_uri, score=_score(score), decision=decision, hints=_json(list(hints or [])),
        fallback=fallback, error=error, started=_ts(started_at), finished=_ts(finished_at), duration=duration_ms,
    )
    if rows:
        return rows[0]
    existing = find_phase_run(request_id, phase, attempt, panel_id=panel_id, db=db)
    assert existing is not None  # the conflict proves the row exists
    return existing


def find_phase_run(
    request_id: str, phase: int, attempt: int, *, panel_id: str | None = None, db: Database | None = None
) -> dict[str, Any] | None:
    """The recorded attempt, or None."""
    rows = (db or database()).run(
        "SELECT * FROM phase_runs WHERE request_id = :rid AND phase = :phase AND attempt = :attempt"
        " AND panel_id IS NOT DISTINCT FROM :panel",
        rid=request_id, phase=_phase(phase), attempt=attempt, panel=panel_id,
    )
    return rows[0] if rows else None


def list_phase_runs(request_id: str, phase: int | None = None, *, db: Database | None = None) -> list[dict[str, Any]]:
    """Every recorded attempt of a request (optionally of one phase) in phase, attempt, panel order."""
    return (db or database()).run(
        "SELECT * FROM phase_runs WHERE request_id = :rid AND (CAST(:phase AS smallint) IS NULL OR phase = :phase)"
        " ORDER BY phase, attempt, panel_id NULLS FIRST",
        rid=request_id, phase=phase,
    )


def open_gate(
    request_id: str,
    phase: int,
    *,
    callback_url: str | None = None,
    preview_uri: str | None = None,
    timeout_s: int | None = None,
    round: int = 0,  # noqa: A002 - the modification round, the design's word
    run: int = 0,
    db: Database | None = None,
) -> dict[str, Any]:
    """Opens the approval gate of a phase (round 0 first, 1..3 after modifications) in the request's run
    `run` (0 first, then one per reopening); the deadline is now + the timeout bounded to 30 s..24 h.
    Opening it again returns the same gate."""
    _phase(phase)
    if not 0 <= round <= 3:
        raise InvalidRecord(f"round must be 0..3 (at most 3 modifications per phase), got {round!r}")
    if not 0 <= run <= 999:
        raise InvalidRecord(f"run must be 0..999, got {run!r}")
    db = db or database()
    if timeout_s is None:
        timeout_s = int(get_request(request_id, db=db)["hitl_timeout_s"])
    timeout = clamp_hitl_timeout(timeout_s)
    gate_id = f"g-{request_id}-{phase}-{round}" + (f"-{run}" if run else "")
    rows = db.run(
        "INSERT INTO approval_gates (gate_id, request_id, phase, round, run, callback_url, preview_uri, deadline)"
        " VALUES (:gid, :rid, :phase, :round, :run, :cb, :preview, now() + make_interval(secs => :timeout))"
        " ON CONFLICT (gate_id) DO NOTHING RETURNING *",
        gid=gate_id, rid=request_id, phase=phase, round=round, run=run, cb=callback_url, preview=preview_uri,
        timeout=timeout,
    )
    return rows[0] if rows else get_gate(gate_id, db=db)


def get_gate(gate_id: str, *, db: Database | None = None) -> dict[str, Any]:
    rows = (db or database()).run("SELECT * FROM approval_gates WHERE gate_id = :gid", gid=gate_id)
    if not rows:
        raise KeyError(f"gate_id {gate_id!r} not found")
    return rows[0]


def decide_gate(
    gate_id: str,
    decision: str | None,
    *,
    decided_by: str | None = None,
    feedback: str | None = None,
    timed_out: bool = False,
    db: Database | None = None,
) -> dict[str, Any]:
    """Records the decision (approve|modify|skip), or a timeout (decision None, timed_out True).
    The first decision wins; later calls return the gate unchanged."""
    if timed_out:
        if decision is not None:
            raise InvalidRecord("decision must be empty when timed_out is true")
    elif decision not in GATE_DECISIONS:
        raise InvalidRecord(f"decision must be one of {', '.join(GATE_DECISIONS)}, got {decision!r}")
    db = db or database()
    rows = db.run(
        "UPDATE approval_gates SET decision = :decision, decided_by = :by, decided_at = now(),"
        " timed_out = :timed_out, feedback = :feedback"
        " WHERE gate_id = :gid AND decided_at IS NULL RETURNING *",
        decision=decision, by=decided_by, timed_out=timed_out, feedback=feedback, gid=gate_id,
    )
    return rows[0] if rows else get_gate(gate_id, db=db)


def list_gates(request_id: str, *, db: Database | None = None) -> list[dict[str, Any]]:
    return (db or database()).run(
        "SELECT * FROM approval_gates WHERE request_id = :rid ORDER BY phase, run, round", rid=request_id
    )


def expired_gates(*, db: Database | None = None) -> list[dict[str, Any]]:
    """Open gates whose deadline has passed (for the timeout sweeper)."""
    return (db or database()).run(
        "SELECT * FROM approval_gates WHERE decided_at IS NULL AND deadline < now() ORDER BY deadline"
    )


def record_feedback(
    request_id: str,
    phase: int,
    *,
    text: str = "",
    quick_option: str | None = None,
    parsed_intent: dict[str, Any] | None = None,
    intensity: float | None = None,
    confidence: float | None = None,
    gate_id: str | None = None,
    applied: bool = False,
    feedback_id: str | None = None,
    db: Database | None = None,
) -> dict[str, Any]:
    """Stores a requested modification; pass feedback_id to make a retried call idempotent."""
    _phase(phase)
    if len(text) > 10_000:
        raise InvalidRecord(f"text must be at most 10000 characters, got {len(text)}")
    for name, value in (("intensity", intensity), ("confidence", confidence)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidRecord(f"{name} must be between 0.0 and 1.0, got {value!r}")
    db = db or database()
    fid = feedback_id or f"f-{uuid.uuid4().hex[:16]}"
    rows = db.run(
        "INSERT INTO feedback (feedback_id, request_id, phase, gate_id, text, quick_option, parsed_intent,"
        " intensity, confidence, applied)"
        " VALUES (:fid, :rid, :phase, :gid, :text, :quick, CAST(:intent AS jsonb), :intensity, :confidence, :applied)"
        " ON CONFLICT (feedback_id) DO NOTHING RETURNING *",
        fid=fid, rid=request_id, phase=phase, gid=gate_id, text=text, quick=quick_option,
        intent=_json(parsed_intent or {}), intensity=intensity, confidence=confidence, applied=applied,
    )
    if rows:
        return rows[0]
    return db.run("SELECT * FROM feedback WHERE feedback_id = :fid", fid=fid)[0]


def list_feedback(request_id: str, phase: int | None = None, *, db: Database | None = None) -> list[dict[str, Any]]:
    return (db or database()).run(
        "SELECT * FROM feedback WHERE request_id = :rid AND (CAST(:phase AS smallint) IS NULL OR phase = :phase)"
        " ORDER BY created_at, feedback_id",
        rid=request_id, phase=phase,
    )


def add_preview_version(
    request_id: str,
    phase: int,
    uri: str,
    *,
    attempt: int | None = None,
    label: str | None = None,
    db: Database | None = None,
) -> dict[str, Any]:
    """Adds the next version (1, 2, ...) of a phase's preview. When the latest version already
    has this URI (a retried call) that version is returned instead of a duplicate; reverting to an
    older URI makes a new version."""
    _phase(phase)
    if not uri:
        raise InvalidRecord("uri must not be empty")
    db = db or database()
    for _ in range(5):  # two writers may pick the same next number; the loser tries again
        rows = db.run(
            "WITH latest AS (SELECT version, uri FROM preview_versions WHERE request_id = :rid AND phase = :phase"
            "   ORDER BY version DESC LIMIT 1)"
            " INSERT INTO preview_versions (request_id, phase, version, uri, attempt, label)"
            " SELECT :rid, :phase, COALESCE((SELECT version FROM latest), 0) + 1, :uri, :attempt, :label"
            " WHERE NOT EXISTS (SELECT 1 FROM latest WHERE uri = :uri)"
            " ON CONFLICT (request_id, phase, version) DO NOTHING RETURNING *",
            rid=request_id, phase=phase, uri=uri, attempt=attempt, label=label,
        )
        if rows:
            return rows[0]
        latest = db.run(
            "SELECT * FROM preview_versions WHERE request_id = :rid AND phase = :phase ORDER BY version DESC LIMIT 1",
            rid=request_id, phase=phase,
        )
        if latest and latest[0]["uri"] == uri:
            return latest[0]
    raise RuntimeError(f"could not add a preview version for request {request_id} phase {phase}")


def list_preview_versions(request_id: str, phase: int | None = None, *, db: Database | None = None) -> list[dict[str, Any]]:
    return (db or database()).run(
        "SELECT * FROM preview_versions WHERE request_id = :rid AND (CAST(:phase AS smallint) IS NULL OR phase = :phase)"
        " ORDER BY phase, version",
        rid=request_id, phase=phase,
    )


def request_state(request_id: str, *, db: Database | None = None) -> dict[str, Any]:
    """The request with, per phase that has anything recorded: attempts, scores, best score, gate
    decisions, artifact URIs, preview versions and feedback. JSON-serialisable."""
    db = db or database()
    request = get_request(request_id, db=db)
    runs = list_phase_runs(request_id, db=db)
    gates = list_gates(request_id, db=db)
    previews = list_preview_versions(request_id, db=db)
    notes = list_feedback(request_id, db=db)
    phases: list[dict[str, Any]] = []
    for phase in range(1, 8):
        p_runs = [r for r in runs if r["phase"] == phase]
        p_gates = [g for g in gates if g["phase"] == phase]
        p_previews = [v for v in previews if v["phase"] == phase]
        p_notes = [f for f in notes if f["phase"] == phase]
        if not (p_runs or p_gates or p_previews or p_notes):
            continue
        scores = [r["score"] for r in p_runs if r["score"] is not None]
        phases.append(
            {
                "phase": phase,
                "attempts": p_runs,
                "scores": scores,
                "best_score": max(scores) if scores else None,
                "gates": p_gates,
                "decisions": [g["decision"] or ("timeout" if g["timed_out"] else None) for g in p_gates],
                "artifacts": [r["output_uri"] for r in p_runs if r["output_uri"]],
                "previews": p_previews,
                "feedback": p_notes,
            }
        )
    return {**request, "phases": phases}
