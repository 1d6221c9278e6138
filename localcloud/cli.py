"""`mangaflow`: generate a manga locally, read a request's state, manage the embedded services.

`generate` brings up the local stack (stores, function gateway, Workflows engine), starts the real
pipeline YAML through `start_generation`, follows its progress, answers each approval gate through
its callback URL, and downloads the book. Exit codes: 0 done, 1 the run failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import requests
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt

PHASE_NAMES = {1: "concept", 2: "characters", 3: "plot", 4: "name (storyboard)", 5: "panel images",
               6: "lettering", 7: "pages and exports"}

err_console = Console(stderr=True)


class CliError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mangaflow", description="Turn a story into a finished manga, locally.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="run the whole pipeline on a story file")
    gen.add_argument("story_file", metavar="STORY_FILE")
    gen.add_argument("--pages", type=int, default=8, help="pages in the book, 1 to 32 (default 8)")
    gen.add_argument("--out", required=True, metavar="DIR", help="folder for pages/, manga.pdf, manga.cbz, manifest.json")
    mode = gen.add_mutually_exclusive_group()
    mode.add_argument("--auto-approve", action="store_true", help="approve every gate through its callback URL")
    mode.add_argument("--review", action="store_true", help="ask at each gate: approve, modify or skip (default)")
    gen.add_argument("--style", default=None, help="shonen, shojo, seinen, josei or kodomo (default: from the story)")
    gen.add_argument("--language", default="auto", help="ja, en or auto (default)")
    gen.add_argument("--title", default=None)
    gen.add_argument("--timeout", type=int, default=1800, help="seconds each approval gate waits (30 to 86400)")
    gen.add_argument("--concurrency", type=int, default=5, help="panels rendered at once (default 5)")
    gen.add_argument("--json", action="store_true", help="print one JSON summary last")

    status = sub.add_parser("status", help="a request's whole state from the stores")
    status.add_argument("request_id", metavar="REQUEST_ID")
    status.add_argument("--json", action="store_true")

    services = sub.add_parser("services", help="start, stop or inspect the embedded services")
    services.add_argument("action", choices=["up", "down", "status", "env"],
                          help="env prints the variables that point clients at the running services")
    services.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .services.manager import ServiceError

    try:
        if args.command == "generate":
            return generate(args)
        if args.command == "status":
            return show_status(args)
        return services_command(args)
    except CliError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, markup=True, soft_wrap=True)
        return err.code
    except ServiceError as err:  # a store that is down: its name and the command that starts it
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, markup=True)
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


# -- services ---------------------------------------------------------------------------------

def services_command(args: argparse.Namespace) -> int:
    from . import stack

    if args.action == "up":
        try:
            info = stack.up()
        except Exception as err:  # noqa: BLE001 - one clear message per failing service
            raise CliError(str(err)) from None
        rows = stack.status()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_services(rows)
            err_console.print(f"gateway {info['gateway']}  workflows {info['workflows']}")
        return 0 if all(r["healthy"] for r in rows) else 1
    if args.action == "env":
        from .services import manager

        variables = manager.env()
        print(json.dumps(variables, indent=2) if args.json else
              "\n".join(f"export {key}={value}" for key, value in variables.items()))
        return 0
    if args.action == "down":
        stack.down()
        if not args.json:
            err_console.print("services stopped")
        else:
            print(json.dumps({"stopped": True}))
        return 0
    rows = stack.status()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_services(rows)
    return 0 if all(r["healthy"] for r in rows) else 1


def _print_services(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        mark = "[green]healthy[/]" if row["healthy"] else "[red]down   [/]"
        err_console.print(f"{mark} {row['name']:<10} {row.get('endpoint') or '-':<45} {row.get('version') or ''}",
                          highlight=False, soft_wrap=True)
    if not all(row["healthy"] for row in rows):
        err_console.print("start what is down with: mangaflow services up")


# -- status -----------------------------------------------------------------------------------

def _store_env() -> None:
    """Point this process's store clients at the running local services."""
    from .services import manager

    try:
        os.environ.update(manager.env())
    except manager.ServiceError as err:
        raise CliError(str(err)) from None


def show_status(args: argparse.Namespace) -> int:
    _store_env()
    from mangaflow.bootstrap import stores
    from mangaflow.errors import DomainError
    from mangaflow.service import requests as request_service

    try:
        state = request_service.request_state(stores(), args.request_id)
    except DomainError as err:
        raise CliError(err.message, code=2 if err.status < 500 else 1) from None
    if args.json:
        print(json.dumps(state, indent=2, ensure_ascii=False, default=str))
        return 0
    console = Console()
    console.print(f"[bold]{state['request_id']}[/]  {state.get('status')}  pages={state.get('pages')}")
    for phase in state.get("phases", []):
        attempts = [a for a in phase.get("attempts", []) if a.get("panel_id") is None]
        panels = len({a["panel_id"] for a in phase.get("attempts", []) if a.get("panel_id")})
        best = max((a.get("score") or 0 for a in attempts), default=0)
        gates = ", ".join(str(g.get("decision")) for g in phase.get("gates", []))
        console.print(f"  phase {phase['phase']} {PHASE_NAMES.get(phase['phase'], '')}: {len(attempts)} attempt(s)"
                      + (f" over {panels} panels" if panels else "") + f", best score {best:.2f}, gate: {gates or '-'}",
                      highlight=False, soft_wrap=True)
    return 0


