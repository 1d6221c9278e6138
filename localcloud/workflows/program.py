"""A deployed definition: its compiled (sub)workflows and how expressions resolve names.

A subworkflow runs as a coroutine; called from an expression (`${helper(1)}`) it is driven inline to the end
and must not wait on anything (a definition whose subworkflow waits is a TypeError there).
"""
from __future__ import annotations

from typing import Any

from . import stdlib
from .errors import WorkflowError
from .execution import CALL_DEPTH_LIMIT, Return
from .frames import Frame
from .steps import StepList, blocking_in_expression


class SubworkflowRef:
    """What a subworkflow's name evaluates to in an expression (type "function")."""

    def __init__(self, workflow: "Subworkflow"):
        self.workflow = workflow
        self.name = workflow.name

    def invoke(self, ctx: Any, args: list | None = None, kwargs: dict | None = None) -> Any:
        if not isinstance(ctx, Frame):
            raise WorkflowError.tagged("TypeError", f"subworkflow '{self.name}' cannot be called here")
        return self.workflow.call_inline(ctx, kwargs, args)

    def __repr__(self) -> str:
        return f"<subworkflow {self.name}>"


class Subworkflow:
    """One compiled (sub)workflow: params with default expressions, and its steps."""

    def __init__(self, name: str, params: list[str], defaults: dict[str, Any]):
        self.name = name
        self.params = params
        self.defaults = defaults  # name -> compiled value
        self.body = StepList([], name)
        self.blocking = False  # waits on something (settled once every workflow is compiled)

    def _bind(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None) -> dict[str, Any]:
        # Arguments are shared with the caller, not copied: a write on either side copies (values.writable).
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
        if len(variables) < len(self.params):
            for p in self.params:
                if p not in variables:
                    default = self.defaults.get(p)
                    if default is None:
                        raise WorkflowError.tagged(
                            "TypeError", f"subworkflow '{self.name}' is missing required argument '{p}'")
                    variables[p] = default.evaluate(caller, caller)
        return variables

    async def call(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None = None) -> Any:
        depth = caller.depth + 1
        if depth > CALL_DEPTH_LIMIT:
            raise WorkflowError.tagged(
                "RecursionError", f"RecursionError: maximum call stack depth ({CALL_DEPTH_LIMIT} nested subworkflow "
                                  f"calls) exceeded calling '{self.name}'")
        fr = Frame(caller.ex, self._bind(caller, kwargs, args), depth, caller.thread, caller.parallel_depth)
        try:
            await self.body.run(fr)
        except Return as ret:
            return ret.value
        return None

    def call_inline(self, caller: Frame, kwargs: dict[str, Any] | None, args: list[Any] | None) -> Any:
        """Run to the end without the event loop (from inside an expression)."""
        if self.blocking:
            raise blocking_in_expression(f"(subworkflow '{self.name}' waits on a blocking call)")
        ex = caller.ex
        ex.inline += 1
        coro = self.call(caller, kwargs, args)
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value
        finally:
            ex.inline -= 1
        coro.close()  # pragma: no cover - every waiting step refuses to run inline before it waits
        raise blocking_in_expression(f"(subworkflow '{self.name}')")


class Program:
    """A deployed definition: compiled workflows plus name resolution for expressions."""

    def __init__(self, definition: Any):
        self.definition = definition
        self.workflows: dict[str, Subworkflow] = {}
        self._names: dict[str, Any] = {}

    @property
    def main(self) -> Subworkflow:
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
