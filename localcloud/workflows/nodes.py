"""The typed nodes a definition is read into (loader), which the compiler validates and turns into steps.

Expressions and values stay as written (YAML values with `${...}` strings): the compiler compiles them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Node:
    """A step: its name, the source line of its name, and where control goes after it (None: fall through)."""

    name: str
    line: int | None
    next: str | None


@dataclass(slots=True)
class Assign(Node):
    items: list[tuple[str, Any]]  # (target text, value as written)


@dataclass(slots=True)
class Call(Node):
    target: str
    args: dict[str, Any]
    result: str | None


@dataclass(slots=True)
class Condition:
    line: int | None
    test: Any
    action: Node | None  # Steps, Assign, Call, Return or Raise
    next: str | None


@dataclass(slots=True)
class Switch(Node):
    conditions: list[Condition]


@dataclass(slots=True)
class Loop:
    """What a `for` (sequential or parallel) iterates over, and its body."""

    value: str
    index: str | None
    in_: Any
    range_: Any
    is_range: bool
    body: list[Node]


@dataclass(slots=True)
class For(Node):
    loop: Loop


@dataclass(slots=True)
class Branch:
    name: str
    line: int | None
    body: list[Node]


@dataclass(slots=True)
class Parallel(Node):
    shared: list[str]
    concurrency_limit: Any
    branches: list[Branch] | None
    loop: Loop | None


@dataclass(slots=True)
class Try(Node):
    attempt: Node
    except_as: str | None
    except_body: list[Node] | None
    retry: Any


@dataclass(slots=True)
class Raise(Node):
    value: Any


@dataclass(slots=True)
class Return(Node):
    value: Any


@dataclass(slots=True)
class Steps(Node):
    body: list[Node]


@dataclass(slots=True)
class Jump(Node):
    """A step with only `next`."""
