"""Every model call, whatever the provider, goes through a CallScope: a deadline per try, retries with
exponential back-off on 429, 5xx and timeouts, the fault switch, the request's budget, and one recorded
row per try (tokens from the answer's usage metadata, list price, provenance).

A try that misses its deadline is abandoned: the caller goes on (retries) at once, and the abandoned
try's answer, if it still comes, is recorded as `late` (it is billed) and never used. A scope belongs to
one phase call; closing it releases tries that hang.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config import Settings, settings
from ..errors import StoreUnavailable, UpstreamUnavailable
from . import pricing
from .faults import FaultSwitch
from .pricing import Usage

log = logging.getLogger(__name__)

# 408 and 429 mean "not now", 5xx "not us": both are worth another try after a pause.
TRANSIENT_CODES = frozenset({408, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """A try that failed in a way another try may not (429, 5xx, a dropped connection)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code


class PermanentError(Exception):
    """A refusal another try will not change (400, 403, 404, missing credentials)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code


class BudgetExhausted(Exception):
    """The call could cost more than is left of the request's budget: the run stops asking the model."""


class CallFailed(UpstreamUnavailable):
    """Every try failed or the phase call's time ran out; `reason` is the last failure."""


@dataclass(frozen=True)
class Reply:
    """What one try brought back: the value (parsed JSON, image bytes...), its usage and provenance;
    `blocked` says why an image call answered without an image (safety filter, no image)."""

    value: Any = None
    usage: Usage = field(default_factory=Usage)
    model_version: str | None = None
    response_id: str | None = None
    blocked: str | None = None


@dataclass(frozen=True)
class CallSpec:
    """One model call: what for (`operation`, `item` tells apart calls of the same operation in one phase
    call), which model, the most it can use (its price is reserved from the budget first), provenance."""

    operation: str
    kind: str  # text | image
    provider: str
    model: str
    most: Usage = field(default_factory=Usage)
    item: str = ""
    prompt_sha256: str | None = None
    reference_sha256: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Outcome:
    """A finished call: the reply, the row recorded for the try that answered, its cost and latency."""

    reply: Reply
    row: dict[str, Any]
    cost_usd: float
    latency_ms: int


class ModelSlots:
    """At most `limit` model calls of one request at once, across every gateway process: the model's share
    of the request's concurrency (`concurrency_limit`, the image model's quota). A try holds a slot only
    while it waits on the model, so the workflow can run more panel calls than this and a panel's
    resizing, upload and bookkeeping overlap the next panel's model call. `admission` is the role that
    keeps the slots (stores.roles.Admission)."""

    POLL_S = 0.01  # a waiting try looks for a free slot this often (a slot freed in another process)
    OUTAGE_S = 30.0  # after the slot store failed, this process calls the model without slots this long
    _down_until = 0.0  # process-wide: one outage costs one store timeout, not one per call
    # A slot given back in this process wakes its waiters at once (they look again), rather than at their
    # next poll; the gateway's threads run most of a request's panel calls side by side.
    _freed = threading.Condition()
    _frees = 0  # slots given back in this process so far: a waiter sleeps only if none came since it looked

    def __init__(self, admission: Any, request_id: str, limit: int) -> None:
        self.admission, self.request_id, self.limit = admission, request_id, max(1, int(limit))

    def hold(self, hold_s: float, wait_s: float) -> Callable[[], None]:
        """Waits up to `wait_s` for a slot and returns what gives it back; a slot frees itself after
        `hold_s` in any case. Raises CallFailed when none came free in time. When the slot store (Redis) is
        unavailable the call goes ahead without a slot (the model's own 429s are retried): a book is never
        stopped by the bookkeeping of its quota."""
        ends = time.monotonic() + max(0.0, wait_s)
        while True:
            if time.monotonic() < ModelSlots._down_until:
                return lambda: None
            seen = ModelSlots._frees
            try:
                token = self.admission.take_model_slot(self.request_id, self.limit, hold_s)
            except StoreUnavailable as err:
                ModelSlots._down_until = time.monotonic() + self.OUTAGE_S
                log.warning("model slots unavailable (%s); calling the model without them for %.0f s", err,
                            self.OUTAGE_S)
                return lambda: None
            if token is not None:
                return lambda: self._free(token)
            if time.monotonic() >= ends:
                raise CallFailed(f"no model slot came free within {wait_s:.1f} s (at most {self.limit} of the "
                                 f"request's model calls at once)", field="concurrency_limit")
            with ModelSlots._freed:
                if ModelSlots._frees == seen:
                    ModelSlots._freed.wait(min(self.POLL_S, max(0.0, ends - time.monotonic())))

    def _free(self, token: str) -> None:
        try:
            self.admission.free_model_slot(self.request_id, token)
        except StoreUnavailable as err:  # the slot frees itself after its hold time
            log.warning("a model slot could not be given back (%s); it frees itself", err)
        with ModelSlots._freed:
            ModelSlots._frees += 1
            ModelSlots._freed.notify_all()


