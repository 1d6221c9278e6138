"""The function gateway: every Cloud Function entry point served from one local process.

Each target gets its own functions-framework app (`create_app(target, source)`, exactly what Cloud
Functions runs), mounted at `/<target>` behind one WSGI dispatcher.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_SOURCE = REPO / "functions" / "main.py"
WORKER_STARTED = 0.0  # when this process built its app (loaded the function code)


def targets(source: Path = FUNCTIONS_SOURCE) -> list[str]:
    """The entry points `main.py` re-exports (its `__all__`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_mangaflow_main_probe", source)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return list(module.__all__)


def _not_found(environ, start_response):  # type: ignore[no-untyped-def]
    body = json.dumps({"error": f"no function at {environ.get('PATH_INFO', '/')}", "status": 404})
    return Response(body, status=404, mimetype="application/json")(environ, start_response)


# The addresses this process was started with, by the part behind each (what `services status` checks).
LINK_VARIABLES = ("WORKFLOWS_EMULATOR_HOST", "DATABASE_URL", "REDIS_URL", "STORAGE_EMULATOR_HOST",
                  "FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "VERTEX_AI_EMULATOR_HOST")


def _reaches(variable: str, address: str) -> tuple[bool, str]:
    """Whether this process reaches `address`: a TCP connection, and for the engine a look at the
    deployed pipeline (the gateway can start executions only if it is there)."""
    parts = urlsplit(address if "//" in address else f"//{address}")
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=2).close()
    except OSError as err:
        return False, f"{err.__class__.__name__}: {err}"
    workflow = os.environ.get("MANGAFLOW_WORKFLOW")
    if variable == "WORKFLOWS_EMULATOR_HOST" and workflow:
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"http://{address}/v1/{workflow}", timeout=3).close()
        except urllib.error.HTTPError as err:
            return False, f"the engine answered {err.code} for {workflow} (not deployed?)"
        except OSError as err:
            return False, f"{err.__class__.__name__}: {err}"
    return True, ""


def _links() -> dict[str, Any]:
    links = {}
    for variable in LINK_VARIABLES:
        address = os.environ.get(variable)
        ok, error = _reaches(variable, address) if address else (False, f"{variable} is not set")
        links[variable] = {"address": address, "ok": ok, **({"error": error} if error else {})}
    return links


# What the functions import only when first called, on a book's path: without a warm-up the first book after
# `services up` (each worker's first calls) paid about 2 s of imports (bench/RESULTS.md, "Fixed costs").
WARM_MODULES = ("PIL.Image", "PIL.ImageDraw", "PIL.ImageFont", "PIL.ImageOps", "PIL.ImageFilter", "PIL.ImageChops",
                "PIL.PngImagePlugin", "PIL.WebPImagePlugin", "google.cloud.storage", "google.cloud.pubsub_v1",
                "google.cloud.workflows.executions_v1", "janome.tokenizer", "jsonschema", "redis")
# Not on an offline or simulated book's path, and heavy: the Vertex AI client (google-genai, aiohttp, httpx) is
# 24 MB and 0.7 s, paid by the first book asking for `provider: vertex` instead.
WARM_SKIP = ("mangaflow.providers.vertex",)
# What this worker's warm-up did (in /_health): modules imported, those that failed, schema validators built,
# objects then frozen.
WARM: dict[str, Any] = {"done": False, "modules": 0, "failed": [], "validators": 0, "frozen_objects": 0}


def warm_imports() -> None:
    """Imports every module of the functions' package and WARM_MODULES, in the background of a new worker, so a
    book's first calls do not wait for them. A module that fails to import is named in /_health, never fatal:
    the call that needs it raises as it would have."""
    import importlib
    import pkgutil

    names = list(WARM_MODULES)
    try:
        import mangaflow

        names += [m.name for m in pkgutil.walk_packages(mangaflow.__path__, "mangaflow.") if m.name not in WARM_SKIP]
    except ImportError as err:
        WARM["failed"].append(f"mangaflow: {err}")
    for name in names:
        try:
            importlib.import_module(name)
            WARM["modules"] += 1
        except Exception as err:  # noqa: BLE001 - a warm-up never stops the worker
            WARM["failed"].append(f"{name}: {type(err).__name__}: {err}")
    try:  # every schema's validator built (and its schema checked) once, before a call needs it
        from mangaflow import schemas

        WARM["validators"] = schemas.warm_validators()
    except Exception as err:  # noqa: BLE001 - a warm-up never stops the worker
        WARM["failed"].append(f"validators: {type(err).__name__}: {err}")
    # What the imports made lives as long as the worker: out of the cyclic collector's sight, its full
    # collections no longer walk every module, schema and client object again (about 7 % of a worker's CPU
    # over a 32-page book: bench/RESULTS.md, "All cores").
    gc.collect()
    gc.freeze()
    WARM["frozen_objects"] = gc.get_freeze_count()
    WARM["done"] = True