# -- generate ---------------------------------------------------------------------------------

def _read_story(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise CliError(f"STORY_FILE: {path} does not exist or is not a file", code=2)
    raw = file.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"'text': {path} is not UTF-8 text (binary data is not a story)", code=2) from None


def _request_body(args: argparse.Namespace, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, "pages": args.pages, "language": args.language,
                            "hitl": {"mode": "review", "timeout_seconds": args.timeout},
                            "concurrency_limit": args.concurrency}
    if args.style:
        body["style"] = args.style
    if args.title:
        body["title"] = args.title
    return body


def _validate_locally(body: dict[str, Any]) -> None:
    """The same checks start_generation makes, before any server is started."""
    from mangaflow.errors import DomainError
    from mangaflow.service.requests import validate_start_body

    try:
        validate_start_body(body)
    except DomainError as err:
        raise CliError(err.message, code=2) from None


def generate(args: argparse.Namespace) -> int:
    from . import stack

    text = _read_story(args.story_file)
    body = _request_body(args, text)
    _validate_locally(body)
    out = Path(args.out)
    started = time.monotonic()
    with err_console.status("starting the local stack (stores, gateway, workflows engine)…"):
        try:
            info = stack.up()
        except Exception as err:  # noqa: BLE001
            raise CliError(f"{err} (try: mangaflow services status)") from None
    os.environ.update(info["stores"])
    gateway = info["gateway"]
    response = requests.post(f"{gateway}/start_generation", json=body, headers=auth_headers(), timeout=60)
    if response.status_code >= 400:
        message = _error_message(response)
        raise CliError(message, code=2 if response.status_code < 500 else 1)
    accepted = response.json()
    request_id = accepted["request_id"]
    err_console.print(f"request [bold]{request_id}[/] started")
    answer = _auto_approver if args.auto_approve else _terminal_reviewer
    try:
        result = follow(request_id, accepted["execution"], info["workflows"], answer)
    except (CliError, KeyboardInterrupt):
        _abandon(request_id, accepted["execution"], info["workflows"])
        raise
    summary = download(request_id, out, gateway)
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["execution"] = result.get("name")
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        err_console.print(f"[bold green]done[/] {summary['pages']} pages, {summary['panels']} panels -> {out}/ "
                          f"in {summary['seconds']} s")
    return 0


def local_user() -> str:
    """Who runs the CLI: MANGAFLOW_USER, else the operating-system account."""
    import getpass

    return os.environ.get("MANGAFLOW_USER") or getpass.getuser() or "developer"


def auth_headers(user_id: str | None = None) -> dict[str, str]:
    """A local developer identity for the functions (what an ID token is in the cloud)."""
    from mangaflow.auth import issue_local_token

    from .stack import signing_key

    return {"Authorization": f"Bearer {issue_local_token(user_id or local_user(), signing_key())}"}


def _abandon(request_id: str, execution: str, workflows_host: str) -> None:
    """Nobody is left to answer: cancel the execution, mark the request and free the user's slot."""
    from mangaflow.stores import postgres
    from mangaflow.stores.sessions import session_store

    try:
        requests.post(f"http://{workflows_host}/v1/{execution}:cancel", json={}, timeout=10)
        request = postgres.get_request(request_id)
        if request.get("status") not in ("completed", "failed"):
            postgres.update_request(request_id, status="cancelled")
        session_store().release(request.get("user_id") or "local-user", request_id)
    except Exception as err:  # noqa: BLE001 - the original error is the one to report
        err_console.print(f"(could not cancel {request_id}: {err})", highlight=False)


def _error_message(response: requests.Response) -> str:
    try:
        payload = response.json()
        return payload.get("error") or response.text
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"


Answer = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def _auto_approver(gate: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "token": gate["token"], "decided_by": "cli:auto-approve"}


def _terminal_reviewer(gate: dict[str, Any]) -> dict[str, Any]:
    try:
        return _ask_at_gate(gate)
    except EOFError:
        raise CliError(f"no answer on standard input at the gate after phase {gate['phase']}; "
                       "answer in a terminal, or use --auto-approve", code=2) from None


def _ask_at_gate(gate: dict[str, Any]) -> dict[str, Any]:
    phase = gate["phase"]
    err_console.rule(f"approval gate after phase {phase}: {PHASE_NAMES.get(phase, '')}")
    if gate.get("summary"):
        err_console.print(gate["summary"], highlight=False, markup=False)
    if gate.get("preview_uri"):
        err_console.print(f"preview: {gate['preview_uri']}", highlight=False)
    choices = ["approve", "modify", "skip"] + (["revert"] if int(gate.get("attempt") or 1) > 1 else [])
    choice = Prompt.ask("approve, modify, skip the remaining gates" + (", or revert to an earlier attempt"
                        if "revert" in choices else "") + "?", choices=choices, default="approve", console=err_console)
    answer: dict[str, Any] = {"decision": choice, "token": gate["token"], "decided_by": "cli:review"}
    if choice == "modify":
        answer["feedback"] = Prompt.ask("what should change?", console=err_console)
    if choice == "revert":
        earlier = [str(n) for n in range(1, int(gate["attempt"]))]
        answer.update(decision="approve", attempt=int(Prompt.ask("go on with attempt", choices=earlier,
                                                                 default=earlier[-1], console=err_console)))
    return answer


