"""The runnable step kinds, each written once as a coroutine.

A step's `run` returns None (fall through) or the name of the next step ("end", "break", "continue" included);
`return` travels as the `Return` exception. Only calls that wait (http, sleep, callbacks, parallel branches)
ever suspend; everything else runs straight through its `await`s. Values are shared, never deep-copied:
a container is copied only when it is written to while shared (see values.writable).
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Any, Iterable, Iterator

from .errors import WorkflowError
from .execution import STEP_LIMIT, ReplayDivergence, Return, located, resource_limit
from .frames import BranchFrame, Frame
from .values import append_unshared, type_name

MAX_CONCURRENT_BRANCHES = 20
MAX_UNHANDLED_BRANCH_ERRORS = 100
MAX_PARALLEL_NESTING = 2


class Step:
    """Base of compiled steps; `blocking` marks steps that must wait on the event loop."""

    name = ""
    line: int | None = None
    routine = ""
    next: str | None = None
    blocking = False

    async def run(self, fr: Frame) -> str | None:
        raise NotImplementedError


class StepList:
    """An ordered list of steps with a name index for `next` jumps."""

    __slots__ = ("steps", "index", "routine", "blocking")

    def __init__(self, steps: list[Step], routine: str):
        self.steps = steps
        self.index = {s.name: i for i, s in enumerate(steps)}
        self.routine = routine
        self.blocking = any(s.blocking for s in steps)

    async def run(self, fr: Frame) -> str | None:
        steps = self.steps
        n = len(steps)
        index = self.index
        ex = fr.ex
        i = 0
        step = None
        try:
            while i < n:
                step = steps[i]
                ex.steps += 1
                if ex.steps > STEP_LIMIT:
                    raise resource_limit(f"ResourceLimitError: execution exceeded the limit of {STEP_LIMIT} steps")
                # REST `status.currentSteps`: the step being run or, once finished, the last one attempted.
                ex.current_step = step.where  # type: ignore[attr-defined]
                target = await step.run(fr)
                if target is None:
                    i += 1
                else:
                    j = index.get(target)
                    if j is None:
                        return target
                    if j <= i and ex.steps >= ex.next_yield:
                        await ex.breathe(fr)  # a `next` loop must not starve other executions
                    i = j
        except (WorkflowError, ReplayDivergence) as exc:
            if step is not None:
                located(exc, self.routine, step.name, step.line)
            raise
        return None


def blocking_in_expression(what: str) -> WorkflowError:
    return WorkflowError.tagged("TypeError", f"blocking call {what} cannot run inside an expression; use a call step")


def _store(fr: Frame, name: str | None, value: Any) -> None:
    if name is not None:
        fr.owner(name)[name] = value


class Jump(Step):
    def __init__(self, next_: str | None):
        self.next = next_

    async def run(self, fr: Frame) -> str | None:
        return self.next


class Assignment:
    """One `target: value` entry: a plain variable, a path (a.b[0]), or `x: ${list.concat(x, v)}`."""

    __slots__ = ("root", "lvalue", "value", "append")

    def __init__(self, root: str, lvalue: Any, value: Any, append: Any = None):
        self.root = root
        self.lvalue = lvalue
        self.value = value
        # `x: ${list.concat(x, v)}`: v's expression; appended in place while x's list is not shared.
        self.append = append

    def apply(self, fr: Frame) -> None:
        if self.append is not None:
            owner = fr.owner(self.root)
            if type(owner.get(self.root)) is list:
                item = self.append.evaluate(fr, fr)
                if not append_unshared(owner, self.root, item):
                    owner[self.root] = owner[self.root] + [item]  # shared: list.concat makes a new list
                return
        value = self.value.evaluate(fr, fr)
        if self.lvalue is None:
            fr.owner(self.root)[self.root] = value
        else:
            self.lvalue.assign(fr.owner(self.root), value, fr, fr)


class AssignStep(Step):
    def __init__(self, items: list[Assignment], next_: str | None):
        self.items = items
        self.next = next_
        # Plain variables in a frame without shared variables: the tight loop.
        self.simple = ([(a.root, a.value.evaluate) for a in items]
                       if all(a.lvalue is None and a.append is None for a in items) else None)

    async def run(self, fr: Frame) -> str | None:
        simple = self.simple
        if simple is not None and fr.shared is None:
            variables = fr.vars
            for name, evaluate in simple:
                variables[name] = evaluate(fr, fr)
        else:
            for item in self.items:
                item.apply(fr)
        return self.next


class CallFunctionStep(Step):
    """`call:` of a standard-library function (blocking ones are awaited)."""

    def __init__(self, func: Any, args: dict[str, Any], result: str | None, next_: str | None):
        self.func = func
        self.args = args  # name -> compiled value
        self.result = result
        self.next = next_
        self.blocking = bool(func.blocking)

    async def run(self, fr: Frame) -> str | None:
        kwargs = {k: v.evaluate(fr, fr) for k, v in self.args.items()}
        value = self.func.invoke(fr, None, kwargs)
        if inspect.isawaitable(value):
            if fr.ex.inline:
                value.close()  # type: ignore[union-attr]
                raise blocking_in_expression(f"'{self.func.name}'")
            value = await value
            fr.ex.check_value_size(value, f"result of '{self.func.name}'")
        _store(fr, self.result, value)
        return self.next


class CallSubworkflowStep(Step):
    """`call:` of a subworkflow: binds named args onto params (defaults filled in)."""

    def __init__(self, workflow: Any, args: dict[str, Any], result: str | None, next_: str | None):
        self.workflow = workflow  # program.Subworkflow (its body is compiled later: calls may recurse)
        self.args = args
        self.result = result
        self.next = next_

    async def run(self, fr: Frame) -> str | None:
        kwargs = {k: v.evaluate(fr, fr) for k, v in self.args.items()}
        _store(fr, self.result, await self.workflow.call(fr, kwargs))
        return self.next


class RaiseStep(Step):
    def __init__(self, value: Any):
        self.value = value

    async def run(self, fr: Frame) -> str | None:
        raise WorkflowError(self.value.evaluate(fr, fr))


class ReturnStep(Step):
    def __init__(self, value: Any):
        self.value = value

    async def run(self, fr: Frame) -> str | None:
        raise Return(self.value.evaluate(fr, fr))


class StepsStep(Step):
    """A step holding nested `steps` (plain grouping)."""

    def __init__(self, body: StepList, next_: str | None):
        self.body = body
        self.next = next_

    async def run(self, fr: Frame) -> str | None:
        target = await self.body.run(fr)
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

    async def run(self, fr: Frame) -> str | None:
        for cond in self.conditions:
            ok = cond.test.evaluate(fr, fr)
            if ok is True:
                if cond.action is not None:
                    target = await cond.action.run(fr)
                    if target is not None:
                        return target
                return cond.next if cond.next is not None else self.next
            if ok is not False:
                raise WorkflowError.tagged("TypeError", f"switch condition must evaluate to a boolean, got {type_name(ok)}")
        return self.next


class Loop:
    """Evaluates what a `for` iterates over: a list (`in`) or an inclusive numeric `range`."""

    __slots__ = ("value_name", "index_name", "in_expr", "range_expr")

    def __init__(self, value_name: str, index_name: str | None, in_expr: Any, range_expr: Any):
        self.value_name = value_name
        self.index_name = index_name
        self.in_expr = in_expr
        self.range_expr = range_expr

    def items(self, fr: Frame) -> Iterable[Any]:
        if self.in_expr is not None:
            items = self.in_expr.evaluate(fr, fr)
            if type(items) is not list:
                raise WorkflowError.tagged(
                    "TypeError", f"for loop 'in' must be a list, got {type_name(items)}"
                    + ("; iterate over keys(map) instead" if type(items) is dict else ""))
            return items
        bounds = self.range_expr.evaluate(fr, fr)
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


def _forget_new(variables: dict[str, Any], before: set[str], saved: dict[str, Any]) -> None:
    """End a block scope: variables it created disappear, the ones it shadowed come back."""
    if len(variables) != len(before) or saved:
        for name in [k for k in variables if k not in before]:
            del variables[name]
        variables.update(saved)


class ForStep(Step):
    """Sequential `for`: loop variables and variables first created inside live only in the loop."""

    def __init__(self, loop: Loop, body: StepList, next_: str | None):
        self.loop = loop
        self.body = body
        self.next = next_

    async def run(self, fr: Frame) -> str | None:
        items = self.loop.items(fr)
        variables = fr.vars
        before = set(variables)
        value_name = self.loop.value_name
        index_name = self.loop.index_name
        saved = {k: variables[k] for k in (value_name, index_name) if k is not None and k in variables}
        before.discard(value_name)
        if index_name is not None:
            before.discard(index_name)
        body = self.body
        ex = fr.ex
        try:
            for i, item in enumerate(items):
                variables[value_name] = item
                if index_name is not None:
                    variables[index_name] = i
                target = await body.run(fr)
                if ex.steps >= ex.next_yield:
                    await ex.breathe(fr)
                if target is not None and target != "continue":
                    if target == "break":
                        break
                    return target
        finally:
            _forget_new(variables, before, saved)
        return self.next


def _is_resource_limit(exc: WorkflowError) -> bool:
    value = exc.value
    return type(value) is dict and "ResourceLimitError" in (value.get("tags") or ())


class ParallelStep(Step):
    """`parallel` branches or for-iterations as asyncio tasks, bounded by a real concurrency limit.

    Every branch error is collected (continueAll, the only policy of the service) into one
    UnhandledBranchError; a service limit (ResourceLimitError) still ends the execution at once.
    """

    blocking = True

    def __init__(self, shared: list[str], limit: Any, branches: list[tuple[str, StepList]] | None,
                 loop: Loop | None, body: StepList | None, next_: str | None):
        self.shared = shared
        self.limit = limit
        self.branches = branches
        self.loop = loop
        self.body = body
        self.next = next_

    def _shared_owners(self, fr: Frame) -> dict[str, dict[str, Any]]:
        owners = {}
        for name in self.shared:
            owner = fr.owner_if_defined(name)
            if owner is None:
                raise WorkflowError.tagged(["KeyError", "LookupError"],
                                           f"shared variable '{name}' must be defined before the parallel step "
                                           f"'{self.name}'")
            owners[name] = owner
        return owners

    def _concurrency(self, fr: Frame) -> int:
        if self.limit is None:
            return MAX_CONCURRENT_BRANCHES
        limit = self.limit.evaluate(fr, fr)
        if type(limit) is not int or limit < 1:
            raise WorkflowError.tagged("ValueError", f"concurrency_limit must be a positive integer, got {limit!r}")
        return min(limit, MAX_CONCURRENT_BRANCHES)

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
            variables[loop.value_name] = item
            if loop.index_name is not None:
                variables[loop.index_name] = i
            yield str(i), self.body, variables

    async def run(self, fr: Frame) -> str | None:
        if fr.ex.inline:
            raise blocking_in_expression("(parallel step)")
        depth = fr.parallel_depth + 1
        if depth > MAX_PARALLEL_NESTING:
            # Reached through subworkflow calls: the deploy-time check sees only one workflow at a time.
            raise WorkflowError.tagged("ParallelNestingError",
                                       f"ParallelNestingError: parallel steps can be nested at most "
                                       f"{MAX_PARALLEL_NESTING} levels deep (step '{self.name}' would be level {depth})")
        owners = self._shared_owners(fr)
        limit = self._concurrency(fr)
        base = fr.visible()
        for name in owners:
            base.pop(name, None)
        thread = fr.thread
        thread.seq += 1
        fork = thread.seq  # names this parallel step's branches in the journal
        jobs = self._jobs(self.loop.items(fr) if self.loop is not None else None, base)
        failures: list[dict[str, Any]] = []
        workers: list[asyncio.Task] = []

        async def worker() -> None:
            # Each worker runs one branch/iteration at a time: `limit` workers = the concurrency limit.
            for branch_id, body, variables in jobs:
                branch = BranchFrame(fr.ex, variables, fr.depth, thread.branch(fork, branch_id), depth, owners)
                try:
                    await body.run(branch)
                except Return:
                    pass  # a return ends only its own branch
                except WorkflowError as exc:
                    if _is_resource_limit(exc):
                        for w in workers:
                            if w is not asyncio.current_task():
                                w.cancel()
                        raise  # a service limit ends the execution, it is not a branch failure
                    failures.append({"id": branch_id, "error": exc.value})

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
    """`try` with `except` and/or `retry` (predicate, max_retries, backoff).

    The `as` variable and variables first assigned in the except block exist only inside it (the docs,
    syntax/catching-errors: "A variable created inside an except block belongs to the local scope of that block").
    """

    def __init__(self, body: Step, except_as: str | None, except_steps: StepList | None, retry: Any,
                 next_: str | None):
        self.body = body
        self.except_as = except_as
        self.except_steps = except_steps
        self.retry = retry
        self.next = next_
        self.blocking = (body.blocking or (except_steps is not None and except_steps.blocking)
                         or retry is not None)

    async def _handle(self, fr: Frame, exc: WorkflowError) -> str | None:
        if self.except_steps is None:
            raise exc
        variables = fr.vars
        before = set(variables)
        saved: dict[str, Any] = {}
        name = self.except_as
        if name is not None:
            if name in variables:
                saved[name] = variables[name]
                before.discard(name)
            owner = fr.owner(name)
            if owner is not variables:  # a shared variable of a branch: written through, not scoped
                owner[name] = exc.value
            else:
                variables[name] = exc.value
        try:
            return await self.except_steps.run(fr)
        finally:
            _forget_new(variables, before, saved)

    async def run(self, fr: Frame) -> str | None:
        body = self.body
        if self.retry is None:
            try:
                target = await body.run(fr)
            except WorkflowError as exc:
                target = await self._handle(fr, exc)
            return target if target is not None else self.next
        if fr.ex.inline:
            raise blocking_in_expression("(retry with backoff)")
        predicate, max_retries, delay, max_delay, multiplier = self._policy(fr)
        attempt = 0
        while True:
            try:
                target = await body.run(fr)
                break
            except WorkflowError as exc:
                if attempt < max_retries and await self._should_retry(fr, predicate, exc.value):
                    attempt += 1
                    await fr.ex.sleep(fr, min(delay, max_delay), "retry.backoff")
                    delay = min(delay * multiplier, max_delay)
                    continue
                target = await self._handle(fr, exc)
                break
        return target if target is not None else self.next

    def _policy(self, fr: Frame) -> tuple[Any, int, float, float, float]:
        policy = self.retry.evaluate(fr, fr)
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

    async def _should_retry(self, fr: Frame, predicate: Any, error: Any) -> bool:
        workflow = getattr(predicate, "workflow", None)
        if workflow is not None:  # a subworkflow predicate may itself call out
            verdict = await workflow.call(fr, None, [error])
        else:
            verdict = predicate.invoke(fr, [error], None)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        if type(verdict) is not bool:
            raise WorkflowError.tagged("TypeError", f"retry predicate must return a boolean, got {type_name(verdict)}")
        return verdict


__all__ = [
    "Step", "StepList", "Jump", "Assignment", "AssignStep", "CallFunctionStep", "CallSubworkflowStep", "RaiseStep",
    "ReturnStep", "StepsStep", "Condition", "SwitchStep", "Loop", "ForStep", "ParallelStep", "TryStep",
    "blocking_in_expression",
]
