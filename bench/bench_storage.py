"""The Cloud Storage stand-in's cost per write as it fills: 1,000, 10,000 and 100,000 stored objects.

Three launchers of the same gcp-storage-emulator request handling, each a real server process
uploaded to over HTTP (JSON API, 4 KB media uploads):
- stock: the emulator as published (it rewrites one JSON file of every object after each write);
- deferred: this project's former launcher (that file written at most every 0.25 s: fast, but an
  acknowledged upload is lost when the server is killed within that window);
- sqlite: `localcloud/services/storage_server.py` (one SQLite row per object, committed before the
  response).
Each is filled by writing its metadata directly (the stock `.meta` format; the sqlite launcher
migrates it at start, which is timed too), then timed on fresh uploads. A durability round uploads,
SIGKILLs the server 50 ms after the answer, restarts it and reads the object back.
Writes medians to bench/RESULTS.md under "## Cloud Storage stand-in" (other sections untouched).

    .venv/bin/python bench/bench_storage.py [--sizes 1000 10000 100000] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import requests
from results import write_section  # noqa: E402 - bench/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("RESULTS.md")
BUCKET = "bench-bucket"
VARIANTS = ("stock", "deferred", "sqlite")
FLUSH_INTERVAL_S = 0.25  # the former launcher's batching window
# Uploads timed per size: the stock emulator takes seconds per write at 100,000 objects.
UPLOADS = {"stock": {1000: 40, 10000: 15, 100000: 5}, "deferred": 200, "sqlite": 200}


# --------------------------------------------------------------------------- the servers


def serve(variant: str, port: int, data_dir: str) -> None:
    """Runs one launcher in this process (the benchmark starts it as a subprocess)."""
    import logging
    from http.server import HTTPServer

    from gcp_storage_emulator.server import RequestHandler
    from gcp_storage_emulator.storage import Storage

    logging.basicConfig(level=logging.CRITICAL)
    sys.path.insert(0, str(REPO))
    if variant == "sqlite":
        from localcloud.services.storage_server import SqliteMetaStorage

        storage = SqliteMetaStorage(data_dir=data_dir)
    elif variant == "deferred":
        storage = _deferred_storage(Storage)(data_dir=data_dir)
    else:
        storage = Storage(data_dir=data_dir)

    class Server(HTTPServer):
        def service_actions(self) -> None:  # the former launcher's flush, between requests
            flush = getattr(storage, "flush_due", None)
            if flush:
                flush()

    httpd = Server(("127.0.0.1", port), partial(RequestHandler, storage))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    try:
        httpd.serve_forever(poll_interval=FLUSH_INTERVAL_S)
    finally:
        getattr(storage, "flush", lambda: None)()


def _deferred_storage(base: type) -> type:
    """The former launcher: the metadata file written at most every FLUSH_INTERVAL_S."""

    class Deferred(base):  # type: ignore[misc, valid-type]
        dirty_since: float | None = None

        def _write_config_to_file(self) -> None:
            if self.dirty_since is None:
                self.dirty_since = time.monotonic()

        def flush(self) -> None:
            if self.dirty_since is not None:
                super()._write_config_to_file()
                self.dirty_since = None

        def flush_due(self) -> None:
            if self.dirty_since is not None and time.monotonic() - self.dirty_since >= FLUSH_INTERVAL_S:
                self.flush()

    return Deferred


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Running:
    """One launcher as a subprocess; `started_s` is how long it took to answer."""

    def __init__(self, variant: str, data_dir: Path) -> None:
        self.variant, self.data_dir, self.port = variant, data_dir, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", variant, "--port", str(self.port),
                                      "--data-dir", str(data_dir)], cwd=REPO)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/storage/v1/b", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        self.started_s = time.perf_counter() - started
        self.session = requests.Session()

    def upload(self, name: str, data: bytes) -> float:
        started = time.perf_counter()
        response = self.session.post(f"{self.base}/upload/storage/v1/b/{BUCKET}/o",
                                     params={"uploadType": "media", "name": name}, data=data,
                                     headers={"Content-Type": "application/octet-stream"}, timeout=600)
        response.raise_for_status()
        return time.perf_counter() - started

    def read(self, name: str) -> bytes | None:
        response = self.session.get(f"{self.base}/download/storage/v1/b/{BUCKET}/o/{name}", params={"alt": "media"},
                                    timeout=60)
        return response.content if response.status_code == 200 else None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(60)


# --------------------------------------------------------------------------- filling


def object_template() -> dict:
    """A real object resource, as the emulator makes it for an upload."""
    with tempfile.TemporaryDirectory() as folder:
        server = Running("stock", Path(folder))
        try:
            requests.post(f"{server.base}/storage/v1/b", json={"name": BUCKET}, timeout=10).raise_for_status()
            server.upload("requests/r-0000/panels/template.png", os.urandom(4096))
            return server.session.get(f"{server.base}/storage/v1/b/{BUCKET}/o/requests%2Fr-0000%2Fpanels%2Ftemplate.png",
                                      timeout=10).json()
        finally:
            server.stop()


def fill(data_dir: Path, count: int, template: dict) -> None:
    """`count` objects' metadata in the emulator's own `.meta` file (their bytes are not needed to
    time writes), plus the bucket."""
    bucket = {"kind": "storage#bucket", "id": BUCKET, "name": BUCKET, "projectNumber": "1234",
              "metageneration": "1", "location": "US", "storageClass": "STANDARD", "etag": "CAE="}
    objects = {}
    for index in range(count):
        name = f"requests/r-{index // 50:06d}/panels/{index:08x}.png"
        objects[name] = {**template, "name": name, "id": f"{BUCKET}/{name}/{index}", "generation": str(index + 1)}
    root = data_dir / ".cloudstorage"
    (root / BUCKET).mkdir(parents=True)
    (root / ".meta").write_text(json.dumps({"buckets": {BUCKET: bucket}, "objects": {BUCKET: objects},
                                            "resumable": {}, "bucket_iam_policies": {}, "soft_deleted": {}}))


# --------------------------------------------------------------------------- measuring


def measure(variant: str, count: int, template: dict, rounds: int) -> dict[str, float]:
    """Write latencies pooled over `rounds` fresh servers (one round for the slow stock emulator)."""
    times: list[float] = []
    starts, restarts = [], []
    for _ in range(1 if variant == "stock" else rounds):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-storage-{variant}-"))
        try:
            fill(folder, count, template)
            server = Running(variant, folder)
            try:
                uploads = UPLOADS[variant] if isinstance(UPLOADS[variant], int) else UPLOADS[variant][count]
                server.upload("warm-up", b"x")
                times += [server.upload(f"bench/{count}/{i}.bin", os.urandom(4096)) for i in range(uploads)]
            finally:
                server.stop()
            again = Running(variant, folder)  # a restart, with nothing left to migrate
            again.stop()
            starts.append(server.started_s)
            restarts.append(again.started_s)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    times.sort()
    return {"start_s": statistics.median(starts), "restart_s": statistics.median(restarts),
            "median_ms": statistics.median(times) * 1000,
            "p95_ms": times[min(len(times) - 1, int(len(times) * 0.95))] * 1000, "uploads": len(times)}


def durability(variant: str, template: dict, rounds: int = 5) -> int:
    """How many of `rounds` acknowledged uploads survive a SIGKILL 50 ms after the answer."""
    kept = 0
    folder = Path(tempfile.mkdtemp(prefix=f"bench-storage-kill-{variant}-"))
    try:
        fill(folder, 1000, template)
        for round_ in range(rounds):
            server = Running(variant, folder)
            data = os.urandom(4096)
            server.upload(f"kill/{round_}.bin", data)
            time.sleep(0.05)
            server.stop(signal.SIGKILL)
            again = Running(variant, folder)
            kept += again.read(f"kill%2F{round_}.bin") == data
            again.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return kept


def _write_results(lines: list[str]) -> None:
    heading = "## Cloud Storage stand-in"
    section = f"{heading}\n\n" + "\n".join(lines) + "\n"
    write_section(section)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers per size (stock: one)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.data_dir)
        return 0

    template = object_template()
    figures = {(v, n): measure(v, n, template, args.rounds) for n in args.sizes for v in args.variants}
    kept = {v: durability(v, template) for v in args.variants}
    lines = [
        f"`.venv/bin/python bench/bench_storage.py` on the 2-core box, Python {sys.version.split()[0]}: each launcher "
        "a real server process, uploaded to over HTTP (4 KB media uploads, one client), after its metadata was "
        "filled with N objects. Medians (and p95) of every upload over 3 fresh servers per size (the stock "
        "emulator: one).",
        "",
        "| stored objects | " + " | ".join(f"{v}: ms per write (p95)" for v in args.variants)
        + " | sqlite: first start (migrating) / restart |",
        "|---|" + "---|" * len(args.variants) + "---|",
    ]
    for count in args.sizes:
        cells = [f"{figures[v, count]['median_ms']:.1f} ({figures[v, count]['p95_ms']:.1f}), n={figures[v, count]['uploads']}"
                 for v in args.variants]
        sqlite = figures.get(("sqlite", count))
        start = f"{sqlite['start_s']:.2f} s / {sqlite['restart_s']:.2f} s" if sqlite else "-"
        lines.append(f"| {count:,} | " + " | ".join(cells) + f" | {start} |")
    if "sqlite" in args.variants and len(args.sizes) > 1:
        low, high = args.sizes[0], args.sizes[-1]
        lines += ["", f"sqlite, write cost at {high:,} / at {low:,} objects: "
                      f"{figures['sqlite', high]['median_ms'] / figures['sqlite', low]['median_ms']:.2f}x"]
    lines += ["", "Acknowledged uploads still there after a SIGKILL 50 ms after the answer: "
              + ", ".join(f"{v} {kept[v]}/5" for v in args.variants) + "."]
    if {"stock", "sqlite"} <= set(args.variants) and len(args.sizes) > 1:
        low, high = args.sizes[0], args.sizes[-1]
        growth = (figures["stock", high]["median_ms"] - figures["stock", low]["median_ms"]) / (high - low) * 1000
        lines += ["", f"The stock emulator rewrites its whole metadata file on every write: {growth:.1f} us more per "
                      "write for each object it holds. Rows keep the write flat; they cost about as much as the "
                      "former deferred launcher, which was fast only by answering before its metadata was on disk."]
    print("\n".join(lines))
    if not args.no_write:
        _write_results(lines)
        print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
