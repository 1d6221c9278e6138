"""The function gateway: each entry point at `/<name>`, exactly as functions-framework serves it."""
from __future__ import annotations

import contextlib
import gc
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator

from werkzeug.test import Client

from localcloud import gateway
from localcloud.gateway import build_app, targets


def test_every_exported_entry_point_is_mounted_at_its_name_without_redirects():
    client = Client(build_app(["start_generation", "get_status"]))
    response = client.post("/start_generation", json={"text": ""})
    assert response.status_code == 400  # the function itself answered: no 308 to a trailing slash
    assert response.json["field"] == "text"
    assert client.post("/get_status/", json={}).status_code == 400


def test_unknown_paths_get_a_json_404():
    client = Client(build_app(["get_status"]))
    response = client.post("/nope", json={})
    assert response.status_code == 404 and "no function" in response.json["error"]


def test_targets_are_main_py_exports():
    names = targets()
    assert {"start_generation", "phase1_concept", "phase7_finalize", "record_decision", "review_gate"} <= set(names)


def test_health_reports_the_addresses_it_uses_and_whether_it_reaches_them(monkeypatch):
    import socket

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{listening.getsockname()[1]}/mangaflow")
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed.getsockname()[1]}/0")
        monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
        app = Client(build_app(["get_status"]))
        plain = app.get("/_health").json
        assert plain["healthy"] is True and plain["worker_started"] > 0 and "links" not in plain
        links = app.get("/_health?links=1").json["links"]
        assert links["DATABASE_URL"]["ok"] is True
        assert links["DATABASE_URL"]["address"].endswith(f":{listening.getsockname()[1]}/mangaflow")
        assert links["REDIS_URL"]["ok"] is False and "ConnectionRefusedError" in links["REDIS_URL"]["error"]
        assert links["FIRESTORE_EMULATOR_HOST"] == {"address": None, "ok": False,
                                                    "error": "FIRESTORE_EMULATOR_HOST is not set"}
    finally:
        listening.close()
        closed.close()


def test_a_worker_warms_what_a_book_imports_and_says_so_in_its_health():
    """A new worker imports the functions' modules and WARM_MODULES in the background (the first book after
    `services up` no longer waits for them); /_health tells whether that is done and what failed to import."""

    app = Client(build_app(["get_status"]))
    try:
        gateway.warm_imports()
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()   # this test's process is pytest's, not a worker's
    health = app.get("/_health").json["warm"]
    assert health["done"] is True and health["failed"] == []
    # what the imports made is out of the cyclic collector's sight (its full collections cost a worker 7 %)
    assert health["frozen_objects"] > 100_000 and frozen > 100_000
    # every HTTP and phase schema's validator is built before a call needs it (its schema checked once)
    from mangaflow import schemas
    files = [p for folder in ("http", "phases") for p in (schemas.schema_dir() / folder).glob("*.json")]
    assert health["validators"] == len(files) >= 20
    assert schemas._validator.cache_info().currsize >= len(files)
    assert health["modules"] >= len(gateway.WARM_MODULES) + 50  # the package's own modules too
    assert {"google.cloud.pubsub_v1", "google.cloud.storage", "mangaflow.phases.phase5_images",
            "mangaflow.render.panel_art"} <= set(sys.modules)


@contextlib.contextmanager
def started_gateway(*flags: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """`python -m localcloud.gateway` with `flags` on a free port, once it answers /_health as healthy."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    started = subprocess.Popen([sys.executable, "-m", "localcloud.gateway", "--port", str(port), *flags], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer is None and time.monotonic() < deadline and started.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_health", timeout=2) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(0.2)
        assert answer is not None and answer["healthy"] is True, flags
        yield started
    finally:
        started.terminate()
        started.wait(30)


def test_each_allocator_is_set_in_the_worker_and_the_gateway_serves_with_it():
    """`--allocator lean`, `arenas` and `mmap` set glibc's parameters in each worker before its threads
    allocate (mallopt answers 1 when it took them), and a gateway started with either serves its functions."""
    probe = ("import json, sys; from localcloud.gateway import fixed_mmap_threshold, lean_allocator, two_arenas; "
             "print(json.dumps([two_arenas(), lean_allocator(), fixed_mmap_threshold()]))")
    assert json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                     check=True).stdout) == [True, True, True]
    for allocator in ("lean", "arenas", "mmap", "glibc"):
        with started_gateway("--workers", "1", "--allocator", allocator):
            pass


def test_with_hugepages_adds_the_tunable_once_and_keeps_the_callers():
    assert gateway.with_hugepages({})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    assert gateway.with_hugepages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})["GLIBC_TUNABLES"] == \
        "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    # a caller's own choice (here: off) is not overridden
    assert gateway.with_hugepages({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"
    env = {"PATH": "/bin"}
    assert gateway.with_hugepages(env) is not env and env == {"PATH": "/bin"}


def _worker_environments(master: int) -> list[dict[str, str]]:
    children = pathlib.Path(f"/proc/{master}/task/{master}/children").read_text().split()
    found = []
    for pid in [master, *map(int, children)]:
        raw = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
        found.append(dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item))
    return found


def test_the_gateway_starts_again_with_huge_pages_as_the_same_process_and_its_workers_inherit_them():
    """From the command line the gateway re-executes itself (same pid, same arguments) with glibc's hugetlb
    tunable, since glibc reads it only at a process's start; `--no-hugepages` leaves the environment alone."""
    for flags, expected in (((), "glibc.malloc.hugetlb=1"), (("--no-hugepages",), None)):
        env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
        with started_gateway("--workers", "2", *flags, env=env) as started:
            environments = _worker_environments(started.pid)   # the pid we started is still the master
            assert len(environments) == 3, flags
            assert [e.get("GLIBC_TUNABLES") for e in environments] == [expected] * 3, flags


def test_huge_pages_reach_the_kernel_where_it_offers_them():
    """A process started with the tunable backs a large image with transparent huge pages whenever the kernel's
    setting is `madvise` or `always` (and with none where it is `never`): the faults that made drawing slow
    happen once per 2 MB, not once per 4 KB."""
    mode = re.search(r"\[(\w+)\]", pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()).group(1)
    probe = ("from PIL import Image; canvas = Image.new('RGB', (3656, 5208), (250, 250, 250)); "
             "import re; print(re.search(r'AnonHugePages:\\s+(\\d+)', open('/proc/self/smaps_rollup').read()).group(1))")

    def huge_kb(env: dict[str, str]) -> int:
        return int(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                  check=True).stdout)

    plain = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    with_tunable = huge_kb(gateway.with_hugepages(plain))
    if mode == "never":
        assert with_tunable == 0
    else:
        assert with_tunable >= 32 * 1024   # most of the canvas's 76 MB
        if mode == "madvise":
            assert huge_kb(plain) < with_tunable
