"""Commands: `serve` (the local Pub/Sub), `health` (the gRPC health check, exit 0 when serving) and
`ensure` (create the topics and subscriptions of infra/pubsub.yaml through the official client).

    python -m localcloud.pubsub serve --host 127.0.0.1 --port 8681 --data-dir .local/pubsub
    python -m localcloud.pubsub health --address 127.0.0.1:8681
    PUBSUB_EMULATOR_HOST=127.0.0.1:8681 python -m localcloud.pubsub ensure --function-base-url http://127.0.0.1:8090
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
        asyncio.run(serve_forever(args.host, args.port, Path(args.data_dir)))
    except (OSError, sqlite3.Error) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from .health import check

    serving, version = check(args.address, args.timeout)
    print(json.dumps({"healthy": serving, "version": version}))
    return 0 if serving else 1


def cmd_ensure(args: argparse.Namespace) -> int:
    from localcloud.gateway import function_urls

    from .topology import ensure

    try:
        urls = function_urls(args.function_base_url, args.function_url or [])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        result = ensure(args.pubsub_file, urls, args.project, args.service_account)
    except DomainError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.pubsub", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Pub/Sub gRPC API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8681)
    serve.add_argument("--data-dir", required=True, help="folder of the SQLite file (topics, subscriptions, messages)")
    serve.set_defaults(func=cmd_serve)
    health = sub.add_parser("health", help="gRPC health check; exit 0 when serving")
    health.add_argument("--address", required=True, help="HOST:PORT")
    health.add_argument("--timeout", type=float, default=2.0)
    health.set_defaults(func=cmd_health)
    ensure = sub.add_parser("ensure", help="create/update the topics and subscriptions of a pubsub file "
                                           "(PUBSUB_EMULATOR_HOST names the server)")
    ensure.add_argument("--pubsub-file", default=str(REPO / "infra" / "pubsub.yaml"))
    ensure.add_argument("--project", default="mangaflow-local")
    ensure.add_argument("--function-base-url", help="the gateway: each function is BASE/<function>")
    ensure.add_argument("--function-url", action="append", metavar="NAME=URL")
    ensure.add_argument("--service-account", help="push with an OIDC token for this account")
    ensure.set_defaults(func=cmd_ensure)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
