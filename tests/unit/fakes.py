"""In-memory stand-ins for every store role (mangaflow/stores/roles.py), keeping the semantics the
service layer relies on (idempotent records, first decision wins, versioned previews, content-
addressed artifacts), so the service layer can be tested in milliseconds. The real stores have
their own tests against the real servers (tests/stores)."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from mangaflow.bootstrap import Stores
from mangaflow.config import clamp_hitl_timeout


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class FakeRequests:
    def __init__(self, world: "World") -> None:
        self.world = world
        self.rows: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        return f"r-{next(self._ids):016x}"

    def create(self, user_id: str, **fields: Any) -> dict[str, Any]:
        rid = fields.pop("request_id", None) or self.new_id()
        if rid not in self.rows:
            self.rows[rid] = {"request_id": rid, "user_id": user_id, "status": "pending", "current_phase": None,
                              "hitl_timeout_s": clamp_hitl_timeout(fields.pop("hitl_timeout_s", None) or 1800),
                              "options": fields.pop("options", None) or {}, "created_at": _now().isoformat(),
                              "execution_name": None, "error": None, "result_uri": None, **fields}
        return dict(self.rows[rid])

    def get(self, request_id: str) -> dict[str, Any]:
        if request_id not in self.rows:
            raise KeyError(request_id)
        return dict(self.rows[request_id])

    def update(self, request_id: str, **fields: Any) -> dict[str, Any]:
        row = self.rows[request_id]
        row.update({k: v for k, v in fields.items() if v is not None})
        return dict(row)

    def reopen(self, request_id: str, entry: dict[str, Any]) -> dict[str, Any] | None:
        row = self.rows[request_id]
        if row["status"] != "completed" and not (row["status"] in ("failed", "cancelled")
                                                 and row["options"].get("reopens")):
            return None
        row["options"] = {**row["options"], "reopens": [*row["options"].get("reopens", []), entry]}
        row.update(status="running", error=None)
        return dict(row)

    def undo_reopen(self, request_id: str, status: str) -> dict[str, Any]:
        row = self.rows[request_id]
        row["options"] = {**row["options"], "reopens": row["options"].get("reopens", [])[:-1]}
        row["status"] = status
        return dict(row)

    def translations(self, request_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows.values() if r["options"].get("translated_from") == request_id]

    def state(self, request_id: str) -> dict[str, Any]:
        request = self.get(request_id)
        phases = []
        for phase in range(1, 8):
            runs = [r for r in self.world.phase_runs.list(request_id) if r["phase"] == phase]
            gates = [g for g in self.world.gates.list(request_id) if g["phase"] == phase]
            previews = self.world.phase_runs.previews(request_id, phase)
            notes = [f for f in self.world.gates.feedback if f["request_id"] == request_id and f["phase"] == phase]
            if not (runs or gates or previews or notes):
                continue
            scores = [r["score"] for r in runs if r["score"] is not None]
            phases.append({"phase": phase, "attempts": runs, "scores": scores,
                           "best_score": max(scores) if scores else None, "gates": gates,
                           "decisions": [g["decision"] or ("timeout" if g["timed_out"] else None) for g in gates],
                           "artifacts": [r["output_uri"] for r in runs if r["output_uri"]],
                           "previews": previews, "feedback": notes})
        return {**request, "phases": phases}


class FakePhaseRuns:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, int, int, str | None], dict[str, Any]] = {}
        self.preview_rows: list[dict[str, Any]] = []

    def record(self, request_id: str, phase: int, attempt: int, **fields: Any) -> dict[str, Any]:
        key = (request_id, phase, attempt, fields.get("panel_id"))
        if key not in self.rows:
            self.rows[key] = {"request_id": request_id, "phase": phase, "attempt": attempt, "panel_id": None,
                              "status": "succeeded", "output_uri": None, "score": None, "decision": None,
                              "hints": [], "fallback": None, "duration_ms": None, **fields}
        return dict(self.rows[key])

    def find(self, request_id: str, phase: int, attempt: int, *, panel_id: str | None = None) -> dict[str, Any] | None:
        row = self.rows.get((request_id, phase, attempt, panel_id))
        return dict(row) if row else None

    def list(self, request_id: str, phase: int | None = None) -> list[dict[str, Any]]:
        rows = [dict(r) for (rid, p, _, _), r in self.rows.items() if rid == request_id and phase in (None, p)]
        return sorted(rows, key=lambda r: (r["phase"], r["attempt"], r["panel_id"] or ""))

    def add_preview(self, request_id: str, phase: int, uri: str, *, attempt: int | None = None) -> dict[str, Any]:
        mine = self.previews(request_id, phase)
        if mine and mine[-1]["uri"] == uri:
            return mine[-1]
        row = {"request_id": request_id, "phase": phase, "version": len(mine) + 1, "uri": uri, "attempt": attempt}
        self.preview_rows.append(row)
        return dict(row)

    def previews(self, request_id: str, phase: int | None = None) -> list[dict[str, Any]]:
        return [dict(r) for r in self.preview_rows if r["request_id"] == request_id and phase in (None, r["phase"])]


class FakeGates:
    def __init__(self, world: "World") -> None:
        self.world = world
        self.rows: dict[str, dict[str, Any]] = {}
        self.feedback: list[dict[str, Any]] = []

    def open(self, request_id: str, phase: int, **fields: Any) -> dict[str, Any]:
        gate_id = f"g-{request_id}-{phase}-{fields.get('round', 0)}" + (f"-{fields['run']}" if fields.get("run") else "")
        if gate_id not in self.rows:
            timeout = clamp_hitl_timeout(fields.pop("timeout_s", None) or 1800)
            self.rows[gate_id] = {"gate_id": gate_id, "request_id": request_id, "phase": phase, "round": 0, "run": 0,
                                  "callback_url": None, "preview_uri": None, "opened_at": _now(),
                                  "deadline": _now() + dt.timedelta(seconds=timeout), "decision": None,
                                  "decided_by": None, "decided_at": None, "timed_out": False, "feedback": None,
                                  **fields}
        return dict(self.rows[gate_id])

    def get(self, gate_id: str) -> dict[str, Any]:
        if gate_id not in self.rows:
            raise KeyError(gate_id)
        return dict(self.rows[gate_id])

    def decide(self, gate_id: str, decision: str | None, **fields: Any) -> dict[str, Any]:
        gate = self.rows[gate_id]
        if gate["decided_at"] is None:  # the first decision wins
            gate.update(decision=decision, decided_at=_now(), **fields)
        return dict(gate)

    def list(self, request_id: str) -> list[dict[str, Any]]:
        return sorted((dict(g) for g in self.rows.values() if g["request_id"] == request_id),
                      key=lambda g: (g["phase"], g["round"]))

    def record_feedback(self, request_id: str, phase: int, **fields: Any) -> dict[str, Any]:
        row = {"request_id": request_id, "phase": phase, **fields}
        self.feedback.append(row)
        return dict(row)


class FakeArtifacts:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put_bytes(self, bucket_kind: str, data: bytes, content_type: str = "application/octet-stream",
                  prefix: str = "") -> str:
        self.puts += 1
        uri = f"gs://fake-{bucket_kind}/{prefix.strip('/') + '/' if prefix else ''}{hashlib.sha256(data).hexdigest()}"
        self.objects[uri] = bytes(data)
        return uri

    def put_json(self, bucket_kind: str, value: Any, prefix: str = "") -> str:
        data = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        return self.put_bytes(bucket_kind, data, "application/json", prefix)

    def put_named(self, bucket_kind: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.puts += 1
        uri = f"gs://fake-{bucket_kind}/{name}"
        self.objects[uri] = bytes(data)
        return uri

    def named_uri(self, bucket_kind: str, name: str) -> str:
        return f"gs://fake-{bucket_kind}/{name}"

    def put_named_file(self, bucket_kind: str, name: str, file: Any, content_type: str = "application/octet-stream") -> str:
        file.seek(0)
        return self.put_named(bucket_kind, name, file.read(), content_type)

    def get_bytes(self, uri: str) -> bytes:
        if uri not in self.objects:
            raise FileNotFoundError(uri)
        return self.objects[uri]

    def get_json(self, uri: str) -> Any:
        return json.loads(self.get_bytes(uri))

    def exists(self, uri: str) -> bool:
        return uri in self.objects


class FakeProgress:
    def __init__(self) -> None:
        self.events: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def publish_progress(self, request_id: str, event: dict[str, Any]) -> str:
        entry_id = f"{next(self._ids)}-0"
        self.events.setdefault(request_id, []).append((entry_id, dict(event)))
        return entry_id

    def read_progress(self, request_id: str, after_id: str = "0", *, block_ms: int | None = None,
                      count: int = 100) -> list[tuple[str, dict[str, Any]]]:
        after = int(after_id.split("-")[0])
        return [(i, e) for i, e in self.events.get(request_id, []) if int(i.split("-")[0]) > after][:count]

    def open_session(self, request_id: str, user_id: str, *, current_phase: int = 1,
                     feedback_timeout: float | None = None) -> dict[str, Any]:
        self.sessions[request_id] = {"user_id": user_id, "current_phase": current_phase,
                                     "feedback_timeout": feedback_timeout}
        return dict(self.sessions[request_id])

    def update_session(self, request_id: str, *, current_phase: int | None = None,
                       feedback_timeout: float | None = None) -> dict[str, Any]:
        if request_id not in self.sessions:
            raise KeyError(request_id)
        session = self.sessions[request_id]
        session.update({k: v for k, v in {"current_phase": current_phase,
                                          "feedback_timeout": feedback_timeout}.items() if v is not None})
        return dict(session)

    def types(self, request_id: str) -> list[str]:
        return [e["type"] for _, e in self.events.get(request_id, [])]


@dataclass
class FakeAdmission:
    limit_per_user: int = 3
    slots: dict[str, dict[str, float]] = field(default_factory=dict)
    model_slots: dict[str, set[str]] = field(default_factory=dict)

    def admit(self, client_address: str, *, user_id: str | None = None, request_id: str | None = None) -> Any:
        from mangaflow.stores.sessions import Admission

        held = self.slots.setdefault(user_id or "", {})
        if request_id not in held and len(held) >= self.limit_per_user:
            return Admission(False, "too_many_concurrent", 1, 1000, 0.0, len(held))
        held[request_id or ""] = 0.0
        return Admission(True, "ok", 1, 1000, 0.0, len(held))

    def release(self, user_id: str, request_id: str) -> bool:
        return self.slots.get(user_id, {}).pop(request_id, None) is not None

    def active_requests(self, user_id: str) -> list[str]:
        return list(self.slots.get(user_id, {}))

    def slot_ages(self, user_id: str) -> dict[str, float]:
        return dict(self.slots.get(user_id, {}))

    def take_model_slot(self, request_id: str, limit: int, hold_s: float) -> str | None:
        import uuid

        held = self.model_slots.setdefault(request_id, set())
        if len(held) >= limit:
            return None
        token = uuid.uuid4().hex
        held.add(token)
        return token

    def free_model_slot(self, request_id: str, token: str) -> None:
        self.model_slots.get(request_id, set()).discard(token)


@dataclass
class Recorder:
    """Chat and analytics: every call kept, nothing else."""

    calls: list[tuple[str, tuple, dict]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if name == "open_session":
                return {"session_id": kwargs.get("session_id") or "cs-1", "request_id": args[0]}
            if name == "add_message":
                return {"message_id": f"m-{len(self.calls)}"}
            if name == "record_intent":
                return {"intent_id": f"i-{len(self.calls)}"}
            return None

        return record


class World:
    """One set of fakes wired together, and the Stores the service layer gets."""

    def __init__(self) -> None:
        self.requests = FakeRequests(self)
        self.phase_runs = FakePhaseRuns()
        self.gates = FakeGates(self)
        self.artifacts = FakeArtifacts()
        self.progress = FakeProgress()
        self.admission = FakeAdmission()
        self.chat = Recorder()
        self.analytics = Recorder()
        self.stores = Stores(requests=self.requests, phase_runs=self.phase_runs, gates=self.gates,
                             artifacts=self.artifacts, progress=self.progress, admission=self.admission,
                             idempotency=Recorder(), chat=self.chat, analytics=self.analytics)

    def request(self, text: str, *, user: str = "ana", pages: int = 1, language: str = "en") -> dict[str, Any]:
        """A request as start_generation records it (the story in the input bucket)."""
        uri = self.artifacts.put_json("input_data", {"text": text})
        row = self.requests.create(user, language=language, pages=pages, input_uri=uri, style=None, title=None)
        self.progress.open_session(row["request_id"], user)
        return row


class Meeting:
    """Wraps `original` so that calls on different threads must meet `parties` at a time (a threading.Barrier,
    broken by a lone call): `most` is the most calls seen at once, `threads` the callers' thread-name prefixes
    (a pool's threads are named `<prefix>_<n>`)."""

    def __init__(self, original: Any, parties: int = 2, timeout: float = 20) -> None:
        import threading

        self.original, self.most, self.threads = original, 0, set()
        self._met, self._lock, self._active = threading.Barrier(parties, timeout=timeout), threading.Lock(), 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import threading

        with self._lock:
            self._active += 1
            self.most = max(self.most, self._active)
            self.threads.add(threading.current_thread().name.rsplit("_", 1)[0])
        try:
            self._met.wait()
            return self.original(*args, **kwargs)
        finally:
            with self._lock:
                self._active -= 1


def on_threads(call: Any, arguments: list[Any], timeout: float = 60) -> list[BaseException]:
    """`call(argument)` for each argument, each on a thread of its own, all at once; what they raised."""
    import threading

    failures: list[BaseException] = []

    def one(argument: Any) -> None:
        try:
            call(argument)
        except BaseException as err:  # noqa: BLE001 - returned to the test
            failures.append(err)

    threads = [threading.Thread(target=one, args=(argument,)) for argument in arguments]
    [t.start() for t in threads]
    [t.join(timeout) for t in threads]
    return failures
