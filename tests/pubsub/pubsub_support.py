"""What the Pub/Sub tests share: the real server in its own process (free port, temporary data folder),
the official clients pointed at it through PUBSUB_EMULATOR_HOST, and a real HTTP push endpoint that
records each push and answers with the statuses a test queues. The fixtures are in conftest.py."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROJECT = "test-project"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Any, timeout: float = 5.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


class PubSubProcess:
    """`python -m localcloud.pubsub serve` in a child process."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.log = data_dir / "server.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "PubSubProcess":
        from localcloud.pubsub.health import healthy

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "localcloud.pubsub", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data_dir)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        if not wait_until(lambda: self.proc.poll() is not None or healthy(self.port), timeout=20, step=0.05) \
                or self.proc.poll() is not None:
            raise RuntimeError(f"pubsub server did not start: {self.log.read_text()}")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Clients:
    """The official publisher and subscriber, made while PUBSUB_EMULATOR_HOST names the server."""

    def __init__(self, address: str) -> None:
        from google.cloud import pubsub_v1

        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = address
        try:
            self.publisher = pubsub_v1.PublisherClient()
            self.subscriber = pubsub_v1.SubscriberClient()
        finally:
            if previous is None:
                del os.environ["PUBSUB_EMULATOR_HOST"]
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous
        self.futures: list[Any] = []

    def topic(self, name: str) -> str:
        path = self.publisher.topic_path(PROJECT, name)
        self.publisher.create_topic(name=path)
        return path

    def subscription(self, name: str, topic: str, **settings: Any) -> str:
        path = self.subscriber.subscription_path(PROJECT, name)
        self.subscriber.create_subscription(request={"name": path, "topic": topic, **settings})
        return path

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        return self.publisher.publish(topic, data, **attributes).result(timeout=10)

    def pull(self, subscription: str, max_messages: int = 100, wait: bool = False) -> list[Any]:
        request = {"subscription": subscription, "max_messages": max_messages, "return_immediately": not wait}
        with warnings.catch_warnings():  # the API still honours return_immediately; the client only discourages it
            warnings.simplefilter("ignore", DeprecationWarning)
            return list(self.subscriber.pull(request=request, timeout=30).received_messages)

    def pull_one(self, subscription: str, timeout: float = 5.0) -> Any:
        found: list[Any] = []
        wait_until(lambda: found.extend(self.pull(subscription, 1)) or bool(found), timeout)
        assert found, f"nothing arrived on {subscription} within {timeout}s"
        return found[0]

    def subscribe(self, subscription: str, callback: Any) -> Any:
        future = self.subscriber.subscribe(subscription, callback)
        self.futures.append(future)
        return future

    def close(self) -> None:
        for future in self.futures:
            future.cancel()
            try:
                future.result(timeout=5)
            except Exception:  # noqa: BLE001 - a cancelled stream ends with an error by design
                pass
        self.subscriber.close()
        self.publisher.stop()


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes
    received: float

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class PushEndpoint:
    """A real HTTP server taking pushes: the next queued status per push (200 when the queue is empty)."""

    url: str
    pushes: list[Push] = field(default_factory=list)
    statuses: deque = field(default_factory=deque)
    always: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Push]:
        wait_until(lambda: len(self.pushes) >= count, timeout)
        return list(self.pushes)


def serve_push_endpoint() -> tuple[PushEndpoint, ThreadingHTTPServer]:
    box: dict[str, PushEndpoint] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            endpoint = box["endpoint"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with endpoint.lock:
                endpoint.pushes.append(Push(self.path, dict(self.headers), body, time.time()))
                status = endpoint.always or (endpoint.statuses.popleft() if endpoint.statuses else 200)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box["endpoint"] = PushEndpoint(url=f"http://127.0.0.1:{server.server_address[1]}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return box["endpoint"], server
