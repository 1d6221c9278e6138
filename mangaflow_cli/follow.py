"""Following a run through `get_progress`: progress bars per phase and per panel, approval gates
answered as they open, and outages of the service ridden out (one line when it goes, one when it
is back) until they last longer than a limit."""
from __future__ import annotations

import io
import os
import select
import sys
import threading
import time
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .api import ApiClient, ApiError, Unavailable

PHASE_NAMES = {1: "concept", 2: "characters", 3: "plot", 4: "name (storyboard)", 5: "panel images",
               6: "lettering", 7: "pages and exports"}
FINAL_STATUSES = ("completed", "failed", "cancelled")
WAIT_S = 15  # one long poll
DEFAULT_OUTAGE_LIMIT_S = 600

Answer = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class OutageTooLong(Exception):
    """Something the run needs stayed unavailable longer than the limit."""


class NoAnswer(Exception):
    """Nobody can answer an approval gate here (no terminal)."""


class DecidedElsewhere(Exception):
    """The gate was answered somewhere else (its review page, a chat) while the prompt waited."""

    def __init__(self, decision: str) -> None:
        super().__init__(decision)
        self.decision = decision


class GateWatch:
    """Follows the progress stream in the background for an answer to one gate given elsewhere, so a
    prompt waiting at the terminal can give way to the review page."""

    POLL_S = 5  # one long poll; the thread ends within this after stop()

    def __init__(self, api: ApiClient, gate: dict[str, Any], after: str) -> None:
        self.api, self.gate, self.cursor = _own_client(api), gate, after
        self.decision: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="gate-watch", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._stopped.is_set():
            try:
                page = self.api.get_progress(self.gate["request_id"], self.cursor, self.POLL_S)
            except (Unavailable, ApiError):  # the main loop says so when it follows again
                self._stopped.wait(1.0)
                continue
            for event in page["events"]:
                if event.get("type") == "gate_decided" and event.get("gate_id") == self.gate["gate_id"]:
                    self.decision = str(event.get("decision") or "answered")
                    return
            if page["status"] in FINAL_STATUSES:
                self.decision = f"the run {page['status']}"
                return
            self.cursor = page["cursor"]

    def stop(self) -> None:
        self._stopped.set()


def _own_client(api: ApiClient) -> ApiClient:
    """A client of the same identity with a connection pool of its own (a requests.Session is not
    meant to be shared between threads)."""
    try:
        return ApiClient(api.base_url, api.headers["Authorization"].removeprefix("Bearer "), api.user_id)
    except (AttributeError, KeyError):  # a stand-in client without those: share it
        return api


class TypedLines:
    """Lines typed on standard input, read a little at a time (never blocking past `wait_s`), so a
    prompt can also notice an answer given elsewhere. Reads the file descriptor itself: a buffered
    reader would take several piped lines at once and hide them from the next wait."""

    def __init__(self, stream: Any = None) -> None:
        stream = stream if stream is not None else sys.stdin
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.fd = None  # not a real file (an embedding caller): read it whole-line, blocking
        self.stream = stream
        self.buffer = b""
        self.ended = False

    def readline(self, wait_s: float) -> str | None:
        """The next line without its newline; None if none came within `wait_s`; EOFError at the end."""
        while True:
            if b"\n" in self.buffer:
                line, _, self.buffer = self.buffer.partition(b"\n")
                return line.decode("utf-8", "replace").rstrip("\r")
            if self.ended:
                if self.buffer:
                    line, self.buffer = self.buffer, b""
                    return line.decode("utf-8", "replace")
                raise EOFError
            if self.fd is None:
                line = self.stream.readline()
                if not line:
                    raise EOFError
                return line.rstrip("\r\n")
            ready, _, _ = select.select([self.fd], [], [], wait_s)
            if not ready:
                return None
            chunk = os.read(self.fd, 4096)
            if chunk:
                self.buffer += chunk
            else:
                self.ended = True


