"""Running `mangaflow` as a person does: a real subprocess, in the foreground or in the background
(its standard error read line by line, so a test can act in the middle of a run)."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANGAFLOW = [sys.executable, "-m", "mangaflow_cli"]
STORY = REPO / "examples" / "the-last-robot-gardener.en.txt"


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "120", **extra}


def mangaflow(*args: str, stdin: str | None = None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MANGAFLOW, *map(str, args)], cwd=REPO, input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=cli_env(**env))


def _as_at_a_terminal() -> None:
    """Ctrl-C as a person's terminal delivers it: a test suite started in the background (`make test &` in a
    shell without job control) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Background:
    """`mangaflow ARGS` running while the test does something else."""

    def __init__(self, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen([*MANGAFLOW, *map(str, args)], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(**env),
                                     preexec_fn=_as_at_a_terminal)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        """The first line of standard error matching `pattern` (earlier lines are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r}; stderr so far:\n{''.join(self.stderr)[-3000:]}")

    def finish(self, timeout: float = 300) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) once it ends; a run that does not end in `timeout` s is killed and the test
        fails with what it had written (a bare TimeoutExpired said nothing of where it stood)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=30)
            time.sleep(0.2)
            raise AssertionError(f"still running after {timeout} s; stderr:\n{''.join(self.stderr)[-3000:]}\n"
                                 f"stdout:\n{(out or '')[-2000:]}") from None
        assert self.proc.stdout is not None
        stdout = self.proc.stdout.read()
        time.sleep(0.2)  # the reader thread drains the last lines
        return self.proc.returncode, stdout, "".join(self.stderr)
