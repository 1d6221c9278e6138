"""One run of a Program: step budget, environment, logs, callbacks, and the journal of its outside calls.

Every value that comes from outside the engine (HTTP answers, sys.now, uuid.generate, sleeps, callbacks) goes
through `recorded` or `call`: written to the journal before it is used, and on replay read back from it in the
same order per thread. A replay that asks for a different call than the journal holds fails the execution
with `ReplayDivergence`, naming the step.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .errors import WorkflowError
from .frames import Frame, Thread
from .journal import Effect, Journal

# Limits of the real service ("Workflows quotas and limits").
STEP_LIMIT = 100_000
# Nested subworkflow calls below main (main itself is not one of them).
CALL_DEPTH_LIMIT = 20
VARIABLE_MEMORY_LIMIT = 512 * 1024
# How often a CPU-bound loop hands the event loop to other executions (and checks variable memory).
YIELD_EVERY = 1000

_MEMORY = Journal.memory()


class Return(Exception):
    """A `return` step unwinding to its (sub)workflow boundary."""

    def __init__(self, value: Any):
        self.value = value


class ReplayDivergence(Exception):
    """A replay asked for another call than the journal recorded: the execution cannot go on safely."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.where: tuple[str, str, int | None] | None = None


def resource_limit(message: str) -> WorkflowError:
    return WorkflowError.tagged("ResourceLimitError", message)


def value_size(value: Any) -> int:
    """Approximate memory of a value as the service counts it (its JSON size)."""
    t = type(value)
    if t is str:
        return len(value) + 2
    if t is dict:
        return 2 + sum(len(k) + 3 + value_size(v) for k, v in value.items())
    if t is list:
        return 2 + sum(value_size(v) + 1 for v in value)
    if t is bytes:
        return len(value)
    return 8


@dataclass
class LogEntry:
    severity: str
    payload: Any
    time: float


class Execution:
    """One run of a Program; `run` is the coroutine to schedule. `journal` keeps its outside calls."""

    def __init__(self, program: Any, env: dict[str, str] | None = None, execution_id: str | None = None,
                 services: Any = None, workflow_name: str = "workflow", journal: Journal | None = None):
        self.program = program
        self.env = dict(env or {})
        self.id = execution_id or uuid.uuid4().hex
        self.workflow_name = workflow_name
        self.services = services  # runtime.Services: http session, callback hub, base URL
        self.journal = journal or _MEMORY
        # Calls recorded by an earlier run of this execution, served back in order while replaying.
        self.replay: dict[tuple[str, int], Effect] = self.journal.effects(self.id) if self.journal.durable else {}
        self.steps = 0
        self.next_yield = YIELD_EVERY
        # >0 while a subworkflow runs inside an expression: it must finish without yielding to the loop.
        self.inline = 0
        self.logs: list[LogEntry] = []
        self.callbacks: dict[str, Any] = {}
        self.finished = False
        # (routine, step) being run or last run: the REST resource's status.currentSteps.
        self.current_step: tuple[str, str] | None = None

    # ------------------------------------------------------------------ context for the standard library
    def log(self, severity: str, payload: Any) -> None:
        self.logs.append(LogEntry(severity, payload, time.time()))

    @staticmethod
    def clock() -> float:
        return time.time()

    # ------------------------------------------------------------------ journalled calls
    def _recorded_entry(self, thread: Thread, seq: int, kind: str, key: str) -> Effect | None:
        entry = self.replay.pop((thread.path, seq), None)
        if entry is not None and (entry.kind != kind or entry.key != key):
            self.replay.clear()
            raise ReplayDivergence(
                f"replay diverged from the journal: call #{seq} of thread '{thread.path}' was "
                f"{entry.kind} {entry.key}".rstrip() + f", but the replay made {kind} {key}".rstrip())
        return entry

    def recorded(self, fr: Frame, kind: str, key: str, produce: Callable[[], Any]) -> Any:
        """A value made synchronously outside the workflow's logic (time, uuid): the same on replay."""
        thread = fr.thread
        thread.seq += 1
        if self.replay:
            entry = self._recorded_entry(thread, thread.seq, kind, key)
            if entry is not None and entry.outcome is not None:
                return entry.result()
        value = produce()
        self.journal.outcome(self.id, thread.path, thread.seq, kind, key, None, {"value": value})
        return value

    async def call(self, fr: Frame, kind: str, key: str, act: Callable[[Any], Awaitable[Any]],
                   intent: Any = None, note: Callable[[], dict[str, Any]] | None = None) -> Any:
        """A call that leaves the engine: its intent journalled before `act(intent)`, its outcome after.

        On replay a finished call answers from the journal; one cut short by a crash is made again with
        its recorded intent (e.g. the same sleep deadline). `note` adds fields to the recorded outcome.
        """
        thread = fr.thread
        thread.seq += 1
        seq = thread.seq
        entry = self._recorded_entry(thread, seq, kind, key) if self.replay else None
        if entry is not None:
            if entry.outcome is not None:
                return entry.result()
            intent = entry.intent
        else:
            self.journal.intent(self.id, thread.path, seq, kind, key, intent)
        try:
            value = await act(intent)
        except WorkflowError as exc:
            self.journal.outcome(self.id, thread.path, seq, kind, key, intent, {"error": exc.value})
            raise
        outcome = {"value": value}
        if note is not None:
            outcome.update(note())
        self.journal.outcome(self.id, thread.path, seq, kind, key, intent, outcome)
        return value

    async def sleep(self, fr: Frame, seconds: float, kind: str = "sys.sleep") -> None:
        """Wait until a journalled deadline: after a restart the sleep ends when it would have."""

        async def wait(intent: dict[str, float]) -> None:
            await asyncio.sleep(max(0.0, intent["until"] - time.time()))

        await self.call(fr, kind, "", wait, {"until": time.time() + float(seconds)})

    # ------------------------------------------------------------------ limits
    async def breathe(self, fr: Frame) -> None:
        """Let other executions run, and check the variable memory limit while we are at it."""
        self.next_yield = self.steps + YIELD_EVERY
        size = value_size(fr.visible())
        if size > VARIABLE_MEMORY_LIMIT:
            raise resource_limit(
                f"ResourceLimitError: Memory usage limit exceeded: variables use about {size} bytes; the limit is "
                f"{VARIABLE_MEMORY_LIMIT} bytes (512 KB)")
        if not self.inline:
            await asyncio.sleep(0)

    def check_value_size(self, value: Any, what: str) -> None:
        if type(value) in (dict, list, str, bytes):
            size = value_size(value)
            if size > VARIABLE_MEMORY_LIMIT:
                raise resource_limit(
                    f"ResourceLimitError: Memory usage limit exceeded: {what} is about {size} bytes; the limit is "
                    f"{VARIABLE_MEMORY_LIMIT} bytes (512 KB)")

    # ------------------------------------------------------------------ running
    async def run(self, argument: Any = None) -> Any:
        """Run main with the argument; returns the result or raises WorkflowError (or ReplayDivergence)."""
        main = self.program.main
        root = Frame(self, {}, -1, Thread("main"))
        args = [argument] if main.params else None
        if main.params and argument is None and main.params[0] in main.defaults:
            args = None
        try:
            result = await main.call(root, None, args)
            self.check_value_size(result, "the execution result")
            return result
        except RecursionError:
            raise WorkflowError.tagged("RecursionError", "RecursionError: maximum recursion depth exceeded") from None
        finally:
            self.finished = True