def ask(console: Console, question: str, lines: TypedLines, *, choices: list[str] | None = None,
        default: str | None = None, watch: GateWatch | None = None) -> str:
    """One question at the terminal; DecidedElsewhere as soon as `watch` sees the gate answered."""
    prompt = question + (f" [{'/'.join(choices)}]" if choices else "") + (f" ({default})" if default else "") + ": "
    console.print(prompt, end="", markup=False, highlight=False)
    while True:
        if watch is not None and watch.decision:
            console.print()
            raise DecidedElsewhere(watch.decision)
        line = lines.readline(0.25)
        if line is None:
            continue
        value = line.strip() or (default or "")
        if not choices or value in choices:
            return value
        console.print(f"please answer one of: {', '.join(choices)}", style="red", highlight=False)
        console.print(prompt, end="", markup=False, highlight=False)


def outage_limit_s() -> float:
    return float(os.environ.get("MANGAFLOW_OUTAGE_LIMIT_S") or DEFAULT_OUTAGE_LIMIT_S)


class Outage:
    """Retries calls to a service that is unavailable, with back-off, saying so once per outage."""

    def __init__(self, console: Console, limit_s: float | None = None) -> None:
        self.console = console
        self.limit_s = outage_limit_s() if limit_s is None else limit_s
        self.since: float | None = None
        self.reason = ""
        self._delay = 0.5
        self._lock = threading.Lock()   # the book's files are downloaded on several threads

    def down(self, reason: str) -> None:
        """Notes that something is unavailable; OutageTooLong once it has been for `limit_s`."""
        with self._lock:
            now = time.monotonic()
            if self.since is None:
                self.since, self.reason, self._delay = now, reason, 0.5
                self.console.print(f"[yellow]{reason}; reconnecting…[/]", highlight=False, soft_wrap=True)
            elif now - self.since > self.limit_s:
                raise OutageTooLong(f"{self.reason} for {now - self.since:.0f} s")

    def up(self) -> None:
        with self._lock:
            if self.since is not None:
                self.console.print(f"[green]reconnected after {time.monotonic() - self.since:.0f} s[/]",
                                   highlight=False)
                self.since = None

    def call(self, operation: Callable[[], Any]) -> Any:
        """Runs `operation` until it does not raise Unavailable."""
        while True:
            try:
                result = operation()
            except Unavailable as err:
                self.down(str(err))
                time.sleep(self._delay)
                self._delay = min(self._delay * 2, 5.0)
                continue
            return result


def auto_approver(gate: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "token": gate["token"], "decided_by": "cli:auto-approve"}


def terminal_reviewer(console: Console, stdin: Any = None) -> Answer:
    """Asks at each gate: approve, modify (with text), skip the remaining gates, or revert. An answer
    given meanwhile on the gate's review page (or in a chat) ends the question: the run goes on."""
    lines = TypedLines(stdin)

    def reviewer(gate: dict[str, Any], watch: GateWatch | None = None) -> dict[str, Any]:
        phase = gate["phase"]
        console.rule(f"approval gate after phase {phase}: {PHASE_NAMES.get(phase, '')}")
        if gate.get("summary"):
            console.print(gate["summary"], highlight=False, markup=False)
        if gate.get("modify_error"):
            console.print(f"[yellow]the modification could not be made:[/] {gate['modify_error']}", highlight=False,
                          soft_wrap=True)
        revert = int(gate.get("attempt") or 1) > 1
        try:
            choice = ask(console, "approve, modify, skip the remaining gates" + (", or revert to an earlier attempt"
                         if revert else "") + "?", lines, choices=["approve", "modify", "skip"] + (["revert"] if revert
                         else []), default="approve", watch=watch)
            answer: dict[str, Any] = {"decision": choice, "token": gate["token"], "decided_by": "cli:review"}
            if choice == "modify":
                answer["feedback"] = ask(console, "what should change?", lines, watch=watch)
            if choice == "revert":
                earlier = [str(n) for n in range(1, int(gate["attempt"]))]
                answer.update(decision="approve", attempt=int(ask(console, "go on with attempt", lines, choices=earlier,
                                                                  default=earlier[-1], watch=watch)))
        except EOFError:
            raise NoAnswer(f"no answer on standard input at the gate after phase {phase}; "
                           "answer in a terminal, or use --auto-approve") from None
        return answer

    reviewer.interactive = True  # type: ignore[attr-defined]
    return reviewer