def _health(environ, start_response):  # type: ignore[no-untyped-def]
    # worker_started tells the supervisor a reload (SIGHUP: new workers, new code) has taken effect.
    body: dict[str, Any] = {"healthy": True, "worker_started": WORKER_STARTED, "pid": os.getpid(), "warm": WARM}
    if "links" in parse_qs(environ.get("QUERY_STRING", "")):
        body["links"] = _links()
    return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


def _metrics(environ, start_response):  # type: ignore[no-untyped-def]
    """The HITL metrics in Prometheus text (every worker's events added up, gauges observed now)."""
    from mangaflow import metrics

    try:
        body, status = metrics.prometheus_text(), 200
    except Exception as err:  # noqa: BLE001 - a scrape gets a plain answer, never a trace
        body, status = f"# metrics unavailable: {type(err).__name__}: {err}\n".encode(), 503
    return Response(body, status=status, mimetype="text/plain; version=0.0.4")(environ, start_response)


def build_app(names: Iterable[str] | None = None, source: Path = FUNCTIONS_SOURCE):  # type: ignore[no-untyped-def]
    """One WSGI app dispatching `/<target>` to that target's functions-framework app."""
    from functions_framework import create_app

    global WORKER_STARTED
    WORKER_STARTED = time.time()
    mounts = {f"/{name}": create_app(name, str(source)) for name in (names or targets(source))}
    mounts["/_health"] = _health
    mounts["/_metrics"] = _metrics
    dispatcher = DispatcherMiddleware(_not_found, mounts)

    def function_root(environ, start_response):  # type: ignore[no-untyped-def]
        # `/phase1_concept` is the function's own root, as in the cloud: served, not redirected to `/`.
        if environ.get("PATH_INFO", "") in mounts:
            environ["PATH_INFO"] += "/"
        return dispatcher(environ, start_response)

    return function_root


def function_urls(base_url: str | None, overrides: Iterable[str] = ()) -> dict[str, str]:
    """Every entry point's URL under `base_url` (a gateway), then `NAME=URL` overrides; ValueError names a
    malformed override. What the local scheduler's jobs and Pub/Sub's pushes call."""
    urls = {name: f"{base_url.rstrip('/')}/{name}" for name in targets()} if base_url else {}
    for item in overrides:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"--function-url expects NAME=URL, got '{item}'")
        urls[name] = url
    return urls


M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters (malloc.h)


