"""The function gateway: every Cloud Function entry point served from one local process.

Each target gets its own functions-framework app (`create_app(target, source)`, exactly what Cloud
Functions runs), mounted at `/<target>` behind one WSGI dispatcher.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_SOURCE = REPO / "functions" / "main.py"


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


def _health(environ, start_response):  # type: ignore[no-untyped-def]
    return Response(json.dumps({"healthy": True}), mimetype="application/json")(environ, start_response)


def build_app(names: Iterable[str] | None = None, source: Path = FUNCTIONS_SOURCE):  # type: ignore[no-untyped-def]
    """One WSGI app dispatching `/<target>` to that target's functions-framework app."""
    from functions_framework import create_app

    mounts = {f"/{name}": create_app(name, str(source)) for name in (names or targets(source))}
    mounts["/_health"] = _health
    dispatcher = DispatcherMiddleware(_not_found, mounts)

    def function_root(environ, start_response):  # type: ignore[no-untyped-def]
        # `/phase1_concept` is the function's own root, as in the cloud: served, not redirected to `/`.
        if environ.get("PATH_INFO", "") in mounts:
            environ["PATH_INFO"] += "/"
        return dispatcher(environ, start_response)

    return function_root


def serve(host: str, port: int, workers: int = 1, threads: int = 8) -> None:
    """Serve every function; several worker processes use every core (Cloud Functions scales out too)."""
    if workers <= 1:
        server = make_server(host, port, build_app(), threaded=True)
        print(json.dumps({"gateway": f"http://{host}:{server.server_port}"}), flush=True)
        server.serve_forever()
        return
    from gunicorn.app.base import BaseApplication

    class _Gateway(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                               "worker_class": "gthread", "timeout": 600, "accesslog": None,
                               "errorlog": "-", "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):  # type: ignore[no-untyped-def]
            return build_app()

    print(json.dumps({"gateway": f"http://{host}:{port}", "workers": workers}), flush=True)
    _Gateway().run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.gateway", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1: threads only)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.workers, args.threads)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