class _Bars:
    """The progress display: one bar per phase, one for the panels of phase 5."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console)
        self.tasks: dict[str, Any] = {}

    def _task(self, key: str, description: str, total: int = 1) -> Any:
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total, note="")
        return self.tasks[key]

    def show(self, event: dict[str, Any]) -> None:
        kind, phase = event.get("type"), int(event.get("phase") or 0)
        label = f"{phase} {PHASE_NAMES.get(phase, '')}"
        if kind == "phase_started":
            self._task(f"p{phase}", label)
        elif kind == "panels_planned":
            self.progress.update(self._task("panels", "  panels", int(event["total"])), total=int(event["total"]),
                                 completed=0)
        elif kind == "panel_done":
            self.progress.advance(self._task("panels", "  panels"))
        elif kind == "pages_planned":
            self.progress.update(self._task("pages", "  pages", int(event["total"])), total=int(event["total"]),
                                 completed=0)
        elif kind == "page_done":
            self.progress.advance(self._task("pages", "  pages"))
        elif kind == "phase_done":
            self.progress.update(self._task(f"p{phase}", label), completed=1,
                                 note=f"score {float(event.get('score', 0)):.2f} {event.get('decision', '')}")
        elif kind == "gate_decided":
            self.progress.update(self._task(f"p{phase}", label), note=f"{event.get('decision')}")


def follow(api: ApiClient, request_id: str, answer: Answer, *, execution: str | None = None,
           console: Console | None = None, outage: Outage | None = None, after: str = "0") -> dict[str, Any]:
    """Shows the run's progress and answers its gates until it ends; returns the last progress
    answer (`status` completed, failed or cancelled). Outages are retried (see `Outage`). A reopened
    request's run is followed from its own first event (`after`: the cursor `reopen` answered)."""
    console = console or Console(stderr=True)
    outage = outage or Outage(console)
    bars = _Bars(console)
    cursor, decided = after, set()
    with bars.progress:
        while True:
            page = outage.call(lambda: api.get_progress(request_id, cursor, WAIT_S, execution))
            events = page["events"]
            # Read from the start (a resumed run), a gate may already be decided further on.
            decided.update(e.get("gate_id") for e in events if e.get("type") == "gate_decided")
            for event in events:
                bars.show(event)
                if event.get("type") == "gate_open" and event.get("gate_id") not in decided:
                    decided.add(event["gate_id"])
                    _answer_gate(api, event, answer, bars, outage, after=page["cursor"])
            cursor = page["cursor"]
            state = page.get("execution_state")
            if page["status"] in FINAL_STATUSES:
                outage.up()
                return page
            if state in ("FAILED", "CANCELLED", "SUCCEEDED"):
                outage.up()  # the execution ended without the request saying so (an engine-side failure)
                return {**page, "status": "completed" if state == "SUCCEEDED" else "failed"}
            if state == "UNKNOWN":
                outage.down(f"the Workflows engine does not answer for {execution}")
                time.sleep(1.0)
            else:
                outage.up()


def _answer_gate(api: ApiClient, gate: dict[str, Any], answer: Answer, bars: _Bars, outage: Outage,
                 after: str = "0") -> None:
    interactive = getattr(answer, "interactive", False)
    console = bars.progress.console
    if interactive:  # the prompt needs the terminal to itself
        bars.progress.stop()
    if gate.get("approval_url") and answer is not auto_approver:
        # The link is the other way to answer: the review page in a browser, here or anywhere.
        console.print(f"review phase {gate.get('phase')} in a browser: {gate['approval_url']}",
                      highlight=False, soft_wrap=True, markup=False)
        if interactive:
            console.print("(answer here, or on that page: an answer given there is taken here too)", style="dim",
                          highlight=False)
    watch = GateWatch(api, gate, after) if interactive else None
    try:
        reply = answer(gate, watch) if interactive else answer(gate)
    except DecidedElsewhere as elsewhere:
        console.print(f"the gate after phase {gate.get('phase')} was answered elsewhere ({elsewhere.decision}); "
                      "going on", highlight=False, soft_wrap=True)
        return
    finally:
        if watch is not None:
            watch.stop()
        if interactive:
            bars.progress.start()
    if reply is None:  # None lets the gate time out
        return
    try:
        outage.call(lambda: api.answer_gate(gate, reply))
    except ApiError as err:
        if err.status >= 500:
            raise
        # It timed out (and the run went on) or was answered elsewhere, e.g. on the review page.
        bars.progress.console.print(f"the gate after phase {gate.get('phase')} no longer takes an answer "
                                    f"({err.status}: {err.message}); going on", highlight=False, soft_wrap=True)
