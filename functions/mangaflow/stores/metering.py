"""Model calls, budgets, phase-call leases and the image cache: in PostgreSQL (schemas/sql/003_model_calls.sql),
and in memory for a process that has no database (unit tests with fake stores)."""
from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import Any, Callable

from mangaflow.stores.postgres import Database, database

Row = dict[str, Any]
STATUSES = ("ok", "blocked", "error", "timeout", "late", "cache", "budget")
# Statuses that count as an earlier try of a call (a late answer is the same try answering again).
TRY_STATUSES = ("ok", "blocked", "error", "timeout")
COLUMNS = ("request_id", "phase", "attempt", "panel_id", "operation", "kind", "call_key", "try_number", "provider",
           "model", "model_version", "status", "fault", "http_status", "error", "input_tokens", "output_tokens",
           "image_tokens", "cost_usd", "latency_ms", "prompt_sha256", "reference_sha256", "seed", "response_id",
           "cache_of")
JSON_COLUMNS = ("reference_sha256", "cache_of")


def _ended_at(fields: dict[str, Any]) -> str | None:
    """The row's `created_at` as the caller gave it: when the try ended. A model slot is given back before the
    try is recorded, so the time of the insert would say the model was waited on a little longer than it was."""
    ended = fields.get("created_at")
    if ended is None:
        return None
    if not isinstance(ended, str):
        raise TypeError(f"created_at must be an ISO 8601 string, got {type(ended).__name__}")
    dt.datetime.fromisoformat(ended)   # refused here, not inside the database
    return ended


def _check(fields: dict[str, Any]) -> dict[str, Any]:
    from mangaflow.errors import StoreValueError

    if fields.get("status") not in STATUSES:
        raise StoreValueError(f"status must be one of {', '.join(STATUSES)}, got {fields.get('status')!r}",
                              field="status")
    if fields.get("kind") not in ("text", "image"):
        raise StoreValueError(f"kind must be text or image, got {fields.get('kind')!r}", field="kind")
    row = {column: fields.get(column) for column in COLUMNS}
    row["reference_sha256"] = list(row["reference_sha256"] or [])
    for column in ("input_tokens", "output_tokens", "image_tokens", "try_number"):
        row[column] = int(row[column] or 0)
    row["cost_usd"] = float(row["cost_usd"] or 0.0)
    return row


def summarise(rows: list[Row], budget: Row | None) -> Row:
    """A request's cost from its model-call rows: dollars, answered calls by kind, cache hits, failures,
    tokens, per phase and per model, and the budget (used for get_status, the manifest, the CLI)."""
    answered = [r for r in rows if r["status"] in ("ok", "blocked", "late")]
    real = [r for r in answered if r["provider"] != "offline"]
    by_phase: dict[str, float] = {}
    by_model: dict[str, float] = {}
    for row in rows:
        by_phase[str(row.get("phase"))] = by_phase.get(str(row.get("phase")), 0.0) + float(row["cost_usd"])
        by_model[row["model"]] = by_model.get(row["model"], 0.0) + float(row["cost_usd"])
    usd = sum(float(r["cost_usd"]) for r in rows)
    summary = {
        "usd": round(usd, 6),
        "model_calls": {"text": sum(1 for r in real if r["kind"] == "text"),
                        "image": sum(1 for r in real if r["kind"] == "image")},
        "cache_hits": sum(1 for r in rows if r["status"] == "cache"),
        "blocked": sum(1 for r in rows if r["status"] == "blocked"),
        "failed": sum(1 for r in rows if r["status"] in ("error", "timeout")),
        "late_discarded": sum(1 for r in rows if r["status"] == "late"),
        "faults_injected": sum(1 for r in rows if r.get("fault") and r["status"] in TRY_STATUSES),
        "refused_by_budget": sum(1 for r in rows if r["status"] == "budget"),
        "tokens": {"input": sum(int(r["input_tokens"]) for r in rows),
                   "output": sum(int(r["output_tokens"]) for r in rows),
                   "image": sum(int(r["image_tokens"]) for r in rows)},
        "by_phase": {k: round(v, 6) for k, v in sorted(by_phase.items())},
        "by_model": {k: round(v, 6) for k, v in sorted(by_model.items())},
        "budget_usd": None, "budget_stopped": False, "stop_reason": None,
    }
    if budget is not None:
        summary.update(budget_usd=float(budget["budget_usd"]), budget_stopped=budget.get("stopped_at") is not None,
                       stop_reason=budget.get("stop_reason"))
    return summary


