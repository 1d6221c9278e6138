"""Frames (one running (sub)workflow's variables) and threads (the journal's unit of ordering).

A frame is also the `CallContext` its expressions and standard-library calls see: env, log, now, and
`effect` for values that must come back the same on replay (sys.now, uuid.generate).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from .execution import Execution


class Thread:
    """One logical thread of an execution: main, or one parallel branch or iteration.

    Within a thread calls happen in a fixed order, so a call is named by (thread path, sequence number)
    in the journal even when branches interleave differently on replay.
    """

    __slots__ = ("path", "seq")

    def __init__(self, path: str):
        self.path = path
        self.seq = 0

    def branch(self, fork: int, branch_id: str) -> "Thread":
        return Thread(f"{self.path}/{fork}.{branch_id}")


class Frame:
    """One running (sub)workflow's variables; implements the expression Scope and CallContext protocols."""

    __slots__ = ("vars", "ex", "program", "depth", "parallel_depth", "thread", "shared", "get_variable",
                 "has_variable")

    def __init__(self, ex: "Execution", variables: dict[str, Any], depth: int, thread: Thread,
                 parallel_depth: int = 0):
        self.vars = variables
        self.ex = ex
        self.program = ex.program
        self.depth = depth
        self.parallel_depth = parallel_depth
        self.thread = thread
        self.shared: dict[str, dict[str, Any]] | None = None
        # Bound methods of the dict: the fastest variable lookup expressions can do.
        self.get_variable = variables.__getitem__
        self.has_variable = variables.__contains__

    # ---- Scope
    def resolve_name(self, dotted: str) -> Any:
        return self.program.resolve_name(dotted)

    def owner(self, name: str) -> dict[str, Any]:
        """The dict an assignment to `name` writes into."""
        return self.vars

    def visible(self) -> dict[str, Any]:
        return dict(self.vars)

    def owner_if_defined(self, name: str) -> dict[str, Any] | None:
        return self.vars if name in self.vars else None

    # ---- CallContext
    @property
    def env(self) -> dict[str, str]:
        return self.ex.env

    @property
    def log(self) -> Callable[[str, Any], None]:
        return self.ex.log

    @property
    def now(self) -> Callable[[], float]:
        return self.ex.clock

    @property
    def extra(self) -> dict[str, Any]:
        return {"execution": self.ex, "frame": self}

    def effect(self, kind: str, key: str, produce: Callable[[], Any]) -> Any:
        """A value from outside the engine (time, randomness): journalled, and the same on replay."""
        return self.ex.recorded(self, kind, key, produce)


class BranchFrame(Frame):
    """A parallel branch: own locals (a snapshot of the parent's), shared variables written through."""

    __slots__ = ()

    def __init__(self, ex: "Execution", variables: dict[str, Any], depth: int, thread: Thread,
                 parallel_depth: int, shared: dict[str, dict[str, Any]]):
        super().__init__(ex, variables, depth, thread, parallel_depth)
        self.shared = shared
        self.get_variable = self._get
        self.has_variable = self._has

    def _get(self, name: str) -> Any:
        owner = self.shared.get(name)  # type: ignore[union-attr]
        if owner is not None:
            return owner[name]
        return self.vars[name]

    def _has(self, name: str) -> bool:
        owner = self.shared.get(name)  # type: ignore[union-attr]
        if owner is not None:
            return name in owner
        return name in self.vars

    def owner(self, name: str) -> dict[str, Any]:
        return self.shared.get(name) or self.vars  # type: ignore[union-attr]

    def visible(self) -> dict[str, Any]:
        out = dict(self.vars)
        for name, owner in self.shared.items():  # type: ignore[union-attr]
            if name in owner:
                out[name] = owner[name]
        return out

    def owner_if_defined(self, name: str) -> dict[str, Any] | None:
        owner = self.shared.get(name)  # type: ignore[union-attr]
        if owner is not None:
            return owner if name in owner else None
        return self.vars if name in self.vars else None
