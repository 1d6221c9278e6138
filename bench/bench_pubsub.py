"""Benchmarks the local Pub/Sub (localcloud.pubsub) with the official client: publish throughput
(the client's default batching), one-message Publish round trips, and publish-to-delivery latency
through subscribe() (StreamingPull) and through a push subscription; medians of several runs, p95.
Where the machine has Google's own emulator (the gcloud SDK's Java component), the same figures are
taken on it as a reference. Writes bench/RESULTS.md's "Pub/Sub" section (others untouched).

Usage: .venv/bin/python bench/bench_pubsub.py [--runs 3] [--messages 5000] [--no-write] [--no-google]
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from results import write_section  # noqa: E402 - bench/ is the script's folder

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("RESULTS.md")
GOOGLE_EMULATOR = Path("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator")
PROJECT = "bench"
PAYLOAD = b"x" * 100


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited while starting")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start_local(data_dir: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localcloud.pubsub", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_port(port, proc)
    return proc, port


def start_google(data_dir: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen([str(GOOGLE_EMULATOR), "--host=127.0.0.1", f"--port={port}", f"--dir={data_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, proc)
    time.sleep(1.0)  # the JVM answers TCP before the service is ready
    return proc, port


class Clients:
    def __init__(self, address: str, batch_max_messages: int | None = None) -> None:
        from google.cloud import pubsub_v1

        os.environ["PUBSUB_EMULATOR_HOST"] = address
        batch = pubsub_v1.types.BatchSettings(max_messages=batch_max_messages) if batch_max_messages else ()
        self.publisher = pubsub_v1.PublisherClient(batch_settings=batch) if batch else pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()

    def close(self) -> None:
        self.subscriber.close()
        self.publisher.stop()


def bench_throughput(address: str, run: int, messages: int) -> float:
    """Messages per second: every publish() of `messages` until the last future resolves."""
    clients = Clients(address)
    topic = clients.publisher.topic_path(PROJECT, f"throughput-{run}")
    clients.publisher.create_topic(name=topic)
    clients.subscriber.create_subscription(name=clients.subscriber.subscription_path(PROJECT, f"throughput-{run}"),
                                           topic=topic)  # a subscription, so every message is really kept
    started = time.perf_counter()
    futures = [clients.publisher.publish(topic, PAYLOAD) for _ in range(messages)]
    for future in futures:
        future.result(timeout=120)
    elapsed = time.perf_counter() - started
    clients.close()
    return messages / elapsed


def bench_publish_rpc(address: str, run: int, count: int) -> list[float]:
    """Seconds per Publish of one message, waited for one by one."""
    clients = Clients(address, batch_max_messages=1)
    topic = clients.publisher.topic_path(PROJECT, f"rpc-{run}")
    clients.publisher.create_topic(name=topic)
    clients.subscriber.create_subscription(name=clients.subscriber.subscription_path(PROJECT, f"rpc-{run}"), topic=topic)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        clients.publisher.publish(topic, PAYLOAD).result(timeout=30)
        latencies.append(time.perf_counter() - started)
    clients.close()
    return latencies


def _delivery(address: str, count: int, setup: Callable[[Any, str, dict[str, float], threading.Event], Any]) -> list[float]:
    """Publish `count` messages one at a time (each stamped with its send time) and collect the delay
    until `setup`'s receiver records each one."""
    clients = Clients(address, batch_max_messages=1)
    topic = clients.publisher.topic_path(PROJECT, f"latency-{time.monotonic_ns()}")
    clients.publisher.create_topic(name=topic)
    arrived: dict[str, float] = {}
    everything = threading.Event()
    receiver = setup(clients, topic, arrived, everything)
    sent: dict[str, float] = {}
    for i in range(count):
        key = str(i)
        sent[key] = time.perf_counter()
        clients.publisher.publish(topic, PAYLOAD, n=key).result(timeout=30)
        time.sleep(0.002)
    arrived_all = everything.wait(60)
    if receiver is not None:
        receiver()
    clients.close()
    if not arrived_all:
        raise RuntimeError(f"only {len(arrived)} of {count} messages arrived")
    return [arrived[k] - sent[k] for k in sent]


