"""Helpers for tests that run the engine as its own process (to kill it, restart it, and look again)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineProcess:
    """`python -m localcloud.workflows serve` on fixed ports with a data dir: start, SIGKILL, start again."""

    def __init__(self, data_dir: Path, port: int | None = None, grpc_port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = data_dir.parent / f"{data_dir.name}.engine.log"

    @property
    def rest(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 30) -> "EngineProcess":
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "localcloud.workflows", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--grpc-port", str(self.grpc_port), "--data-dir", str(self.data_dir)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://{self.rest}/v1/projects/p/locations/l/workflows", timeout=1).read()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"engine did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush beyond what the journal already committed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
