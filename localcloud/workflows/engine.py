"""The executor: compiles a validated definition into step objects once, then runs executions on asyncio.

Steps run synchronously (no `await`) unless they can block (http, sleep, callbacks, parallel, retry backoff)
or contain a `for` loop (which yields to the event loop every YIELD_EVERY steps so CPU-bound work never
starves other executions). Control flow: a step's `run` returns None (fall through) or the name of the next
step ("end", "break", "continue" included); `return` travels as the _Return exception.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from . import expr as _expr
from . import runtime as _runtime  # noqa: F401  (registers http.*, sys.sleep, events.*)
from . import stdlib
from .errors import DeploymentError, WorkflowError
from .loader import Definition, WorkflowSpec, load_definition, split_step
from .values import copy_value, type_name

# Limits of the real service ("Workflows quotas and limits").
STEP_LIMIT = 100_000
CALL_DEPTH_LIMIT = 20
VARIABLE_MEMORY_LIMIT = 512 * 1024
ARGUMENT_SIZE_LIMIT = 32 * 1024
MAX_CONCURRENT_BRANCHES = 20
MAX_UNHANDLED_BRANCH_ERRORS = 100
# How often a CPU-bound loop hands the event loop to other executions (and checks variable memory).
YIELD_EVERY = 1000

_IDENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Return(Exception):
    """A `return` step unwinding to its (sub)workflow boundary."""

    def __init__(self, value: Any):
        self.value = value


def resource_limit(message: str) -> WorkflowError:
    return WorkflowError.tagged("ResourceLimitError", message)


def _located(exc: WorkflowError, routine: str, step: str, line: int | None) -> WorkflowError:
    """Remember the innermost step an error came from (for the execution's error context)."""
    if getattr(exc, "wf_location", None) is None:
        exc.wf_location = (routine, step, line)  # type: ignore[attr-defined]
    return exc


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


# ---------------------------------------------------------------------------------------------- frames


class Frame:
    """One running (sub)workflow's variables; implements the expression Scope protocol."""

    __slots__ = ("vars", "ex", "ctx", "depth", "shared", "get_variable", "has_variable", "program")

    def __init__(self, ex: "Execution", variables: dict[str, Any], depth: int):
        self.vars = variables
        self.ex = ex
        self.program = ex.program
        self.depth = depth
        self.shared: dict[str, dict[str, Any]] = {}
        # Bound methods of the dict: the fastest variable lookup expressions can do.
        self.get_variable = variables.__getitem__
        self.has_variable = variables.__contains__
        self.ctx = ex.make_context(self)

    def resolve_name(self, dotted: str) -> Any:
        return self.program.resolve_name(dotted)

    def owner(self, name: str) -> dict[str, Any]:
        """The dict an assignment to `name` writes into."""
        return self.vars

    def visible(self) -> dict[str, Any]:
        return dict(self.vars)

    def owner_if_defined(self, name: str) -> dict[str, Any] | None:
        return self.vars if name in self.vars else None


class BranchFrame(Frame):
    """A parallel branch: own locals (a snapshot of the parent's), shared variables written through."""

    __slots__ = ()

    def __init__(self, ex: "Execution", variables: dict[str, Any], depth: int, shared: dict[str, dict[str, Any]]):
        super().__init__(ex, variables, depth)
        self.shared = shared
        self.get_variable = self._get
        self.has_variable = self._has

    def _get(self, name: str) -> Any:
        owner = self.shared.get(name)
        if owner is not None:
            return owner[name]
        return self.vars[name]

    def _has(self, name: str) -> bool:
        owner = self.shared.get(name)
        if owner is not None:
            return name in owner
        return name in self.vars

    def owner(self, name: str) -> dict[str, Any]:
        return self.shared.get(name) or self.vars

    def visible(self) -> dict[str, Any]:
        out = dict(self.vars)
        for name, owner in self.shared.items():
            if name in owner:
                out[name] = owner[name]
        return out

    def owner_if_defined(self, name: str) -> dict[str, Any] | None:
        owner = self.shared.get(name)
        if owner is not None:
            return owner if name in owner else None
        return self.vars if name in self.vars else None


# ---------------------------------------------------------------------------------------------- steps


class Step:
    """Base of compiled steps. `run` is the synchronous path; `arun` the asynchronous one."""

    is_async = False  # needs `await` (blocks, or contains a loop that should yield)
    blocking = False  # truly cannot run without the event loop (http, sleep, callbacks, parallel, retry)
    name = ""
    line: int | None = None
    routine = ""

    def run(self, fr: Frame) -> str | None:
        raise NotImplementedError

    async def arun(self, fr: Frame) -> str | None:
        return self.run(fr)


def _is_resource_limit(exc: WorkflowError) -> bool:
    value = exc.value
    return type(value) is dict and "ResourceLimitError" in (value.get("tags") or ())


def _blocking_in_expression(what: str) -> WorkflowError:
    return WorkflowError.tagged(
        "TypeError", f"blocking call {what} cannot run inside an expression; use a call step")


class StepList:
    """An ordered list of steps with a name index for `next` jumps."""

    __slots__ = ("steps", "index", "is_async", "blocking", "routine", "loops")

    def __init__(self, steps: list[Step], routine: str):
        self.steps = steps
        self.index = {s.name: i for i, s in enumerate(steps)}
        # A `next` back to an earlier step is a loop: run it on the async path so it can yield.
        self.loops = any(self.index.get(t, len(steps)) <= i
                         for i, s in enumerate(steps) for t in _jump_targets(s))
        self.is_async = self.loops or any(s.is_async for s in steps)
        self.blocking = any(s.blocking for s in steps)
        self.routine = routine

    def run(self, fr: Frame) -> str | None:
        steps = self.steps
        n = len(steps)
        i = 0
        ex = fr.ex
        step = None
        try:
            while i < n:
                step = steps[i]
                ex.steps += 1
                if ex.steps > STEP_LIMIT:
                    raise resource_limit(
                        f"ResourceLimitError: execution exceeded the limit of {STEP_LIMIT} steps")
                target = step.run(fr)
                if target is None:
                    i += 1
                else:
                    j = self.index.get(target)
                    if j is None:
                        return target
                    i = j
        except WorkflowError as exc:
            raise _located(exc, self.routine, step.name, step.line) if step is not None else exc
        finally:
            # REST `status.currentSteps`: once finished, "the last attempted or executed step".
            if step is not None:
                ex.current_step = (self.routine, step.name)
        return None

    async def arun(self, fr: Frame) -> str | None:
        steps = self.steps
        n = len(steps)
        i = 0
        ex = fr.ex
        step = None
        try:
            while i < n:
                step = steps[i]
                ex.steps += 1
                if ex.steps > STEP_LIMIT:
                    raise resource_limit(
                        f"ResourceLimitError: execution exceeded the limit of {STEP_LIMIT} steps")
                if step.is_async:
                    # A poll while this step waits must see it as the currently executing step.
                    ex.current_step = (self.routine, step.name)
                    target = await step.arun(fr)
                else:
                    target = step.run(fr)
                if target is None:
                    i += 1
                else:
                    j = self.index.get(target)
                    if j is None:
                        return target
                    if j <= i and ex.steps >= ex.next_yield:
                        await ex.breathe(fr)
                    i = j
        except WorkflowError as exc:
            raise _located(exc, self.routine, step.name, step.line) if step is not None else exc
        finally:
            if step is not None:
                ex.current_step = (self.routine, step.name)
        return None


def _jump_targets(step: Step) -> list[str]:
    targets = [getattr(step, "next", None)]
    if isinstance(step, SwitchStep):
        targets.extend(c.next for c in step.conditions)
    return [t for t in targets if isinstance(t, str)]


class NextStep(Step):
    def __init__(self, target: str):
        self.next = target

    def run(self, fr: Frame) -> str | None:
        return self.next


class Assignment:
    """One `target: value` entry: a plain variable or a path (a.b[0])."""

    __slots__ = ("root", "lvalue", "value")

    def __init__(self, target: str, value: Any):
        m = _IDENT.match(target)
        if m is None:
            raise DeploymentError(f"invalid assignment target '{target}'")
        self.root = m.group(1)
        self.lvalue = None if _SIMPLE_NAME.match(target) else _expr.compile_lvalue(target)
        self.value = _expr.compile_value(value)

    def apply(self, fr: Frame) -> None:
        value = self.value.evaluate(fr, fr.ctx)
        if self.lvalue is None:
            if type(value) is dict or type(value) is list:
                value = copy_value(value)
            fr.owner(self.root)[self.root] = value
        else:
            self.lvalue.assign(fr.owner(self.root), value, fr, fr.ctx)


class AssignStep(Step):
    def __init__(self, items: list[Assignment], next_: str | None):
        self.items = items
        self.next = next_
        # The common case of plain variables in a non-branch frame gets a tight loop.
        self.simple = ([(a.root, a.value.evaluate, not a.value.is_constant) for a in items]
                       if all(a.lvalue is None for a in items) else None)

    def run(self, fr: Frame) -> str | None:
        simple = self.simple
        if simple is not None and not fr.shared:
            variables = fr.vars
            ctx = fr.ctx
            for name, evaluate, may_alias in simple:
                value = evaluate(fr, ctx)
                # Values have copy semantics: a container read from a variable must not alias it.
                if may_alias and (type(value) is dict or type(value) is list):
                    value = copy_value(value)
                variables[name] = value
        else:
            for item in self.items:
                item.apply(fr)
        return self.next


def _store(fr: Frame, name: str | None, value: Any) -> None:
    if name is not None:
        fr.owner(name)[name] = value


class CallFunctionStep(Step):
    """`call:` of a standard-library function (blocking ones are awaited)."""

    def __init__(self, func: stdlib.StdFunction, args: dict[str, Any], result: str | None, next_: str | None):
        self.func = func
        self.args = {k: _expr.compile_value(v) for k, v in args.items()}
        self.result = result
        self.next = next_
        self.is_async = self.blocking = bool(func.blocking)

    def _kwargs(self, fr: Frame) -> dict[str, Any]:
        ctx = fr.ctx
        return {k: v.evaluate(fr, ctx) for k, v in self.args.items()}

    def run(self, fr: Frame) -> str | None:
        value = self.func.invoke(fr.ctx, None, self._kwargs(fr))
        if inspect.isawaitable(value):
            value.close()  # type: ignore[union-attr]
            raise _blocking_in_expression(f"'{self.func.name}'")
        _store(fr, self.result, value)
        return self.next

    async def arun(self, fr: Frame) -> str | None:
        value = self.func.invoke(fr.ctx, None, self._kwargs(fr))
        if inspect.isawaitable(value):
            value = await value
        fr.ex.check_value_size(value, f"result of '{self.func.name}'")
        _store(fr, self.result, value)
        return self.next


class CallSubworkflowStep(Step):
    """`call:` of a subworkflow: binds named args onto params (defaults filled in)."""

    def __init__(self, program: "Program", target: str, args: dict[str, Any], result: str | None,
                 next_: str | None):
        self.program = program
        self.target = target
        self.args = {k: _expr.compile_value(v) for k, v in args.items()}
        self.result = result
        self.next = next_
        # decided once all workflows are compiled (see Program.finish)
        self.is_async = self.blocking = False

    def _kwargs(self, fr: Frame) -> dict[str, Any]:
        ctx = fr.ctx
        return {k: v.evaluate(fr, ctx) for k, v in self.args.items()}

    def run(self, fr: Frame) -> str | None:
        wf = self.program.workflows[self.target]
        _store(fr, self.result, wf.call_sync(fr, self._kwargs(fr)))
        return self.next

    async def arun(self, fr: Frame) -> str | None:
        wf = self.program.workflows[self.target]
        _store(fr, self.result, await wf.call_async(fr, self._kwargs(fr)))
        return self.next


class RaiseStep(Step):
    def __init__(self, value: Any):
        self.value = _expr.compile_value(value)

    def run(self, fr: Frame) -> str | None:
        raise WorkflowError(self.value.evaluate(fr, fr.ctx))


class ReturnStep(Step):
    def __init__(self, value: Any):
        self.value = _expr.compile_value(value)

    def run(self, fr: Frame) -> str | None:
        raise _Return(self.value.evaluate(fr, fr.ctx))


class StepsStep(Step):
    """A step holding nested `steps` (plain grouping)."""

    def __init__(self, body: StepList, next_: str | None):
        self.body = body
        self.next = next_
        self.is_async = body.is_async
        self.blocking = body.blocking

    def run(self, fr: Frame) -> str | None:
        target = self.body.run(fr)
        return target if target is not None else self.next

    async def arun(self, fr: Frame) -> str | None:
        target = await self.body.arun(fr)
        return target if target is not None else self.next


class Condition:
    __slots__ = ("test", "action", "next")

    def __init__(self, test: Any, action: Step | None, next_: str | None):
        self.test = test
        self.action = action
        self.next = next_


class SwitchStep(Step):
    def __init__(self, conditions: list[Condition], next_: str | None):
        self.conditions = conditions
        self.next = next_
        actions = [c.action for c in conditions if c.action is not None]
        self.is_async = any(a.is_async for a in actions)
        self.blocking = any(a.blocking for a in actions)

    def _pick(self, fr: Frame) -> Condition | None:
        ctx = fr.ctx
        for cond in self.conditions:
            ok = cond.test.evaluate(fr, ctx)
            if ok is True:
                return cond
            if ok is not False:
                raise WorkflowError.tagged(
                    "TypeError", f"switch condition must evaluate to a boolean, got {type_name(ok)}")
        return None

    def run(self, fr: Frame) -> str | None:
        cond = self._pick(fr)
        if cond is None:
            return self.next
        if cond.action is not None:
            target = cond.action.run(fr)
            if target is not None:
                return target
        return cond.next if cond.next is not None else self.next

    async def arun(self, fr: Frame) -> str | None:
        cond = self._pick(fr)
        if cond is None:
            return self.next
        if cond.action is not None:
            target = await cond.action.arun(fr) if cond.action.is_async else cond.action.run(fr)
            if target is not None:
                return target
        return cond.next if cond.next is not None else self.next


class _Loop:
    """Evaluates what a `for` iterates over: a list (`in`) or an inclusive numeric `range`."""

    def __init__(self, spec: dict[str, Any]):
        self.value_name: str = spec["value"]
        self.index_name: str | None = spec.get("index")
        self.in_expr = _expr.compile_value(spec["in"]) if "in" in spec else None
        self.range_expr = _expr.compile_value(spec["range"]) if "range" in spec else None

    def items(self, fr: Frame) -> Iterable[Any]:
        if self.in_expr is not None:
            items = self.in_expr.evaluate(fr, fr.ctx)
            if type(items) is not list:
                raise WorkflowError.tagged(
                    "TypeError", f"for loop 'in' must be a list, got {type_name(items)}"
                    + ("; iterate over keys(map) instead" if type(items) is dict else ""))
            return items
        bounds = self.range_expr.evaluate(fr, fr.ctx)  # type: ignore[union-attr]
        if type(bounds) is not list or len(bounds) != 2:
            raise WorkflowError.tagged("TypeError", "for loop 'range' must be a list of two numbers")
        begin, end = bounds
        for b in (begin, end):
            if type(b) not in (int, float):
                raise WorkflowError.tagged("TypeError", f"for loop 'range' bounds must be numbers, got {type_name(b)}")
        if type(begin) is int and type(end) is int:
            return range(begin, end + 1)
        return _float_range(float(begin), float(end))


def _float_range(begin: float, end: float) -> Iterator[float]:
    # Lazy, so a huge range stops at the step limit instead of filling memory first.
    v = begin
    while v <= end:
        yield v
        v += 1


class ForStep(Step):
    """Sequential `for`: loop variables and variables first created inside live only in the loop."""

    def __init__(self, loop: _Loop, body: StepList, next_: str | None):
        self.loop = loop
        self.body = body
        self.next = next_
        self.is_async = True  # so a CPU-bound loop can yield to the event loop
        self.blocking = body.blocking

    def _enter(self, fr: Frame) -> tuple[dict[str, Any], set[str]]:
        variables = fr.vars
        return variables, set(variables)

    @staticmethod
    def _leave(variables: dict[str, Any], before: set[str], saved: dict[str, Any]) -> None:
        for name in [k for k in variables if k not in before]:
            del variables[name]
        variables.update(saved)

    def _saved(self, variables: dict[str, Any]) -> dict[str, Any]:
        saved = {}
        for name in (self.loop.value_name, self.loop.index_name):
            if name is not None and name in variables:
                saved[name] = variables[name]
        return saved

    def run(self, fr: Frame) -> str | None:
        items = self.loop.items(fr)
        variables, before = self._enter(fr)
        saved = self._saved(variables)
        value_name = self.loop.value_name
        index_name = self.loop.index_name
        body = self.body
        try:
            for i, item in enumerate(items):
                variables[value_name] = copy_value(item) if type(item) in (dict, list) else item
                if index_name is not None:
                    variables[index_name] = i
                target = body.run(fr)
                if target is not None and target != "continue":
                    if target == "break":
                        break
                    return target
        finally:
            self._leave(variables, before, saved)
        return self.next

    async def arun(self, fr: Frame) -> str | None:
        items = self.loop.items(fr)
        variables, before = self._enter(fr)
        saved = self._saved(variables)
        value_name = self.loop.value_name
        index_name = self.loop.index_name
        body = self.body
        ex = fr.ex
        body_async = body.is_async
        try:
            for i, item in enumerate(items):
                variables[value_name] = copy_value(item) if type(item) in (dict, list) else item
                if index_name is not None:
                    variables[index_name] = i
                target = await body.arun(fr) if body_async else body.run(fr)
                if ex.steps >= ex.next_yield:
                    await ex.breathe(fr)
                if target is not None and target != "continue":
                    if target == "break":
                        break
                    return target
        finally:
            self._leave(variables, before, saved)
        return self.next


class ParallelStep(Step):
    """`parallel` branches or for-iterations as asyncio tasks, bounded by a real concurrency limit."""

    is_async = True
    blocking = True

    def __init__(self, shared: list[str], limit: Any, branches: list[tuple[str, StepList]] | None,
                 loop: _Loop | None, body: StepList | None, next_: str | None, continue_all: bool = False):
        self.continue_all = continue_all
        self.shared = shared
        self.limit = _expr.compile_value(limit) if limit is not None else None
        self.branches = branches
        self.loop = loop
        self.body = body
        self.next = next_

    def run(self, fr: Frame) -> str | None:
        raise _blocking_in_expression("(parallel step)")

    def _shared_owners(self, fr: Frame) -> dict[str, dict[str, Any]]:
        owners = {}
        for name in self.shared:
            owner = fr.owner_if_defined(name)
            if owner is None:
                raise WorkflowError.tagged(
                    ["KeyError", "LookupError"],
                    f"shared variable '{name}' must be defined before the parallel step '{self.name}'")
            owners[name] = owner
        return owners

    def _concurrency(self, fr: Frame) -> int:
        if self.limit is None:
            return MAX_CONCURRENT_BRANCHES
        limit = self.limit.evaluate(fr, fr.ctx)
        if type(limit) is not int or limit < 1:
            raise WorkflowError.tagged("ValueError", f"concurrency_limit must be a positive integer, got {limit!r}")
        return min(limit, MAX_CONCURRENT_BRANCHES)

    async def _run_branch(self, fr: Frame, body: StepList, variables: dict[str, Any],
                          owners: dict[str, dict[str, Any]]) -> None:
        branch = BranchFrame(fr.ex, variables, fr.depth, owners)
        try:
            if body.is_async:
                await body.arun(branch)
            else:
                body.run(branch)
        except _Return:
            pass  # a return ends only its own branch

    def _jobs(self, items: Iterable[Any] | None, base: dict[str, Any]) -> Iterator[tuple[str, StepList, dict]]:
        """Branches or iterations, produced lazily (a long range is never materialised)."""
        if self.branches is not None:
            for bname, body in self.branches:
                yield bname, body, dict(base)
            return
        loop = self.loop
        assert loop is not None and self.body is not None and items is not None
        for i, item in enumerate(items):
            variables = dict(base)
            variables[loop.value_name] = copy_value(item) if type(item) in (dict, list) else item
            if loop.index_name is not None:
                variables[loop.index_name] = i
            yield str(i), self.body, variables

    async def arun(self, fr: Frame) -> str | None:
        owners = self._shared_owners(fr)
        limit = self._concurrency(fr)
        base = fr.visible()
        for name in owners:
            base.pop(name, None)
        jobs = self._jobs(self.loop.items(fr) if self.loop is not None else None, base)
        failures: list[dict[str, Any]] = []
        workers: list[asyncio.Task] = []
        state = {"abort": False}

        async def worker() -> None:
            # Each worker runs one branch/iteration at a time: `limit` workers = the concurrency limit.
            for branch_id, body, variables in jobs:
                if state["abort"]:
                    return
                try:
                    await self._run_branch(fr, body, variables, owners)
                except WorkflowError as exc:
                    fatal = _is_resource_limit(exc)
                    if not fatal:
                        failures.append({"id": branch_id, "error": exc.value})
                    if fatal or not self.continue_all:
                        # Only the explicit local "unhandled" policy aborts the other branches.
                        state["abort"] = True
                        current = asyncio.current_task()
                        for w in workers:
                            if w is not current:
                                w.cancel()
                        if fatal:
                            raise  # a service limit ends the execution, it is not a branch failure
                        return

        workers.extend(asyncio.ensure_future(worker()) for _ in range(limit))
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
        except asyncio.CancelledError:
            for w in workers:
                w.cancel()
            raise
        for res in results:
            if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                raise res
        if failures:
            raise WorkflowError({
                "message": "UnhandledBranchError: One or more branches or iterations encountered an unhandled "
                           "runtime error",
                "tags": ["UnhandledBranchError"],
                "branches": failures[:MAX_UNHANDLED_BRANCH_ERRORS],
                "truncated": len(failures) > MAX_UNHANDLED_BRANCH_ERRORS,
            })
        return self.next


class TryStep(Step):
    """`try` with `except` and/or `retry` (predicate, max_retries, backoff)."""

    def __init__(self, body: Step, except_as: str | None, except_steps: StepList | None, retry: Any,
                 next_: str | None):
        self.body = body
        self.except_as = except_as
        self.except_steps = except_steps
        self.retry = _expr.compile_value(retry) if retry is not None else None
        self.next = next_
        parts_async = body.is_async or (except_steps is not None and except_steps.is_async)
        self.is_async = parts_async or retry is not None
        self.blocking = body.blocking or (except_steps is not None and except_steps.blocking) or retry is not None

    def _handle(self, fr: Frame, exc: WorkflowError) -> StepList:
        if self.except_steps is None:
            raise exc
        if self.except_as is not None:
            fr.owner(self.except_as)[self.except_as] = exc.value
        return self.except_steps

    def run(self, fr: Frame) -> str | None:
        if self.retry is not None:
            raise _blocking_in_expression("(retry with backoff)")
        try:
            target = self.body.run(fr)
        except WorkflowError as exc:
            target = self._handle(fr, exc).run(fr)
        return target if target is not None else self.next

    async def _policy(self, fr: Frame) -> tuple[Any, int, float, float, float]:
        policy = self.retry.evaluate(fr, fr.ctx)  # type: ignore[union-attr]
        if type(policy) is not dict:
            raise WorkflowError.tagged("TypeError", f"retry policy must be a map, got {type_name(policy)}")
        predicate = policy.get("predicate")
        if predicate is None or not hasattr(predicate, "invoke"):
            raise WorkflowError.tagged("TypeError", "retry predicate must be a function or subworkflow")
        max_retries = policy.get("max_retries", 0)
        if type(max_retries) is not int or max_retries < 0:
            raise WorkflowError.tagged("TypeError", "retry max_retries must be a non-negative integer")
        backoff = policy.get("backoff") or {}
        if type(backoff) is not dict:
            raise WorkflowError.tagged("TypeError", "retry backoff must be a map")
        initial = backoff.get("initial_delay", 1)
        max_delay = backoff.get("max_delay", 60)
        multiplier = backoff.get("multiplier", 2)
        for label, v in (("initial_delay", initial), ("max_delay", max_delay), ("multiplier", multiplier)):
            if type(v) not in (int, float) or v < 0:
                raise WorkflowError.tagged("TypeError", f"retry backoff {label} must be a non-negative number")
        return predicate, max_retries, float(initial), float(max_delay), float(multiplier)

    async def arun(self, fr: Frame) -> str | None:
        body = self.body
        if self.retry is None:
            try:
                target = await body.arun(fr) if body.is_async else body.run(fr)
            except WorkflowError as exc:
                handler = self._handle(fr, exc)
                target = await handler.arun(fr) if handler.is_async else handler.run(fr)
            return target if target is not None else self.next
        predicate, max_retries, delay, max_delay, multiplier = await self._policy(fr)
        attempt = 0
        while True:
            try:
                target = await body.arun(fr) if body.is_async else body.run(fr)
                break
            except WorkflowError as exc:
                if attempt < max_retries and await self._should_retry(fr, predicate, exc.value):
                    attempt += 1
                    await asyncio.sleep(min(delay, max_delay))
                    delay = min(delay * multiplier, max_delay)
                    continue
                handler = self._handle(fr, exc)
                target = await handler.arun(fr) if handler.is_async else handler.run(fr)
                break
        return target if target is not None else self.next

    async def _should_retry(self, fr: Frame, predicate: Any, error: Any) -> bool:
        if isinstance(predicate, SubworkflowRef):
            verdict = await predicate.workflow.call_async(fr, None, [error])
        else:
            verdict = predicate.invoke(fr.ctx, [error], None)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        if type(verdict) is not bool:
            raise WorkflowError.tagged("TypeError", f"retry predicate must return a boolean, got {type_name(verdict)}")
        return verdict


# ---------------------------------------------------------------------------------------------- workflows


class SubworkflowRef:
    """What a subworkflow's name evaluates to in an expression (type "function"); callable synchronously."""

    def __init__(self, workflow: "CompiledWorkflow"):
        self.workflow = workflow
        self.name = workflow.name

    def invoke(self, ctx: Any, args: list | None = None, kwargs: dict | None = None) -> Any:
        fr = ctx.extra.get("frame")
        if fr is None:
            raise WorkflowError.tagged("TypeError", f"subworkflow '{self.name}' cannot be called here")
        return self.workflow.call_sync(fr, kwargs, args)

    def __repr__(self) -> str:
        return f"<subworkflow {self.name}>"


class CompiledWorkflow:
    def __init__(self, spec: WorkflowSpec):
        self.name = spec.name
        self.params = spec.params
        self.defaults = {k: _expr.compile_value(v) for k, v in spec.defaults.items()}
        self.body: StepList = StepList([], spec.name)

    def _bind(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None) -> dict[str, Any]:
        variables: dict[str, Any] = {}
        if args:
            if len(args) > len(self.params):
                raise WorkflowError.tagged(
                    "TypeError", f"subworkflow '{self.name}' takes {len(self.params)} argument(s), got {len(args)}")
            variables.update(zip(self.params, args))
        if kwargs:
            for k, v in kwargs.items():
                if k not in self.params:
                    raise WorkflowError.tagged("TypeError", f"subworkflow '{self.name}' has no parameter '{k}'")
                variables[k] = v
        for k, v in variables.items():
            if type(v) is dict or type(v) is list:
                variables[k] = copy_value(v)  # a callee never writes into its caller's values
        for p in self.params:
            if p not in variables:
                default = self.defaults.get(p)
                if default is None:
                    raise WorkflowError.tagged(
                        "TypeError", f"subworkflow '{self.name}' is missing required argument '{p}'")
                variables[p] = default.evaluate(caller, caller.ctx)
        return variables

    def _frame(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None) -> Frame:
        depth = caller.depth + 1
        if depth > CALL_DEPTH_LIMIT:
            raise WorkflowError.tagged(
                "RecursionError", f"RecursionError: maximum call stack depth ({CALL_DEPTH_LIMIT}) exceeded "
                                  f"calling '{self.name}'")
        return Frame(caller.ex, self._bind(caller, kwargs, args), depth)

    def call_sync(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None = None) -> Any:
        if self.body.blocking:
            raise _blocking_in_expression(f"(subworkflow '{self.name}' waits on a blocking call)")
        fr = self._frame(caller, kwargs, args)
        try:
            self.body.run(fr)
        except _Return as ret:
            return ret.value
        return None

    async def call_async(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None = None) -> Any:
        fr = self._frame(caller, kwargs, args)
        try:
            if self.body.is_async:
                await self.body.arun(fr)
            else:
                self.body.run(fr)
        except _Return as ret:
            return ret.value
        return None


class Program:
    """A deployed definition: compiled workflows plus name resolution for expressions."""

    def __init__(self, definition: Definition):
        self.definition = definition
        self.workflows: dict[str, CompiledWorkflow] = {n: CompiledWorkflow(s) for n, s in definition.workflows.items()}
        self._names: dict[str, Any] = {}
        self._call_steps: list[CallSubworkflowStep] = []
        for name, spec in definition.workflows.items():
            self.workflows[name].body = _Compiler(self, spec).compile()
        self._settle_blocking()

    @property
    def main(self) -> CompiledWorkflow:
        return self.workflows["main"]

    def resolve_name(self, dotted: str) -> Any:
        try:
            return self._names[dotted]
        except KeyError:
            pass
        if dotted in stdlib.CONSTANTS:
            value = stdlib.CONSTANTS[dotted]
        elif dotted in stdlib.REGISTRY:
            value = stdlib.REGISTRY[dotted]
        elif dotted in self.workflows:
            value = SubworkflowRef(self.workflows[dotted])
        else:
            raise KeyError(dotted)
        self._names[dotted] = value
        return value

    def _settle_blocking(self) -> None:
        """Propagate is_async/blocking through subworkflow calls until nothing changes (recursion-safe)."""
        while True:
            for wf in self.workflows.values():
                _refresh_list(wf.body)
            changed = False
            for step in self._call_steps:
                body = self.workflows[step.target].body
                a = step.is_async or body.is_async
                b = step.blocking or body.blocking
                if (a, b) != (step.is_async, step.blocking):
                    step.is_async, step.blocking = a, b
                    changed = True
            if not changed:
                return


def _refresh_list(lst: StepList) -> tuple[bool, bool]:
    """Recompute async/blocking flags bottom-up (flags only ever grow)."""
    flags = [_refresh_step(s) for s in lst.steps]
    lst.is_async = lst.loops or any(a for a, _ in flags)
    lst.blocking = any(b for _, b in flags)
    return lst.is_async, lst.blocking


def _refresh_step(step: Step) -> tuple[bool, bool]:
    if isinstance(step, StepsStep):
        step.is_async, step.blocking = _refresh_list(step.body)
    elif isinstance(step, ForStep):
        step.blocking = _refresh_list(step.body)[1]
    elif isinstance(step, SwitchStep):
        for cond in step.conditions:
            if cond.action is not None:
                a, b = _refresh_step(cond.action)
                step.is_async = step.is_async or a
                step.blocking = step.blocking or b
    elif isinstance(step, TryStep):
        a, b = _refresh_step(step.body)
        if step.except_steps is not None:
            ea, eb = _refresh_list(step.except_steps)
            a, b = a or ea, b or eb
        step.is_async = step.is_async or a
        step.blocking = step.blocking or b
    elif isinstance(step, ParallelStep):
        for _, body in step.branches or []:
            _refresh_list(body)
        if step.body is not None:
            _refresh_list(step.body)
    return step.is_async, step.blocking


class _Compiler:
    """Turns one workflow's raw steps into Step objects; expression errors become DeploymentErrors."""

    def __init__(self, program: Program, spec: WorkflowSpec):
        self.program = program
        self.spec = spec
        self.lines = program.definition.lines
        self.routine = spec.name
        # Variables known so far in the enclosing scope, to refuse writes to unshared parent variables
        # inside parallel branches at deploy time, like the service.
        self.known: set[str] = set(spec.params)
        self.forbidden: set[str] = set()

    def compile(self) -> StepList:
        return self.steps(self.spec.steps, self.spec.line)

    def steps(self, items: list[Any], line: int | None) -> StepList:
        out = []
        for item in items:
            name, body, step_line = split_step(item, self.lines, line)
            out.append(self.step(name, body, step_line))
        return StepList(out, self.routine)

    def _write(self, target: str, name: str, line: int | None) -> None:
        m = _IDENT.match(target)
        root = m.group(1) if m else target
        if root in self.forbidden:
            raise DeploymentError(
                f"variable '{root}' is defined outside the parallel step and is not listed in 'shared'",
                step=name, line=line)
        self.known.add(root)

    def step(self, name: str, body: dict[str, Any], line: int | None) -> Step:
        try:
            step = self._build(name, body, line)
        except (_expr.ExpressionSyntaxError, WorkflowError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            position = getattr(exc, "position", None)
            detail = f" (at position {position})" if position is not None else ""
            raise DeploymentError(f"invalid expression: {message}{detail}", step=name, line=line) from None
        except DeploymentError as exc:
            if exc.step is None:
                raise DeploymentError(str(exc), step=name, line=line) from None
            raise
        step.name = name
        step.line = line
        step.routine = self.routine
        return step

    def _call(self, target: str, body: dict[str, Any], name: str, line: int | None) -> Step:
        args = body.get("args") or {}
        result = body.get("result")
        if result is not None:
            self._write(result, name, line)
        next_ = body.get("next")
        if target in self.program.workflows:
            wf = self.program.definition.workflows[target]
            for k in args:
                if k not in wf.params:
                    raise DeploymentError(f"subworkflow '{target}' has no parameter '{k}'", step=name, line=line)
            for p in wf.params:
                if p not in args and p not in wf.defaults:
                    raise DeploymentError(f"call to '{target}' is missing required argument '{p}'",
                                          step=name, line=line)
            step = CallSubworkflowStep(self.program, target, args, result, next_)
            self.program._call_steps.append(step)
            return step
        func = stdlib.REGISTRY.get(target)
        if func is None:
            raise DeploymentError(f"call to unknown function '{target}'", step=name, line=line)
        for k in args:
            if k not in func.params:
                raise DeploymentError(f"function '{target}' has no argument '{k}' (expected: {', '.join(func.params)})",
                                      step=name, line=line)
        for k in func.params[: func.required]:
            if k not in args:
                raise DeploymentError(f"call to '{target}' is missing required argument '{k}'", step=name, line=line)
        return CallFunctionStep(func, args, result, next_)

    def _assign(self, items: list[dict[str, Any]], name: str, line: int | None) -> list[Assignment]:
        out = []
        for item in items:
            (target, value), = item.items()
            self._write(str(target), name, line)
            out.append(Assignment(str(target), value))
        return out

    def _build(self, name: str, body: dict[str, Any], line: int | None) -> Step:
        next_ = body.get("next")
        if "assign" in body:
            return AssignStep(self._assign(body["assign"], name, line), next_)
        if "call" in body:
            return self._call(body["call"], body, name, line)
        if "raise" in body:
            return RaiseStep(body["raise"])
        if "return" in body:
            return ReturnStep(body["return"])
        if "switch" in body:
            return self._switch(body["switch"], name, line, next_)
        if "for" in body:
            spec = body["for"]
            outer_known = set(self.known)
            loop_body = self.steps(spec["steps"], line)
            self.known = outer_known  # loop-created variables do not outlive the loop
            return ForStep(_Loop(spec), loop_body, next_)
        if "parallel" in body:
            return self._parallel(body["parallel"], name, line, next_)
        if "try" in body:
            return self._try(body, name, line, next_)
        if "steps" in body:
            return StepsStep(self.steps(body["steps"], line), next_)
        return NextStep(next_)

    def _switch(self, conditions: list[dict[str, Any]], name: str, line: int | None, next_: str | None) -> Step:
        out = []
        for cond in conditions:
            cline = self.lines.get(id(cond), line)
            action: Step | None = None
            if "steps" in cond:
                action = StepsStep(self.steps(cond["steps"], cline), None)
            elif "assign" in cond:
                action = AssignStep(self._assign(cond["assign"], name, cline), None)
            elif "call" in cond:
                action = self._call(cond["call"], {k: v for k, v in cond.items() if k != "next"}, name, cline)
            elif "return" in cond:
                action = ReturnStep(cond["return"])
            elif "raise" in cond:
                action = RaiseStep(cond["raise"])
            if action is not None:
                action.name, action.line, action.routine = name, cline, self.routine
            out.append(Condition(_expr.compile_value(cond["condition"]), action, cond.get("next")))
        return SwitchStep(out, next_)

    def _parallel(self, spec: dict[str, Any], name: str, line: int | None, next_: str | None) -> Step:
        shared = list(spec.get("shared", []))
        outer_known, outer_forbidden = self.known, self.forbidden
        forbidden = (outer_known | outer_forbidden) - set(shared)
        branches = None
        loop = None
        loop_body = None
        try:
            if "branches" in spec:
                branches = []
                for item in spec["branches"]:
                    bname, bbody, bline = split_step(item, self.lines, line)
                    self.known, self.forbidden = set(outer_known), set(forbidden)
                    branches.append((bname, self.steps(bbody["steps"], bline)))
            else:
                fspec = spec["for"]
                self.known, self.forbidden = set(outer_known), set(forbidden)
                for var in (fspec.get("value"), fspec.get("index")):
                    self.forbidden.discard(var)
                loop = _Loop(fspec)
                loop_body = self.steps(fspec["steps"], line)
        finally:
            self.known, self.forbidden = outer_known, outer_forbidden
        return ParallelStep(shared, spec.get("concurrency_limit"), branches, loop, loop_body, next_,
                            continue_all=spec.get("exception_policy", "continueAll") == "continueAll")

    def _try(self, body: dict[str, Any], name: str, line: int | None, next_: str | None) -> Step:
        attempt = body["try"]
        aline = self.lines.get(id(attempt), line)
        if set(attempt) == {"steps"}:
            inner: Step = StepsStep(self.steps(attempt["steps"], aline), None)
        else:
            inner = self._build(name, attempt, aline)
        inner.name, inner.line, inner.routine = name, aline, self.routine
        except_as = None
        except_steps = None
        if "except" in body:
            except_as = body["except"].get("as")
            if except_as is not None:
                self._write(except_as, name, line)
            except_steps = self.steps(body["except"]["steps"], line)
        return TryStep(inner, except_as, except_steps, body.get("retry"), next_)


def compile_definition(definition: Definition) -> Program:
    """Compile a validated definition into a runnable Program (DeploymentError on bad expressions)."""
    return Program(definition)


def deploy(source: str) -> Program:
    """Parse, validate and compile workflow source text (YAML or JSON)."""
    return compile_definition(load_definition(source))


# ---------------------------------------------------------------------------------------------- executions


@dataclass
class LogEntry:
    severity: str
    payload: Any
    time: float


class Execution:
    """One run of a Program: step budget, environment, callbacks, logs; `run` is the coroutine to schedule."""

    def __init__(self, program: Program, env: dict[str, str] | None = None, execution_id: str | None = None,
                 services: Any = None, workflow_name: str = "workflow"):
        self.program = program
        self.env = dict(env or {})
        self.id = execution_id or uuid.uuid4().hex
        self.workflow_name = workflow_name
        self.services = services  # runtime.Services: http session, callback hub, base URL
        self.steps = 0
        self.next_yield = YIELD_EVERY
        self.logs: list[LogEntry] = []
        self.callbacks: dict[str, Any] = {}
        self.finished = False
        # (routine, step) being run or last run: the REST resource's status.currentSteps.
        self.current_step: tuple[str, str] | None = None

    def _log(self, severity: str, payload: Any) -> None:
        self.logs.append(LogEntry(severity, payload, time.time()))

    def make_context(self, frame: Frame) -> stdlib.CallContext:
        return stdlib.CallContext(env=self.env, log=self._log, now=time.time,
                                  extra={"execution": self, "frame": frame})

    async def breathe(self, fr: Frame) -> None:
        """Let other executions run, and check the variable memory limit while we are at it."""
        self.next_yield = self.steps + YIELD_EVERY
        size = value_size(fr.visible())
        if size > VARIABLE_MEMORY_LIMIT:
            raise resource_limit(
                f"ResourceLimitError: Memory usage limit exceeded: variables use about {size} bytes; the limit is "
                f"{VARIABLE_MEMORY_LIMIT} bytes (512 KB)")
        await asyncio.sleep(0)

    def check_value_size(self, value: Any, what: str) -> None:
        if type(value) in (dict, list, str, bytes):
            size = value_size(value)
            if size > VARIABLE_MEMORY_LIMIT:
                raise resource_limit(
                    f"ResourceLimitError: Memory usage limit exceeded: {what} is about {size} bytes; the limit is "
                    f"{VARIABLE_MEMORY_LIMIT} bytes (512 KB)")

    async def run(self, argument: Any = None) -> Any:
        """Run main with the argument; returns the result or raises WorkflowError."""
        main = self.program.main
        root = _RootFrame(self)
        args = [argument] if main.params else None
        if main.params and argument is None and main.params[0] in main.defaults:
            args = None
        try:
            result = await main.call_async(root, None, args)
            self.check_value_size(result, "the execution result")
            return result
        except _Return as ret:  # pragma: no cover - returns are caught at the workflow boundary
            return ret.value
        except RecursionError:
            raise WorkflowError.tagged("RecursionError", "RecursionError: maximum recursion depth exceeded") from None
        finally:
            self.finished = True


class _RootFrame(Frame):
    """The caller of main: depth 0, no variables."""

    __slots__ = ()

    def __init__(self, ex: Execution):
        super().__init__(ex, {}, 0)


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


def internal_error(exc: BaseException) -> WorkflowError:
    """An unexpected Python failure surfaces as the service's SystemError, never a traceback."""
    return WorkflowError.tagged("SystemError", f"internal error: {type(exc).__name__}: {exc}")


async def run_program(program: Program, argument: Any = None, env: dict[str, str] | None = None,
                      services: Any = None) -> Any:
    """Convenience: run a Program once in the current event loop."""
    ex = Execution(program, env=env, services=services)
    return await ex.run(argument)


def run_source(source: str, argument: Any = None, env: dict[str, str] | None = None) -> Any:
    """Deploy and run workflow source synchronously (for scripts and tests)."""
    program = deploy(source)
    return asyncio.run(run_program(program, argument, env))
