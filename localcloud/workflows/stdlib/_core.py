"""The standard-library plumbing: StdFunction (argument binding), the registry, constants, CallContext."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from localcloud.workflows.errors import WorkflowError
from localcloud.workflows.values import TAGS_TYPE


def _no_log(severity: str, payload: Any) -> None:
    return None


@dataclass
class CallContext:
    """What a standard-library call may see of its execution; the executor makes one per execution."""

    env: dict[str, str] = field(default_factory=dict)
    log: Callable[[str, Any], None] = _no_log
    now: Callable[[], float] = time.time
    # Free slot for the executor (execution id, callbacks registry, http session...).
    extra: dict[str, Any] = field(default_factory=dict)

    def effect(self, kind: str, key: str, produce: Callable[[], Any]) -> Any:
        """A value from outside (time, randomness); an execution's frame journals it, this plain context does not."""
        return produce()


@dataclass
class StdFunction:
    """One standard-library function: ``fn(ctx, *args)`` with named parameters in order.

    ``required`` parameters come first; the rest are optional and, when not given, fall back to
    the Python defaults of ``fn``. ``blocking`` functions (http.*, sys.sleep, sys.log, events.*)
    may only run from a call step, never inside an expression.
    """

    name: str
    fn: Callable[..., Any]
    params: list[str]
    required: int
    blocking: bool = False

    def invoke(self, ctx: CallContext, args: list | None = None, kwargs: dict | None = None) -> Any:
        """Bind positional (from expressions) or named (from ``call: args:``) arguments and run."""
        params = self.params
        if not kwargs:
            n = 0 if args is None else len(args)
            if self.required <= n <= len(params):
                return self.fn(ctx, *args) if n else self.fn(ctx)
            if n > len(params):
                raise WorkflowError.tagged(
                    TAGS_TYPE,
                    f"{self.name}: takes at most {len(params)} argument(s) ({', '.join(params)}), got {n}",
                )
            missing = params[n]
            raise WorkflowError.tagged(
                TAGS_TYPE, f"{self.name}: missing required argument '{missing}'"
            )
        bound: dict[str, Any] = {}
        if args:
            if len(args) > len(params):
                raise WorkflowError.tagged(
                    TAGS_TYPE,
                    f"{self.name}: takes at most {len(params)} argument(s) ({', '.join(params)}), got {len(args)}",
                )
            for name, value in zip(params, args):
                bound[name] = value
        for name, value in kwargs.items():
            if name not in params:
                raise WorkflowError.tagged(
                    TAGS_TYPE,
                    f"{self.name}: unknown argument '{name}' (expected one of: {', '.join(params) or 'none'})",
                )
            if name in bound:
                raise WorkflowError.tagged(TAGS_TYPE, f"{self.name}: argument '{name}' given twice")
            bound[name] = value
        for name in params[: self.required]:
            if name not in bound:
                raise WorkflowError.tagged(TAGS_TYPE, f"{self.name}: missing required argument '{name}'")
        return self.fn(ctx, **bound)

    def __repr__(self) -> str:
        return f"<function {self.name}>"


REGISTRY: dict[str, StdFunction] = {}
CONSTANTS: dict[str, Any] = {}


def register(fn: StdFunction) -> None:
    """Add (or replace) a function; the executor half registers its blocking functions here."""
    REGISTRY[fn.name] = fn


class Library:
    """The functions and constants one module defines; `stdlib` registers every library in one place."""

    def __init__(self) -> None:
        self.functions: dict[str, StdFunction] = {}
        self.constants: dict[str, Any] = {}

    def define(self, name: str, params: list[str], required: int | None = None, blocking: bool = False) -> Callable:
        """Decorator naming ``fn(ctx, ...)`` as the Workflows function `name`."""

        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(StdFunction(name, fn, list(params), len(params) if required is None else required, blocking))
            return fn

        return wrap

    def add(self, fn: StdFunction) -> None:
        self.functions[fn.name] = fn


def install(library: Library) -> None:
    """Register a library's functions and constants (idempotent)."""
    REGISTRY.update(library.functions)
    CONSTANTS.update(library.constants)