class PostgresModelCalls:
    """The ModelCalls role on PostgreSQL."""

    def __init__(self, db: Callable[[], Database] = database) -> None:
        self._db = db

    def record(self, **fields: Any) -> Row:
        """One try (or cache hit); `created_at` (ISO 8601), when given, is when the try ended, else now."""
        row = _check(fields)
        params = {k: (json.dumps(v) if k in JSON_COLUMNS and v is not None else v) for k, v in row.items()}
        params["created_at"] = _ended_at(fields)
        values = ", ".join(f"CAST(:{c} AS jsonb)" if c in JSON_COLUMNS else f":{c}" for c in COLUMNS)
        return self._db().run(f"INSERT INTO model_calls ({', '.join(COLUMNS)}, created_at) VALUES ({values},"
                              " COALESCE(CAST(:created_at AS timestamptz), now())) RETURNING *", **params)[0]

    def tries(self, request_id: str, call_key: str) -> int:
        rows = self._db().run("SELECT count(*) AS n FROM model_calls WHERE request_id = :rid AND call_key = :key"
                              " AND status IN ('ok', 'blocked', 'error', 'timeout')", rid=request_id, key=call_key)
        return int(rows[0]["n"])

    def list(self, request_id: str) -> list[Row]:
        return self._db().run("SELECT * FROM model_calls WHERE request_id = :rid ORDER BY call_id", rid=request_id)

    def summary(self, request_id: str) -> Row:
        return summarise(self.list(request_id), self.budget(request_id))

    def open_budget(self, request_id: str, budget_usd: float) -> Row:
        rows = self._db().run("INSERT INTO model_budgets (request_id, budget_usd) VALUES (:rid, :usd)"
                              " ON CONFLICT (request_id) DO NOTHING RETURNING *", rid=request_id, usd=float(budget_usd))
        return rows[0] if rows else self.budget(request_id)  # type: ignore[return-value]

    def reserve(self, request_id: str, usd: float, reason: str) -> bool:
        rows = self._db().run(
            "UPDATE model_budgets SET reserved_usd = reserved_usd + :usd WHERE request_id = :rid"
            " AND stopped_at IS NULL AND spent_usd + reserved_usd + :usd <= budget_usd RETURNING request_id",
            rid=request_id, usd=float(usd))
        if rows:
            return True
        # The first refusal stops the model for the rest of the run (a smaller call would fit, but
        # the person asked for a limit, and one picture style per book reads better than a mix).
        self._db().run("UPDATE model_budgets SET stopped_at = COALESCE(stopped_at, now()),"
                       " stop_reason = COALESCE(stop_reason, :why) WHERE request_id = :rid", rid=request_id,
                       why=reason[:500])
        return False

    def settle(self, request_id: str, reserved_usd: float, spent_usd: float) -> None:
        self._db().run("UPDATE model_budgets SET reserved_usd = GREATEST(0, reserved_usd - :reserved),"
                       " spent_usd = spent_usd + :spent WHERE request_id = :rid", rid=request_id,
                       reserved=float(reserved_usd), spent=float(spent_usd))

    def budget(self, request_id: str) -> Row | None:
        rows = self._db().run("SELECT * FROM model_budgets WHERE request_id = :rid", rid=request_id)
        return rows[0] if rows else None

    def take_lease(self, request_id: str, call_key: str) -> str:
        token = uuid.uuid4().hex
        self._db().run("INSERT INTO phase_call_leases (request_id, call_key, token) VALUES (:rid, :key, :token)"
                       " ON CONFLICT (request_id, call_key) DO UPDATE SET token = :token, taken_at = now()",
                       rid=request_id, key=call_key, token=token)
        return token

    def holds_lease(self, request_id: str, call_key: str, token: str) -> bool:
        rows = self._db().run("SELECT token FROM phase_call_leases WHERE request_id = :rid AND call_key = :key",
                              rid=request_id, key=call_key)
        return bool(rows) and rows[0]["token"] == token