def located(exc: BaseException, routine: str, step: str, line: int | None) -> BaseException:
    """Remember the innermost step an error came from (for the execution's error context)."""
    if isinstance(exc, ReplayDivergence):
        if exc.where is None:
            exc.where = (routine, step, line)
    elif getattr(exc, "wf_location", None) is None:
        exc.wf_location = (routine, step, line)  # type: ignore[attr-defined]
    return exc


def error_payload(value: Any) -> str:
    """The `error.payload` string of a failed execution: the raised value JSON-encoded, strings included.

    The REST reference: "payload: Error message and data returned represented as a JSON string."
    """
    from .values import to_json_text

    try:
        return to_json_text(value)
    except Exception:  # a value JSON cannot hold (e.g. a function): describe it
        return json.dumps(str(value))


def error_context(exc: BaseException) -> str:
    """A stack-trace-like context line like the service's: the error and where it was raised.

    A standard error map reads "KeyError: key not found: x"; any other raised value reads
    "RuntimeError: <its JSON>" (the service's own wording for custom errors).
    """
    value = getattr(exc, "value", None)
    tags = value.get("tags") if isinstance(value, dict) else None
    message = value.get("message") if isinstance(value, dict) else None
    if isinstance(tags, list) and tags and isinstance(tags[0], str) and isinstance(message, str):
        # Some messages already start with their tag ("UnhandledBranchError: ..."): never say it twice.
        head = message if message.startswith(f"{tags[0]}:") else f"{tags[0]}: {message}"
    else:
        head = f"RuntimeError: {error_payload(value)}"
    loc = getattr(exc, "wf_location", None)
    if loc:
        routine, step, line = loc
        where = f'in step "{step}", routine "{routine}"'
        if line is not None:
            where += f", line: {line}"
        return f"{head}\n{where}"
    return head


def divergence_error(exc: ReplayDivergence) -> WorkflowError:
    """How a failed replay reads in the execution's error: a SystemError naming the step."""
    routine, step, line = exc.where or ("?", "?", None)
    err = WorkflowError.tagged("SystemError", f"ReplayError: the execution cannot resume at step '{step}' "
                                              f"(routine '{routine}'): {exc.message}")
    err.wf_location = (routine, step, line)  # type: ignore[attr-defined]
    return err


def internal_error(exc: BaseException) -> WorkflowError:
    """An unexpected Python failure surfaces as the service's SystemError, never a traceback."""
    return WorkflowError.tagged("SystemError", f"internal error: {type(exc).__name__}: {exc}")
