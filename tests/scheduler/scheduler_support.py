"""What the scheduler tests share: the real server in its own process (free port, a temporary data
folder, the manual clock), the official REST client pointed at it, and a real HTTP target that records
every call and answers with the statuses a test queues. The fixtures are in conftest.py."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
PARENT = "projects/test-project/locations/asia-northeast1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received: float


@dataclass
class RecordingTarget:
    """A real HTTP server: answers each call with the next queued status (200 once the queue is empty),
    after `delay_s`; keeps every call."""

    url: str
    calls: list[Call] = field(default_factory=list)
    statuses: deque = field(default_factory=deque)
    delay_s: float = 0.0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_calls(self, count: int, timeout: float = 5.0) -> list[Call]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)
        return list(self.calls)


def serve_target() -> tuple[RecordingTarget, ThreadingHTTPServer]:
    server_box: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            recorder: RecordingTarget = server_box["recorder"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with recorder.arrived:
                recorder.calls.append(Call(self.command, self.path, dict(self.headers), body, time.time()))
                recorder.arrived.notify_all()
                status = recorder.statuses.popleft() if recorder.statuses else 200
            if recorder.delay_s:
                time.sleep(recorder.delay_s)
            payload = json.dumps({"status": status}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the scheduler gave up (attempt deadline)

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_box["recorder"] = RecordingTarget(url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server_box["recorder"], server


class SchedulerProcess:
    """`python -m localcloud.scheduler serve` in a child process, with helpers for the local extensions."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "SchedulerProcess":
        self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "localcloud.scheduler", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), "--manual-clock"],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scheduler exited: {self.log.read_text()}")
            try:
                if requests.get(f"{self.url}/_health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"scheduler did not become healthy: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import scheduler_v1

        return scheduler_v1.CloudSchedulerClient(transport="rest", client_options={"api_endpoint": self.url},
                                                 credentials=AnonymousCredentials())

    def set_clock(self, now: dt.datetime) -> None:
        requests.post(f"{self.url}/_clock", json={"now": now.isoformat()}, timeout=5).raise_for_status()

    def advance(self, seconds: float) -> None:
        requests.post(f"{self.url}/_clock", json={"advance_s": seconds}, timeout=5).raise_for_status()

    def attempts(self, job_name: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/v1/{job_name}/attempts", timeout=5)
        response.raise_for_status()
        return response.json()["attempts"]

    def wait_for_attempts(self, job_name: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            attempts = self.attempts(job_name)
            if len(attempts) >= count or time.monotonic() > deadline:
                return attempts
            time.sleep(0.05)


def http_job(name: str, uri: str, schedule: str = "0 9 * * *", time_zone: str = "Etc/UTC", **extra: Any) -> dict:
    """A job as the official client takes it (a dict of the Job message's fields)."""
    return {"name": f"{PARENT}/jobs/{name}", "schedule": schedule, "time_zone": time_zone,
            "http_target": {"uri": uri, "http_method": "POST", "headers": {"Content-Type": "application/json"},
                            "body": b'{"period": "daily"}'},
            **extra}