def _mallopt(*settings: tuple[int, int]) -> bool:
    """glibc's mallopt(parameter, value) for each setting, in this process; True when glibc took them all,
    False where there is no glibc."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(bool(libc.mallopt(parameter, value)) for parameter, value in settings)


LEAN_MMAP_THRESHOLD = 2 << 20   # a transparent huge page: every buffer this large is its own mapping


def lean_allocator() -> bool:
    """`--allocator lean` (the default): two malloc arenas and a fixed 2 MB mmap threshold in each worker, so
    every large buffer (a panel's 2x canvas, a page, a big mask) is its own mapping, backed by huge pages
    (`with_hugepages`) and handed back to the system when freed, and memory one thread freed is reused by the
    next thread's allocation instead of staying in its own arena. Each new mapping is faulted in again, which
    costs CPU: bench/RESULTS.md, "Memory", has the peaks and the CPU seconds against glibc's defaults. False
    where there is no glibc."""
    return _mallopt((M_ARENA_MAX, 2), (M_MMAP_THRESHOLD, LEAN_MMAP_THRESHOLD))


def two_arenas() -> bool:
    """`--allocator arenas`: at most two malloc arenas in each worker (glibc's default is 8 per core), so
    memory one thread freed is reused by the next thread's allocation instead of staying in its own arena;
    glibc's dynamic mmap threshold is kept. False where there is no glibc."""
    return _mallopt((M_ARENA_MAX, 2))


def fixed_mmap_threshold(threshold: int = 4 << 20) -> bool:
    """`--allocator mmap`: a fixed mmap threshold of 4 MB in each worker and glibc's arenas: every buffer
    that large (a panel's supersampled canvas, a page, their big masks) is its own mapping, handed back to the
    system when freed, while smaller allocations stay in the arenas. glibc's dynamic threshold rises to the
    largest buffer freed (up to 32 MB), after which canvases come from the arenas, which keep them. False
    where there is no glibc."""
    return _mallopt((M_MMAP_THRESHOLD, threshold))


HUGEPAGES_TUNABLE = "glibc.malloc.hugetlb=1"


def with_hugepages(env: dict[str, str]) -> dict[str, str]:
    """`env` with glibc's malloc told to ask for transparent huge pages (2 MB) for its memory
    (`glibc.malloc.hugetlb=1`, glibc 2.35 and later; an older glibc ignores it, and so does a kernel whose
    transparent huge pages are `never`). A tunable another caller set is kept."""
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb=" in tunables:
        return dict(env)
    return {**env, "GLIBC_TUNABLES": f"{tunables}:{HUGEPAGES_TUNABLE}" if tunables else HUGEPAGES_TUNABLE}


def serve(host: str, port: int, workers: int = 1, threads: int = 8, keepalive: int = 0,
          allocator: str = "lean") -> None:
    """Serve every function from gunicorn worker processes (several use every core, as Cloud
    Functions scales out). SIGHUP loads new function code into new workers while the old ones
    finish their requests; SIGTERM stops accepting at once and lets in-flight calls finish.

    No keep-alive by default: a kept connection stays with the worker that accepted it, so the engine's
    pooled connections pinned a whole book's panel calls to one worker (one core drawing, the other idle;
    bench/RESULTS.md, "All cores"). A new connection per call goes to whichever worker accepts it first."""
    from gunicorn.app.base import BaseApplication

    class _Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"{host}:{port}", "workers": max(1, workers), "threads": threads,
                               "worker_class": "gthread", "timeout": 600, "graceful_timeout": 30,
                               "keepalive": max(0, keepalive),
                               "accesslog": None, "errorlog": "-", "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):  # type: ignore[no-untyped-def]
            # in the worker, before its threads allocate anything ("glibc": nothing to set)
            {"lean": lean_allocator, "arenas": two_arenas, "mmap": fixed_mmap_threshold}.get(allocator, bool)()
            app = build_app()
            threading.Thread(target=warm_imports, name="warm-imports", daemon=True).start()
            return app

    print(json.dumps({"gateway": f"http://{host}:{port}", "workers": workers}), flush=True)
    _Gateway().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--keepalive", type=int, default=0,
                        help="seconds a connection is kept open for another request (default 0: closed after each)")
    parser.add_argument("--allocator", choices=("lean", "glibc", "arenas", "mmap"), default="lean",
                        help="lean (default): 2 malloc arenas and a fixed 2 MB mmap threshold per worker (a "
                             "32-page book's peak per worker under 400 MB); glibc: glibc's defaults (40-70 MB "
                             "higher, 10-15 %% faster); arenas: 2 malloc arenas only; mmap: a fixed 4 MB mmap "
                             "threshold only: bench/RESULTS.md, \"Memory\"")
    parser.add_argument("--no-hugepages", dest="hugepages", action="store_false",
                        help="leave glibc's malloc on 4 KB pages (default: transparent huge pages, GLIBC_TUNABLES "
                             "glibc.malloc.hugetlb=1, so the lean allocator's fresh mappings are faulted in 2 MB "
                             "at a time: bench/RESULTS.md, \"Memory\")")
    args = parser.parse_args(argv)
    wanted = with_hugepages(dict(os.environ))
    if argv is None and args.hugepages and wanted != dict(os.environ):
        # glibc reads its tunables when a process starts: from the command line, the gateway starts again as
        # the same process (same pid and arguments) with the tunable set, and its workers inherit it.
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], wanted)
    try:
        serve(args.host, args.port, args.workers, args.threads, args.keepalive, args.allocator)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