def _once(free: Callable[[], None] | None) -> Callable[[], None]:
    """`free` made safe to call twice (the try gives its slot back early, the caller's `finally` again)."""
    if free is None:
        return lambda: None
    freed: list[bool] = []

    def release() -> None:
        if not freed:
            freed.append(True)
            free()

    return release


class CallScope:
    """The model calls of one phase call (request, phase, attempt, panel): where they are recorded,
    the budget they draw on, the faults injected and the time they have."""

    def __init__(self, model_calls: Any = None, *, request_id: str | None = None, phase: int | None = None,
                 attempt: int | None = None, panel_id: str | None = None, deadline_s: float | None = None,
                 faults: FaultSwitch | None = None, config: Settings | None = None,
                 slots: ModelSlots | None = None) -> None:
        from ..stores.metering import MemoryModelCalls

        self.config = config or settings()
        self.model_calls = model_calls if model_calls is not None else MemoryModelCalls()
        self.request_id, self.phase, self.attempt, self.panel_id = request_id, phase, attempt, panel_id
        self.deadline_s = deadline_s if deadline_s is not None else self.config.phase_call_deadline_s
        self.ends_at = time.monotonic() + self.deadline_s
        self.faults = faults if faults is not None else FaultSwitch.from_settings()
        self.slots = slots
        self._closed = threading.Event()
        self._local_tries: dict[str, int] = {}
        self.outcomes: list[Outcome] = []

    @property
    def recorded(self) -> bool:
        return self.request_id is not None

    def close(self) -> None:
        """The phase call is over: tries that still hang are released (their answers are late anyway)."""
        self._closed.set()

    def remaining_s(self) -> float:
        return self.ends_at - time.monotonic()

    def key(self, spec: CallSpec) -> str:
        return f"{self.phase or '-'}/{self.attempt or '-'}/{self.panel_id or '-'}/{spec.operation}/{spec.item}"

    # ------------------------------------------------------------------ the one way a model is called

    def call(self, spec: CallSpec, send: Callable[[], Reply]) -> Outcome:
        """`send` makes one try; it raises TransientError or PermanentError, or returns a Reply.
        Raises BudgetExhausted before a try the budget cannot cover, PermanentError's refusal as
        UpstreamUnavailable (502), and CallFailed when every try failed or the time ran out."""
        key = self.key(spec)
        first = self._tries_before(key)
        deadline = self.config.image_deadline_s if spec.kind == "image" else self.config.text_deadline_s
        reason = "no try was made"
        last = first + self.config.model_retries
        for number in range(first, last + 1):
            left = self.remaining_s()
            if left <= 0.05:
                return self._out_of_time(spec, reason)
            release = _once(self.slots.hold(deadline + 5.0, left - 0.05) if self.slots is not None else None)
            try:
                reserved = self._reserve(spec, key, number)
                fault = self.faults.draw(f"{self.request_id}|{key}", number)
                outcome, reason, retry = self._try(spec, key, number, min(deadline, self.remaining_s()), reserved,
                                                   fault, send, release)
            finally:
                release()
            if outcome is not None:
                return outcome
            if not retry:
                raise UpstreamUnavailable(reason, status=502)
            if number < last:
                pause = self.config.model_backoff_s * (2 ** (number - first)) * (1 + 0.25 * random.random())
                if pause > self.remaining_s() - 0.05:
                    return self._out_of_time(spec, reason)
                log.info("model call %s: %s; try %d in %.2f s", key, reason, number + 2 - first, pause)
                if pause > 0:
                    self._closed.wait(pause)
        raise CallFailed(f"{spec.model} ({spec.operation}) is unavailable after {self.config.model_retries + 1} tries: "
                         f"{reason}", field=spec.operation)

    def _out_of_time(self, spec: CallSpec, reason: str) -> Outcome:
        raise CallFailed(f"{spec.model} ({spec.operation}): the phase call's {self.deadline_s:g} s "
                         f"for model calls ran out (last: {reason})", field=spec.operation)

    def _tries_before(self, key: str) -> int:
        # Counted from the recorded rows, so a retry of the whole phase call (another process, maybe)
        # continues the count and the fault switch draws anew for it.
        if self.recorded:
            return int(self.model_calls.tries(self.request_id, key))
        return self._local_tries.get(key, 0)

    def _reserve(self, spec: CallSpec, key: str, number: int) -> float:
        usd = pricing.cost_usd(spec.model, spec.most)
        if usd <= 0 or not self.recorded:
            return 0.0
        if self.model_calls.reserve(self.request_id, usd,
                                    f"{spec.operation} ({spec.model}) could cost up to ${usd:.4f}, more than is left"):
            return usd
        budget = self.model_calls.budget(self.request_id) or {}
        self._record(spec, key, number, "budget", error=f"could cost up to ${usd:.4f}; ${float(budget.get('spent_usd') or 0):.4f}"
                     f" of ${float(budget.get('budget_usd') or 0):.2f} spent")
        raise BudgetExhausted(f"the budget of ${float(budget.get('budget_usd') or 0):.2f} is spent: "
                              f"{budget.get('stop_reason') or 'the model was stopped'}")

    def _try(self, spec: CallSpec, key: str, number: int, deadline: float, reserved: float, fault: str | None,
             send: Callable[[], Reply], release: Callable[[], None] = lambda: None) -> tuple[Outcome | None, str, bool]:
        """One try in its own thread, waited for at most `deadline` s: (outcome, "", _) when it answered in
        time, else (None, why, whether another try may help). `release` gives the model slot back as soon as the
        wait is over, before the try is settled and recorded (two database writes another panel's call need not
        wait for: at 1 s a call, 12 hand-overs of the 5 slots are on phase 5's critical path)."""
        box: dict[str, Any] = {}
        done = threading.Event()
        lock = threading.Lock()
        state = {"now": "running"}  # running -> answered (in time) | abandoned (the deadline passed first)
        started = time.monotonic()

        def run() -> None:
            try:
                box["reply"] = self._inject(fault, deadline, send)
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                box["error"] = error
            box["latency_ms"] = int((time.monotonic() - started) * 1000)
            with lock:
                late = state["now"] == "abandoned"
                state["now"] = "abandoned" if late else "answered"
            done.set()
            if late:
                self._late(spec, key, number, reserved, fault, box)

        threading.Thread(target=run, name=f"model-call {key}", daemon=True).start()
        answered = done.wait(deadline)
        ended = datetime.now(timezone.utc).isoformat()   # the row's time: the wait is over here, not when recorded
        release()
        if not answered:
            with lock:
                missed = state["now"] == "running"
                if missed:
                    state["now"] = "abandoned"
            if missed:
                self._record(spec, key, number, "timeout", fault=fault, latency_ms=int(deadline * 1000),
                             error=f"no answer within {deadline:.1f} s", ended=ended)
                return None, f"no answer within {deadline:.1f} s", True
            done.wait()
        latency = int(box.get("latency_ms") or (time.monotonic() - started) * 1000)
        error = box.get("error")
        if error is not None:
            self._settle(reserved, 0.0)
            code = getattr(error, "code", None)
            status_text = f"{code} " if code else ""
            self._record(spec, key, number, "error", fault=fault, http_status=code, latency_ms=latency,
                         error=f"{status_text}{error}"[:500], ended=ended)
            if isinstance(error, TransientError):
                return None, f"{status_text}{error}".strip(), True
            if isinstance(error, PermanentError):
                return None, f"{spec.model} refused the request: {status_text}{error}".strip(), False
            raise error
        reply: Reply = box["reply"]
        cost = pricing.cost_usd(spec.model, reply.usage)
        self._settle(reserved, cost)
        row = self._record(spec, key, number, "blocked" if reply.blocked else "ok", fault=fault, latency_ms=latency,
                           usage=reply.usage, cost=cost, model_version=reply.model_version,
                           response_id=reply.response_id, error=reply.blocked, ended=ended)
        outcome = Outcome(reply, row, cost, latency)
        self.outcomes.append(outcome)
        return outcome, "", False

    def _inject(self, fault: str | None, deadline: float, send: Callable[[], Reply]) -> Reply:
        """The fault switch's failure in place of (or, for a timeout, before) the real try."""
        if fault == "hang":  # never answers on its own; released when the phase call is over
            self._closed.wait(min(600.0, max(10 * deadline, 30.0)))
            raise TransientError(None, "the hung call was released")
        if fault == "timeout":  # answers, but only after the deadline: the answer comes late
            time.sleep(deadline + 0.05)
            return send()
        if fault is not None:
            names = {"429": "RESOURCE_EXHAUSTED (fault switch)", "500": "INTERNAL (fault switch)",
                     "503": "UNAVAILABLE (fault switch)"}
            raise TransientError(int(fault), names[fault])
        return send()

    def _late(self, spec: CallSpec, key: str, number: int, reserved: float, fault: str | None,
              box: dict[str, Any]) -> None:
        """An abandoned try finished: its answer is discarded, what it cost is still counted."""
        try:
            reply = box.get("reply")
            if reply is None:
                self._settle(reserved, 0.0)
                return
            cost = pricing.cost_usd(spec.model, reply.usage)
            self._settle(reserved, cost)
            self._record(spec, key, number, "late", fault=fault, latency_ms=box.get("latency_ms"), usage=reply.usage,
                         cost=cost, model_version=reply.model_version, response_id=reply.response_id,
                         error="answered after its deadline; discarded")
        except Exception as err:  # noqa: BLE001 - a late answer must never disturb anything
            log.warning("recording a late answer of %s failed: %s", key, err)

    def _settle(self, reserved: float, spent: float) -> None:
        if self.recorded and (reserved > 0 or spent > 0):
            self.model_calls.settle(self.request_id, reserved, spent)

    def _record(self, spec: CallSpec, key: str, number: int, status: str, *, fault: str | None = None,
                http_status: int | None = None, latency_ms: int | None = None, usage: Usage | None = None,
                cost: float = 0.0, model_version: str | None = None, response_id: str | None = None,
                error: str | None = None, ended: str | None = None) -> dict[str, Any]:
        usage = usage or Usage()
        row = {"request_id": self.request_id, "phase": self.phase, "attempt": self.attempt, "panel_id": self.panel_id,
               "operation": spec.operation, "kind": spec.kind, "call_key": key, "try_number": number,
               "provider": spec.provider, "model": spec.model, "model_version": model_version, "status": status,
               "fault": fault, "http_status": http_status, "error": error, "input_tokens": usage.input,
               "output_tokens": usage.output, "image_tokens": usage.image, "cost_usd": cost, "latency_ms": latency_ms,
               "prompt_sha256": spec.prompt_sha256, "reference_sha256": list(spec.reference_sha256),
               "seed": spec.seed, "response_id": response_id, "cache_of": None}
        if ended is not None:
            row["created_at"] = ended
        if status in ("ok", "blocked", "error", "timeout") and not self.recorded:
            self._local_tries[key] = self._local_tries.get(key, 0) + 1
        if self.recorded:
            return self.model_calls.record(**row)
        return row

    def record_cache_hit(self, spec: CallSpec, cache_of: dict[str, Any]) -> None:
        """An image reused from the cache: a row with no cost, so the request's images add up."""
        if self.recorded:
            row = {"request_id": self.request_id, "phase": self.phase, "attempt": self.attempt,
                   "panel_id": self.panel_id, "operation": spec.operation, "kind": spec.kind,
                   "call_key": self.key(spec), "try_number": 0, "provider": spec.provider, "model": spec.model,
                   "status": "cache", "prompt_sha256": spec.prompt_sha256,
                   "reference_sha256": list(spec.reference_sha256), "seed": spec.seed, "cache_of": cache_of}
            self.model_calls.record(**row)


def unrecorded() -> CallScope:
    """A scope that records nothing and has no budget (phases run directly, e.g. in unit tests)."""
    return CallScope()
