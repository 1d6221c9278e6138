"""The composition root: the stores by role, built once per process from the settings and handed
to the service layer. `functions/main.py` names it; tests hand in fakes with `use(...)`.
The PostgreSQL adapters check every row against its model (`mangaflow.model.records`) and hand it on
as the plain dict the service layer reads.

Nothing here connects to anything: every adapter opens its connection on first use.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import model
from .model import records as shapes
from .stores import analytics, chat, metering, objects, operations, postgres, roles, sessions


@dataclass(frozen=True)
class Stores:
    """Every store the service layer uses, each behind its role."""

    requests: roles.Requests
    phase_runs: roles.PhaseRuns
    gates: roles.Gates
    artifacts: roles.Artifacts
    progress: roles.Progress
    admission: roles.Admission
    idempotency: roles.Idempotency
    chat: roles.Chat
    analytics: roles.Analytics
    operations: roles.Operations = operations.Operations()
    # Stores built without these (fakes in unit tests) keep model calls and cached images in memory.
    model_calls: roles.ModelCalls = field(default_factory=metering.MemoryModelCalls)
    image_cache: roles.ImageCache = field(default_factory=metering.MemoryImageCache)


def _row(shape: type[model.Row], row: roles.Row) -> roles.Row:
    """The row as the store gave it, once it fits its model (a mismatch is a 500 naming the column)."""
    model.checked(shape, row, f"a {shape.__name__} row from PostgreSQL")
    return row


def _rows(shape: type[model.Row], rows: list[roles.Row]) -> list[roles.Row]:
    return [_row(shape, row) for row in rows]


class _PostgresRequests:
    def __init__(self, db: Any) -> None:
        self._db = db

    def new_id(self) -> str:
        return postgres.new_request_id()

    def create(self, user_id: str, **fields: Any) -> roles.Row:
        return _row(shapes.GenerationRequest, postgres.create_request(user_id, db=self._db(), **fields))

    def get(self, request_id: str) -> roles.Row:
        return _row(shapes.GenerationRequest, postgres.get_request(request_id, db=self._db()))

    def update(self, request_id: str, **fields: Any) -> roles.Row:
        return _row(shapes.GenerationRequest, postgres.update_request(request_id, db=self._db(), **fields))

    def state(self, request_id: str) -> roles.Row:
        return _row(shapes.RequestHistory, postgres.request_state(request_id, db=self._db()))

    def reopen(self, request_id: str, entry: dict[str, Any]) -> roles.Row | None:
        row = postgres.reopen_request(request_id, entry, db=self._db())
        return None if row is None else _row(shapes.GenerationRequest, row)

    def translations(self, request_id: str) -> list[roles.Row]:
        return _rows(shapes.GenerationRequest, postgres.list_translations(request_id, db=self._db()))

    def undo_reopen(self, request_id: str, status: str) -> roles.Row:
        return _row(shapes.GenerationRequest, postgres.undo_reopen(request_id, status, db=self._db()))


class _PostgresPhaseRuns:
    def __init__(self, db: Any) -> None:
        self._db = db

    def record(self, request_id: str, phase: int, attempt: int, **fields: Any) -> roles.Row:
        return _row(shapes.PhaseRun, postgres.record_phase_run(request_id, phase, attempt, db=self._db(), **fields))

    def find(self, request_id: str, phase: int, attempt: int, *, panel_id: str | None = None) -> roles.Row | None:
        row = postgres.find_phase_run(request_id, phase, attempt, panel_id=panel_id, db=self._db())
        return None if row is None else _row(shapes.PhaseRun, row)

    def list(self, request_id: str, phase: int | None = None) -> list[roles.Row]:
        return _rows(shapes.PhaseRun, postgres.list_phase_runs(request_id, phase, db=self._db()))

    def add_preview(self, request_id: str, phase: int, uri: str, *, attempt: int | None = None) -> roles.Row:
        return _row(shapes.PreviewVersion,
                    postgres.add_preview_version(request_id, phase, uri, attempt=attempt, db=self._db()))

    def previews(self, request_id: str, phase: int | None = None) -> list[roles.Row]:
        return _rows(shapes.PreviewVersion, postgres.list_preview_versions(request_id, phase, db=self._db()))


class _PostgresGates:
    def __init__(self, db: Any) -> None:
        self._db = db

    def open(self, request_id: str, phase: int, **fields: Any) -> roles.Row:
        return _row(shapes.ApprovalGate, postgres.open_gate(request_id, phase, db=self._db(), **fields))

    def get(self, gate_id: str) -> roles.Row:
        return _row(shapes.ApprovalGate, postgres.get_gate(gate_id, db=self._db()))

    def decide(self, gate_id: str, decision: str | None, **fields: Any) -> roles.Row:
        return _row(shapes.ApprovalGate, postgres.decide_gate(gate_id, decision, db=self._db(), **fields))

    def list(self, request_id: str) -> list[roles.Row]:
        return _rows(shapes.ApprovalGate, postgres.list_gates(request_id, db=self._db()))

    def record_feedback(self, request_id: str, phase: int, **fields: Any) -> roles.Row:
        return _row(shapes.FeedbackRecord, postgres.record_feedback(request_id, phase, db=self._db(), **fields))


class _Analytics:
    """Best effort by contract: analytics never fails the work it describes (the caller logs)."""

    def record_quality_score(self, **fields: Any) -> None:
        analytics.record_quality_score(**fields)

    def record_retry(self, **fields: Any) -> None:
        analytics.record_retry(**fields)

    def record_feedback(self, request_id: str, phase: int, decision: str, wait_s: float, **fields: Any) -> None:
        analytics.record_feedback(request_id, phase, decision, wait_s, **fields)

    def record_chat_metric(self, session_id: str, request_id: str, phase: int, kind: str, applied: bool,
                           **fields: Any) -> None:
        analytics.record_chat_metric(session_id, request_id, phase, kind, applied, **fields)

    def record_phase_timing(self, request_id: str, phase: int, active_s: float, gate_wait_s: float,
                            **fields: Any) -> None:
        analytics.record_phase_timing(request_id, phase, active_s, gate_wait_s, **fields)

    def record_run_summary(self, request_id: str, status: str, **fields: Any) -> None:
        analytics.record_run_summary(request_id, status, **fields)


def build() -> Stores:
    """The real stores of this environment (local stand-ins or the cloud, by the settings)."""
    redis_roles = sessions.session_store  # one Redis client per process holds progress, admission, idempotency
    return Stores(
        requests=_PostgresRequests(postgres.database),
        phase_runs=_PostgresPhaseRuns(postgres.database),
        gates=_PostgresGates(postgres.database),
        artifacts=_Lazy(objects.object_store),
        progress=_Lazy(redis_roles),
        admission=_Lazy(redis_roles),
        idempotency=_Lazy(redis_roles),
        chat=_Lazy(chat.chat_store),
        analytics=_Analytics(),
        model_calls=metering.PostgresModelCalls(postgres.database),
        image_cache=metering.PostgresImageCache(postgres.database),
    )


class _Lazy:
    """A role served by a process-wide client made on first use (and remade after a reset)."""

    def __init__(self, holder: Any) -> None:
        self._holder = holder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._holder(), name)


_lock = threading.Lock()
_stores: Stores | None = None


def stores() -> Stores:
    """The process's stores, built on first use."""
    global _stores
    with _lock:
        if _stores is None:
            _stores = build()
        return _stores


@contextlib.contextmanager
def use(replacement: Stores) -> Iterator[Stores]:
    """Run with other stores (fakes in unit tests); the previous ones come back afterwards."""
    global _stores
    with _lock:
        previous, _stores = _stores, replacement
    try:
        yield replacement
    finally:
        with _lock:
            _stores = previous
