"""The shape of one part of the local stack: how to start it, tell it is healthy, where it listens,
what it gives its dependants, and how it reaches the others."""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping


@dataclass(frozen=True)
class Context:
    """What a part's functions get: its ports, the variables its dependencies export, its folder."""

    name: str
    ports: Mapping[str, int]
    env: Mapping[str, str]
    local_dir: Path

    @property
    def port(self) -> int:
        """The part's main port (the state file keeps ports sorted by name, so not simply the first)."""
        return self.ports["main"] if "main" in self.ports else next(iter(self.ports.values()))

    @property
    def data_dir(self) -> Path:
        return self.local_dir / self.name


@dataclass(frozen=True)
class Launch:
    """A start command: argv, variables added to the environment, working folder, account."""

    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None


@dataclass(frozen=True)
class Link:
    """Whether one part reaches another at the address the other has now."""

    source: str
    target: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Part:
    """One declarative entry of the stack.

    `launch` builds the start command, `healthy` answers quickly (no exceptions), `endpoint` is the
    address shown by `services status`, `exports` the variables clients and dependants get.
    `depends_on` parts are started first and their exports reach `launch` as `ctx.env`; when one
    of them moves to a new address, this part is restarted with it. `launch` only describes the
    command (it is also used to tell whether a running part was started with the same one);
    `prepare` does the work before each start (initdb, npm ci, folders). `code` lists repository paths
    whose change restarts the part; `reload_code` paths whose change is applied by sending
    `reload_signal` instead (no downtime). `provision` runs after every `up` (idempotent: create a
    database, buckets, deploy a workflow); `links` checks the part reaches what it depends on.
    """

    name: str
    marker: str  # a substring of the process's command line: tells our process from a recycled pid
    launch: Callable[[Context], Launch]
    healthy: Callable[[Context], bool]
    endpoint: Callable[[Context], str]
    exports: Callable[[Context], dict[str, str]]
    version: Callable[[Context], str]
    depends_on: tuple[str, ...] = ()
    ports: tuple[str, ...] = ("main",)
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 10.0
    # On restart the new process starts as soon as the old one has closed its ports, while the old
    # one finishes its in-flight requests (gunicorn's graceful shutdown).
    hands_over: bool = False
    start_timeout_s: float = 60.0
    code: tuple[str, ...] = ()
    reload_code: tuple[str, ...] = ()
    reload_signal: int | None = None
    reloaded: Callable[[Context, float], bool] | None = None  # the reload signalled at t has taken effect
    prepare: Callable[[Context], None] | None = None
    provision: Callable[[Context], None] | None = None
    links: Callable[[Context, Mapping[str, str]], list[Link]] | None = None
