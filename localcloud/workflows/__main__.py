"""Commands: `serve` (the REST and gRPC APIs, deploying a folder of *.workflows.yaml) and `run` (one execution).

    python -m localcloud.workflows serve --host 127.0.0.1 --port 8085 [--grpc-port 8086] [--data-dir DIR] [--source DIR]
    python -m localcloud.workflows run FILE --data '{"x": 1}' [--env K=V ...]

`serve` keeps workflows and executions in memory unless --data-dir names a folder for its journal; with one, a
restart (or a crash) resumes every unfinished execution. --grpc-port defaults to PORT+1 (0 turns gRPC off).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from .server import ExecutionRecord

from .errors import DeploymentError


def _parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--env expects K=V, got '{item}'")
        key, value = item.split("=", 1)
        env[key] = value
    return env


async def _run_once(path: Path, argument: Any, env: dict[str, str]) -> ExecutionRecord:
    # A real server on a free loopback port, so callback endpoints in the workflow work too.
    from .server import WorkflowsServer

    server = WorkflowsServer("127.0.0.1", 0)
    await server.start()
    try:
        name = path.name.split(".")[0] or "workflow"
        server.service.deploy(name, path.read_text(encoding="utf-8"), env)
        record = server.service.start(name, argument, argument_text=json.dumps(argument))
        await record.done.wait()
        return record
    finally:
        await server.stop()


def cmd_run(args: argparse.Namespace) -> int:
    try:
        argument = json.loads(args.data) if args.data is not None else None
    except ValueError as exc:
        print(f"error: --data is not valid JSON: {exc}", file=sys.stderr)
        return 2
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such workflow file: {path}", file=sys.stderr)
        return 2
    try:
        record = asyncio.run(_run_once(path, argument, _parse_env(args.env or [])))
    except DeploymentError as exc:
        print(f"deployment error: {exc}", file=sys.stderr)
        return 1
    if record.state == "SUCCEEDED":
        print(record.result)
        return 0
    error = record.error or {}
    print(json.dumps({"state": record.state, "error": error}, indent=2), file=sys.stderr)
    return 1


def cmd_serve(args: argparse.Namespace) -> int:
    from .journal import DataDirInUse
    from .server import serve_forever

    if args.source and not Path(args.source).is_dir():
        print(f"error: --source is not a folder: {args.source}", file=sys.stderr)
        return 2
    if args.data_dir and Path(args.data_dir).exists() and not Path(args.data_dir).is_dir():
        print(f"error: --data-dir is not a folder: {args.data_dir}", file=sys.stderr)
        return 2
    grpc_port = args.port + 1 if args.grpc_port is None else args.grpc_port
    if not 0 <= grpc_port <= 65535 or (grpc_port and grpc_port == args.port):
        print(f"error: --grpc-port must be 0 (off) or a port other than --port, got {grpc_port}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve_forever(args.host, args.port, args.source, args.data_dir, grpc_port or None))
    except DeploymentError as exc:
        print(f"deployment error: {exc}", file=sys.stderr)
        return 1
    except DataDirInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a port already taken
        print(f"error: cannot serve on {args.host}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.workflows", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Workflows REST API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8085)
    serve.add_argument("--grpc-port", type=int, default=None,
                       help="port of the Workflow Executions gRPC API (default PORT+1; 0: no gRPC)")
    serve.add_argument("--data-dir", help="folder of the journal: executions survive restarts (default: memory only)")
    serve.add_argument("--source", help="deploy every NAME.workflows.yaml in this folder as NAME")
    serve.set_defaults(func=cmd_serve)
    run = sub.add_parser("run", help="run one workflow file and print its result as JSON")
    run.add_argument("file")
    run.add_argument("--data", help="the execution argument, as JSON")
    run.add_argument("--env", action="append", metavar="K=V", help="an environment variable for sys.get_env")
    run.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