def bench_stream_latency(address: str, count: int) -> list[float]:
    def setup(clients: Clients, topic: str, arrived: dict[str, float], everything: threading.Event) -> Any:
        subscription = clients.subscriber.subscription_path(PROJECT, topic.rsplit("/", 1)[-1])
        clients.subscriber.create_subscription(name=subscription, topic=topic)

        def callback(message: Any) -> None:
            arrived.setdefault(message.attributes["n"], time.perf_counter())
            message.ack()
            if len(arrived) == count:
                everything.set()

        future = clients.subscriber.subscribe(subscription, callback)
        time.sleep(0.5)  # the stream is open before the first publish

        def stop() -> None:
            future.cancel()
            try:
                future.result(timeout=10)
            except Exception:  # noqa: BLE001 - a cancelled stream ends with an error by design
                pass
        return stop
    return _delivery(address, count, setup)


def bench_push_latency(address: str, count: int) -> list[float]:
    def setup(clients: Clients, topic: str, arrived: dict[str, float], everything: threading.Event) -> Any:
        import json

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                arrived.setdefault(body["message"]["attributes"]["n"], time.perf_counter())
                self.send_response(204)
                self.end_headers()
                if len(arrived) == count:
                    everything.set()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        clients.subscriber.create_subscription(request={
            "name": clients.subscriber.subscription_path(PROJECT, topic.rsplit("/", 1)[-1]), "topic": topic,
            "push_config": {"push_endpoint": f"http://127.0.0.1:{server.server_address[1]}/push"}})

        def stop() -> None:
            server.shutdown()
            server.server_close()
        return stop
    return _delivery(address, count, setup)


def measure(name: str, start: Callable[[Path], tuple[subprocess.Popen, int]], runs: int, messages: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"name": name}
    throughput, rpc, stream, push = [], [], [], []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as data_dir:
            proc, port = start(Path(data_dir))
            address = f"127.0.0.1:{port}"
            try:
                throughput.append(bench_throughput(address, run, messages))
                rpc.extend(bench_publish_rpc(address, run, 300))
                stream.extend(bench_stream_latency(address, 300))
                push.extend(bench_push_latency(address, 300))
            finally:
                proc.terminate()
                proc.wait(30)
        print(f"{name} run {run + 1}: {throughput[-1]:,.0f} msg/s", flush=True)
    figures["throughput"] = statistics.median(throughput)
    for key, values in (("rpc", rpc), ("stream", stream), ("push", push)):
        figures[key] = (statistics.median(values) * 1000, _percentile(values, 0.95) * 1000)
    return figures


def render(results: list[dict[str, Any]], runs: int, messages: int) -> str:
    head = "| What | " + " | ".join(r["name"] for r in results) + " |"
    rule = "|---|" + "---|" * len(results)
    rows = [f"| Publish throughput, {messages:,} messages of 100 bytes, default batching (median of {runs} runs) | "
            + " | ".join(f"{r['throughput']:,.0f} msg/s" for r in results) + " |"]
    for key, what in (("rpc", "Publish of one message, round trip"),
                      ("stream", "Publish to delivery, subscribe() (StreamingPull)"),
                      ("push", "Publish to delivery, push subscription")):
        rows.append(f"| {what}: median / p95 | " + " | ".join(f"{r[key][0]:.2f} / {r[key][1]:.2f} ms" for r in results)
                    + " |")
    note = ("Measured with `bench/bench_pubsub.py` on the 2-core development machine "
            f"({platform.python_implementation()} {platform.python_version()}), each server started fresh for each run "
            "with a subscription on every topic. Each latency is over 300 messages per run, published one at a time "
            "2 ms apart, measured in the publishing process (send to callback, or send to the push request arriving). "
            "The local server commits every Publish to SQLite before answering; Google's emulator keeps everything "
            "in memory, and its JVM's warm-up falls inside each run (as it does for a test session).")
    return "## Pub/Sub\n\n" + note + "\n\n" + "\n".join([head, rule, *rows]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-google", action="store_true", help="skip Google's emulator even where it is installed")
    args = parser.parse_args()
    results = [measure("localcloud.pubsub", start_local, args.runs, args.messages)]
    if not args.no_google and GOOGLE_EMULATOR.exists() and shutil.which("java"):
        results.append(measure("Google's emulator (gcloud SDK, Java)", start_google, args.runs, args.messages))
    else:
        print("Google's Pub/Sub emulator is not installed here: only the local server is measured", flush=True)
    section = render(results, args.runs, args.messages)
    print(section)
    if not args.no_write:
        write_section(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