class PostgresImageCache:
    """The ImageCache role on PostgreSQL."""

    def __init__(self, db: Callable[[], Database] = database) -> None:
        self._db = db

    def find(self, user_id: str, cache_key: str, *, since: dt.datetime,
             exclude: tuple[str, int] | None = None) -> Row | None:
        rows = self._db().run(
            "SELECT * FROM image_cache WHERE user_id = :uid AND cache_key = :key AND created_at >= CAST(:since AS timestamptz)"
            " AND NOT (request_id = :xrid AND attempt = :xattempt)",
            uid=user_id, key=cache_key, since=since.isoformat(), xrid=(exclude or ("", 0))[0],
            xattempt=(exclude or ("", 0))[1])
        return rows[0] if rows else None

    def near(self, user_id: str, refs_key: str, *, since: dt.datetime,
             exclude: tuple[str, int] | None = None, limit: int = 200) -> list[Row]:
        return self._db().run(
            "SELECT * FROM image_cache WHERE user_id = :uid AND refs_key = :refs AND cache_key LIKE 'prompt:%'"
            " AND created_at >= CAST(:since AS timestamptz) AND NOT (request_id = :xrid AND attempt = :xattempt)"
            " ORDER BY created_at DESC LIMIT :lim",
            uid=user_id, refs=refs_key, since=since.isoformat(), xrid=(exclude or ("", 0))[0],
            xattempt=(exclude or ("", 0))[1], lim=int(limit))

    def put(self, user_id: str, cache_key: str, **fields: Any) -> Row:
        params = {"uid": user_id, "key": cache_key, "kind": fields["kind"], "model": fields["model"],
                  "refs": fields["refs_key"], "prompt": fields["normalised_prompt"], "uri": fields["image_uri"],
                  "description": json.dumps(fields.get("description")) if fields.get("description") is not None
                  else None, "provenance": json.dumps(fields["provenance"]), "rid": fields["request_id"],
                  "attempt": int(fields["attempt"]), "item": fields.get("item_id")}
        return self._db().run(
            "INSERT INTO image_cache (user_id, cache_key, kind, model, refs_key, normalised_prompt, image_uri,"
            " description, provenance, request_id, attempt, item_id) VALUES (:uid, :key, :kind, :model, :refs,"
            " :prompt, :uri, CAST(:description AS jsonb), CAST(:provenance AS jsonb), :rid, :attempt, :item)"
            " ON CONFLICT (user_id, cache_key) DO UPDATE SET kind = EXCLUDED.kind, model = EXCLUDED.model,"
            " refs_key = EXCLUDED.refs_key, normalised_prompt = EXCLUDED.normalised_prompt,"
            " image_uri = EXCLUDED.image_uri, description = EXCLUDED.description, provenance = EXCLUDED.provenance,"
            " request_id = EXCLUDED.request_id, attempt = EXCLUDED.attempt, item_id = EXCLUDED.item_id,"
            " created_at = now() RETURNING *", **params)[0]


