"""Commands: `serve` (the local Cloud Scheduler) and `apply` (register infra/schedules.yaml through the
official client).

    python -m localcloud.scheduler serve --host 127.0.0.1 --port 8091 --data-dir .local/scheduler [--manual-clock]
    python -m localcloud.scheduler apply --endpoint 127.0.0.1:8091 --function-base-url http://127.0.0.1:8090
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys
from pathlib import Path

from mangaflow.errors import DomainError

REPO = Path(__file__).resolve().parents[2]


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve_forever(args.host, args.port, Path(args.data_dir), args.manual_clock))
    except (OSError, sqlite3.Error) as err:  # the port is taken, the data folder cannot be written
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _function_urls(args: argparse.Namespace) -> dict[str, str]:
    from localcloud.gateway import function_urls

    try:
        return function_urls(args.function_base_url, args.function_url or [])
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


def cmd_apply(args: argparse.Namespace) -> int:
    from .apply import apply

    try:
        result = apply(args.schedules, _function_urls(args), args.endpoint, args.project, args.location,
                       args.service_account)
    except DomainError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.scheduler", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Cloud Scheduler REST API and fire the jobs")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8091)
    serve.add_argument("--data-dir", required=True, help="folder of the SQLite file (jobs and attempts)")
    serve.add_argument("--manual-clock", action="store_true", help="let POST /_clock set the time (tests)")
    serve.set_defaults(func=cmd_serve)
    apply = sub.add_parser("apply", help="create/update/delete the jobs of a schedules file")
    apply.add_argument("--schedules", default=str(REPO / "infra" / "schedules.yaml"))
    apply.add_argument("--endpoint", help="the scheduler, host:port or URL (default: CLOUD_SCHEDULER_EMULATOR_HOST, "
                                          "else the cloud's Cloud Scheduler)")
    apply.add_argument("--project", default="mangaflow-local")
    apply.add_argument("--location", default="local")
    apply.add_argument("--function-base-url", help="the gateway: each function is BASE/<function>")
    apply.add_argument("--function-url", action="append", metavar="NAME=URL", help="one function's URL")
    apply.add_argument("--service-account", help="send an OIDC token for this account with each call")
    apply.set_defaults(func=cmd_apply)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