_terminal_reviewer.interactive = True  # type: ignore[attr-defined]


def follow(request_id: str, execution: str, workflows_host: str, answer: Answer) -> dict[str, Any]:
    """Show progress per phase and per panel until the execution ends; answer gates as they open."""
    from mangaflow.bootstrap import stores
    from mangaflow.service import live

    base = f"http://{workflows_host}/v1/{execution}"
    cursor = "0"
    answered: set[str] = set()
    progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=err_console,
                        transient=False)
    tasks: dict[str, Any] = {}

    def task(key: str, description: str, total: int = 1) -> Any:
        if key not in tasks:
            tasks[key] = progress.add_task(description, total=total, note="")
        return tasks[key]

    last_poll = 0.0
    with progress:
        while True:
            cursor, events = live.read(stores(), request_id, cursor, block_ms=200)
            for event in events:
                kind, phase = event.get("type"), int(event.get("phase") or 0)
                label = f"{phase} {PHASE_NAMES.get(phase, '')}"
                if kind == "phase_started":
                    task(f"p{phase}", label)
                elif kind == "panels_planned":
                    progress.update(task("panels", "  panels", int(event["total"])), total=int(event["total"]), completed=0)
                elif kind == "panel_done":
                    progress.advance(task("panels", "  panels"))
                elif kind == "phase_done":
                    progress.update(task(f"p{phase}", label), completed=1,
                                    note=f"score {float(event.get('score', 0)):.2f} {event.get('decision', '')}")
                elif kind == "gate_open" and event["gate_id"] not in answered:
                    answered.add(event["gate_id"])
                    interactive = getattr(answer, "interactive", False)
                    if interactive:  # the prompt needs the terminal to itself
                        progress.stop()
                    reply = answer(event)
                    if interactive:
                        progress.start()
                    if reply is None:  # let the gate time out
                        continue
                    sent = requests.post(event["callback_url"], json=reply, timeout=30)
                    if sent.status_code >= 400:
                        raise CliError(f"the callback for gate {event['gate_id']} answered {sent.status_code}: {sent.text[:300]}")
                elif kind == "gate_decided":
                    progress.update(task(f"p{phase}", label), note=f"{event.get('decision')}")
            now = time.monotonic()
            if now - last_poll > 0.5:
                last_poll = now
                polled = requests.get(base, timeout=30)
                if polled.status_code >= 400:
                    raise CliError(f"the Workflows engine no longer knows {execution} ({polled.status_code}); "
                                   "was it restarted? see mangaflow status " + request_id)
                execution_state = polled.json()
                state = execution_state.get("state")
                if state == "SUCCEEDED":
                    return execution_state
                if state in ("FAILED", "CANCELLED"):
                    error = execution_state.get("error", {})
                    raise CliError(f"the pipeline {state.lower()}: {error.get('payload', error)}")


def download(request_id: str, out: Path, gateway: str) -> dict[str, Any]:
    """Copy the finished book from the stores into `out` and summarise the run."""
    from mangaflow.stores import objects

    status = requests.post(f"{gateway}/get_status", json={"request_id": request_id}, headers=auth_headers(), timeout=60)
    if status.status_code >= 400:
        raise CliError(_error_message(status))
    state = status.json()
    exports = state.get("exports") or {}
    (out / "pages").mkdir(parents=True, exist_ok=True)
    page_paths = []
    for page in state.get("final_pages", []):
        path = out / "pages" / f"{int(page['page']):03d}.png"
        path.write_bytes(objects.get_bytes(page["uri"]))
        page_paths.append(str(path))
    outputs: dict[str, Any] = {"pages": page_paths}
    for key, name in (("pdf", "manga.pdf"), ("cbz", "manga.cbz"), ("manifest", "manifest.json")):
        if exports.get(key):
            path = out / name
            path.write_bytes(objects.get_bytes(exports[key]))
            outputs[key] = str(path)
    phases = []
    for phase in state.get("phases", []):
        attempts = [a for a in phase.get("attempts", []) if a.get("panel_id") is None]
        chosen = next((a for a in attempts if a.get("selected")), attempts[-1] if attempts else {})
        gates = phase.get("gates", [])
        phases.append({"phase": phase["phase"], "seconds": round(sum(a.get("seconds") or 0 for a in attempts), 3),
                       "attempts": len(attempts), "quality_score": chosen.get("score"),
                       "decision": gates[-1].get("decision") if gates else chosen.get("decision")})
    return {"request_id": request_id, "pages": len(page_paths), "panels": state.get("panel_count", 0),
            "outputs": outputs, "phases": phases}


if __name__ == "__main__":
    sys.exit(main())