class MemoryModelCalls:
    """The ModelCalls role in one process's memory: for stores built without a database (unit tests).
    Same semantics as PostgresModelCalls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: list[Row] = []
        self.budgets: dict[str, Row] = {}
        self.leases: dict[tuple[str, str], str] = {}

    def record(self, **fields: Any) -> Row:
        row = {**_check(fields), "created_at": _ended_at(fields) or dt.datetime.now(dt.timezone.utc).isoformat()}
        with self._lock:
            row["call_id"] = len(self.rows) + 1
            self.rows.append(row)
        return dict(row)

    def tries(self, request_id: str, call_key: str) -> int:
        with self._lock:
            return sum(1 for r in self.rows if r["request_id"] == request_id and r["call_key"] == call_key
                       and r["status"] in TRY_STATUSES)

    def list(self, request_id: str) -> list[Row]:
        with self._lock:
            return [dict(r) for r in self.rows if r["request_id"] == request_id]

    def summary(self, request_id: str) -> Row:
        return summarise(self.list(request_id), self.budget(request_id))

    def open_budget(self, request_id: str, budget_usd: float) -> Row:
        with self._lock:
            return dict(self.budgets.setdefault(request_id, {
                "request_id": request_id, "budget_usd": float(budget_usd), "spent_usd": 0.0, "reserved_usd": 0.0,
                "stopped_at": None, "stop_reason": None}))

    def reserve(self, request_id: str, usd: float, reason: str) -> bool:
        with self._lock:
            budget = self.budgets.get(request_id)
            if budget is None:
                return False
            if budget["stopped_at"] is None and budget["spent_usd"] + budget["reserved_usd"] + usd <= budget["budget_usd"]:
                budget["reserved_usd"] += usd
                return True
            budget["stopped_at"] = budget["stopped_at"] or dt.datetime.now(dt.timezone.utc).isoformat()
            budget["stop_reason"] = budget["stop_reason"] or reason
            return False

    def settle(self, request_id: str, reserved_usd: float, spent_usd: float) -> None:
        with self._lock:
            budget = self.budgets.get(request_id)
            if budget is not None:
                budget["reserved_usd"] = max(0.0, budget["reserved_usd"] - reserved_usd)
                budget["spent_usd"] += spent_usd

    def budget(self, request_id: str) -> Row | None:
        with self._lock:
            budget = self.budgets.get(request_id)
            return dict(budget) if budget else None

    def take_lease(self, request_id: str, call_key: str) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self.leases[(request_id, call_key)] = token
        return token

    def holds_lease(self, request_id: str, call_key: str, token: str) -> bool:
        with self._lock:
            return self.leases.get((request_id, call_key)) == token


class MemoryImageCache:
    """The ImageCache role in one process's memory (unit tests); same semantics as PostgresImageCache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[tuple[str, str], Row] = {}

    @staticmethod
    def _fresh(row: Row, since: dt.datetime, exclude: tuple[str, int] | None) -> bool:
        created = dt.datetime.fromisoformat(row["created_at"])
        return created >= since and not (exclude and (row["request_id"], int(row["attempt"])) == tuple(exclude))

    def find(self, user_id: str, cache_key: str, *, since: dt.datetime,
             exclude: tuple[str, int] | None = None) -> Row | None:
        with self._lock:
            row = self.rows.get((user_id, cache_key))
            return dict(row) if row and self._fresh(row, since, exclude) else None

    def near(self, user_id: str, refs_key: str, *, since: dt.datetime,
             exclude: tuple[str, int] | None = None, limit: int = 200) -> list[Row]:
        with self._lock:
            found = [dict(r) for (uid, key), r in self.rows.items() if uid == user_id and key.startswith("prompt:")
                     and r["refs_key"] == refs_key and self._fresh(r, since, exclude)]
        return sorted(found, key=lambda r: r["created_at"], reverse=True)[:limit]

    def put(self, user_id: str, cache_key: str, **fields: Any) -> Row:
        row = {"user_id": user_id, "cache_key": cache_key, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               **{k: fields.get(k) for k in ("kind", "model", "refs_key", "normalised_prompt", "image_uri", "description",
                                             "provenance", "request_id", "attempt", "item_id")}}
        with self._lock:
            self.rows[(user_id, cache_key)] = row
        return dict(row)
