"""Command line for the embedded services: `up|down|status [--json]` (wired as `mangaflow services`)."""

from __future__ import annotations

import argparse
import json
import sys

from localcloud.services import manager


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mangaflow services", description="Manage the embedded local services.")
    parser.add_argument("action", choices=["up", "down", "status", "env"], help="what to do")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return parser


def _print_table(rows: list[dict]) -> None:
    for row in rows:
        mark = "healthy" if row["healthy"] else ("running, not healthy" if row["running"] else "down")
        version = row.get("version") or "-"
        print(f"{row['name']:<10} {mark:<22} {row.get('endpoint') or '-':<45} {version}")


def main(argv: list[str]) -> int:
    """Runs one action; returns the process exit code (1 when a service is down or failed)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.action == "up":
            manager.up()
            rows = manager.status()
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                _print_table(rows)
                print(f"data in {manager.local_dir()}")
            return 0 if all(row["healthy"] for row in rows) else 1
        if args.action == "down":
            manager.down()
            rows = manager.status()
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                print("stopped: " + ", ".join(row["name"] for row in rows))
            return 0
        if args.action == "env":
            variables = manager.env()
            if args.json:
                print(json.dumps(variables, indent=2))
            else:
                for key, value in variables.items():
                    print(f"export {key}={value}")
            return 0
        rows = manager.status()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_table(rows)
            if not all(row["healthy"] for row in rows):
                print(f"start the missing services with `{manager.START_COMMAND}`")
        return 0 if all(row["healthy"] for row in rows) else 1
    except manager.ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
