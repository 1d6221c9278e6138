"""`mangaflow report`, `mangaflow schedules apply` and `mangaflow metrics`: the operator's side of the
local stack, over HTTP like the rest of the CLI (the scheduler through the official client)."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import webbrowser
from pathlib import Path
from typing import Any

import requests


def add_commands(sub: Any) -> None:
    report = sub.add_parser("report", help="make a quality report now and print where it is")
    report.add_argument("--period", choices=["daily", "weekly"], default="daily")
    report.add_argument("--day", help="a UTC day YYYY-MM-DD (default: today; weekly: its ISO week)")
    report.add_argument("--out", help="folder for the page (default: the data folder's reports/)")
    report.add_argument("--open", action="store_true", help="open the page in the browser")
    report.add_argument("--json", action="store_true")
    schedules = sub.add_parser("schedules", help="register infra/schedules.yaml on the local Cloud Scheduler")
    schedules.add_argument("action", choices=["apply"])
    schedules.add_argument("--json", action="store_true")
    metrics = sub.add_parser("metrics", help="the HITL metrics in Prometheus text (the gateway's /_metrics)")
    metrics.add_argument("--url", action="store_true", help="print only the endpoint's URL")


def _gateway() -> str:
    from localcloud import supervisor

    return supervisor.endpoint("gateway")


def report(args: argparse.Namespace, fail: Any) -> int:
    from localcloud import supervisor

    day = args.day or dt.datetime.now(dt.timezone.utc).date().isoformat()
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise fail(f"--day must be a calendar date YYYY-MM-DD; got {day!r}", 2) from None
    answer = requests.post(f"{_gateway()}/quality_report", json={"period": args.period, "day": day, "inline": True},
                           timeout=300)
    body = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
    if answer.status_code != 200:
        raise fail(f"quality_report answered HTTP {answer.status_code}: {body.get('error') or answer.text[:300]}", 1)
    folder = Path(args.out) if args.out else supervisor.local_dir() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"quality-report-{body['period']}-{body['start']}.html").resolve()
    path.write_text(body.pop("html"), encoding="utf-8")
    if args.json:
        print(json.dumps({**body, "path": str(path)}, indent=2, ensure_ascii=False))
    else:
        print(path)
    if args.open:
        webbrowser.open(path.as_uri())
    return 0


def schedules(args: argparse.Namespace, fail: Any) -> int:
    from localcloud import supervisor
    from localcloud.supervisor.parts import apply_schedules
    from mangaflow.errors import DomainError

    host = supervisor.endpoint("scheduler")
    try:
        result = apply_schedules(host, _gateway())
    except DomainError as err:
        raise fail(err.message, 2) from None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for kind in ("created", "updated", "deleted", "left"):
            for job in result[kind]:
                print(f"{kind:<8} {job}")
    return 0


def metrics(args: argparse.Namespace, fail: Any) -> int:
    url = f"{_gateway()}/_metrics"
    if args.url:
        print(url)
        return 0
    answer = requests.get(url, timeout=30)
    if answer.status_code != 200:
        raise fail(f"{url} answered HTTP {answer.status_code}: {answer.text[:300]}", 1)
    print(answer.text, end="")
    return 0
