"""`mangaflow`: make a manga from a story, read a request's state, manage the local stack.

`generate` starts the pipeline through the `start_generation` function, follows it through
`get_progress`, answers each approval gate, and downloads the book through `get_artifact`: the
same HTTP API any client uses (the local stack is brought up first, unless MANGAFLOW_API_URL
points at a deployed service).

Exit codes: 0 done, 1 the run failed, 2 bad input, 75 busy or unavailable (retry later),
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

from rich.console import Console

from .api import ApiClient, ApiError, Unavailable, local_client, local_user, remote_client
from .book import OutFolderError, check_out_folder, download
from .follow import PHASE_NAMES, NoAnswer, Outage, OutageTooLong, auto_approver, follow, terminal_reviewer

EXIT_DONE, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_RETRY_LATER, EXIT_INTERRUPTED = 0, 1, 2, 75, 130

err_console = Console(stderr=True)


class CliError(Exception):
    """Ends the command with a message and an exit code; `json` is printed on stdout with --json."""

    def __init__(self, message: str, code: int = EXIT_FAILED, json_body: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.json_body = json_body


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mangaflow", description="Turn a story into a finished manga.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="run the whole pipeline on a story file")
    gen.add_argument("story_file", metavar="STORY_FILE")
    gen.add_argument("--pages", type=int, default=8, help="pages in the book, 1 to 32 (default 8)")
    gen.add_argument("--out", required=True, metavar="DIR", help="folder for pages/, manga.pdf, manga.cbz, manifest.json")
    mode = gen.add_mutually_exclusive_group()
    mode.add_argument("--auto-approve", action="store_true", help="approve every gate")
    mode.add_argument("--review", action="store_true",
                      help="ask at each gate: approve, modify or skip (default); each gate's review link is printed "
                           "too, and an answer given on that page is taken without pressing enter")
    gen.add_argument("--style", default=None, help="shonen, shojo, seinen, josei or kodomo (default: from the story)")
    gen.add_argument("--language", default="auto", help="ja, en or auto (default)")
    gen.add_argument("--title", default=None)
    gen.add_argument("--timeout", type=int, default=1800, help="seconds each approval gate waits (30 to 86400)")
    gen.add_argument("--concurrency", type=int, default=5, help="panels rendered at once (default 5)")
    gen.add_argument("--provider", choices=["offline", "simulated", "vertex"], default=None,
                     help="offline (rules and storyboard drawings, free), vertex (Gemini on Vertex AI) or simulated "
                          "(default: the service's MANGAFLOW_PROVIDER)")
    gen.add_argument("--budget-usd", type=float, default=None, metavar="USD",
                     help="the most the run may spend on model calls at list price (0 to 100; default: the "
                          "service's MANGAFLOW_BUDGET_USD); past it the rest is drawn procedurally")
    gen.add_argument("--image-mode", choices=["panel", "page"], default=None,
                     help="panel: one image call per panel; page: one per page, cut along the frames (cheaper, "
                          "fewer pixels per panel)")
    gen.add_argument("--json", action="store_true", help="print one JSON summary last")

    status = sub.add_parser("status", help="a request's whole state")
    status.add_argument("request_id", metavar="REQUEST_ID")
    status.add_argument("--json", action="store_true")

    translate = sub.add_parser("translate", help="translate a finished book into English or Japanese (a new request; "
                                                 "the original is kept; no picture is drawn again)")
    translate.add_argument("request_id", metavar="REQUEST_ID")
    translate.add_argument("--to", required=True, choices=["en", "ja"],
                           help="en: horizontal, left to right; ja: vertical, right to left")
    translate.add_argument("--out", default=None, metavar="DIR", help="also download the translated book here")
    translate.add_argument("--json", action="store_true", help="print one JSON summary last")

    reopen = sub.add_parser("reopen", help="reopen a finished request at one phase's approval gate (same request id; "
                                           "earlier phases are kept, unchanged work after it is reused)")
    reopen.add_argument("request_id", metavar="REQUEST_ID")
    reopen.add_argument("--phase", required=True, type=int, choices=range(1, 8), metavar="N",
                        help="the gate to reopen at, 1 to 7: its phase's current version is shown at once")
    again = reopen.add_mutually_exclusive_group()
    again.add_argument("--auto-approve", action="store_true", help="approve every gate (the phases after N run again)")
    again.add_argument("--review", action="store_true", help="ask at each gate, as generate does (default)")
    reopen.add_argument("--out", default=None, metavar="DIR",
                        help="folder for the new book (default: ./REQUEST_ID); the old book's files stay on the service")
    reopen.add_argument("--json", action="store_true", help="print one JSON summary last")

    services = sub.add_parser("services", help="start, stop or inspect the local stack")
    services.add_argument("action", choices=["up", "down", "status", "env"],
                          help="env prints the variables that point clients at the running services")
    services.add_argument("--json", action="store_true")

    from .ops import add_commands

    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from localcloud.supervisor import ServiceError

    from . import ops

    commands = {"generate": generate, "status": show_status, "translate": translate_book, "reopen": reopen_request,
                "services": services_command,
                "report": lambda a: ops.report(a, CliError), "schedules": lambda a: ops.schedules(a, CliError),
                "metrics": lambda a: ops.metrics(a, CliError)}
    try:
        return commands[args.command](args)
    except CliError as err:
        if err.json_body is not None and getattr(args, "json", False):
            print(json.dumps(err.json_body, ensure_ascii=False))
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.code
    except ServiceError as err:  # a local part that is down: its name and the command that starts it
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - a person gets one line, never a traceback
        if os.environ.get("MANGAFLOW_DEBUG") == "1":
            raise
        err_console.print(f"[bold red]error:[/] unexpected {err.__class__.__name__}: {err} "
                          "(run with MANGAFLOW_DEBUG=1 for details)", highlight=False, soft_wrap=True)
        return EXIT_FAILED


# -- the API client ---------------------------------------------------------------------------

def _client(start_stack: bool) -> ApiClient:
    """A deployed service (MANGAFLOW_API_URL, identity in MANGAFLOW_ID_TOKEN), else the local stack."""
    url = os.environ.get("MANGAFLOW_API_URL")
    if url:
        return remote_client(url, os.environ.get("MANGAFLOW_ID_TOKEN") or local_client_token())
    if start_stack:
        from localcloud import supervisor

        with err_console.status("starting the local stack (stores, Workflows engine, function gateway)…"):
            supervisor.up()
    return local_client()


def local_client_token() -> str:
    from localcloud import supervisor
    from mangaflow.auth import issue_local_token

    return issue_local_token(local_user(), supervisor.signing_key())


# -- services ---------------------------------------------------------------------------------

def services_command(args: argparse.Namespace) -> int:
    from localcloud import supervisor

    if args.action == "up":
        try:
            supervisor.up()
        except supervisor.ServiceError as err:
            raise CliError(str(err)) from None
    elif args.action == "down":
        supervisor.down()
        print(json.dumps({"stopped": True})) if args.json else err_console.print("services stopped")
        return EXIT_DONE
    elif args.action == "env":
        variables = supervisor.env()
        print(json.dumps(variables, indent=2) if args.json else
              "\n".join(f"export {key}={value}" for key, value in variables.items()))
        return EXIT_DONE
    rows = supervisor.status()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_services(rows)
    return EXIT_DONE if all(row["healthy"] for row in rows) else EXIT_FAILED


def _print_services(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        mark = "[green]healthy[/]" if row["healthy"] else "[red]down   [/]"
        err_console.print(f"{mark} {row['name']:<10} {row.get('endpoint') or '-':<45} {row.get('version') or ''}",
                          highlight=False, soft_wrap=True)
        if row.get("message"):
            err_console.print(f"        {row['message']}", highlight=False, soft_wrap=True)
        elif row["name"] == "gateway" and row["healthy"]:
            err_console.print(f"        metrics: {row['endpoint']}/_metrics (`mangaflow metrics`)", highlight=False)


# -- status -----------------------------------------------------------------------------------

def show_status(args: argparse.Namespace) -> int:
    api = _client(start_stack=False)
    try:
        state = api.get_status(args.request_id)
    except ApiError as err:
        raise CliError(err.message, EXIT_BAD_INPUT if err.status < 500 else EXIT_FAILED) from None
    except Unavailable as err:
        raise CliError(f"{err}; is the service up? (`mangaflow services status`)") from None
    if args.json:
        print(json.dumps(state, indent=2, ensure_ascii=False, default=str))
        return EXIT_DONE
    console = Console()
    console.print(f"[bold]{state['request_id']}[/]  {state.get('status')}  pages={state.get('pages')}")
    console.print(f"  {_cost_line(state.get('cost'))}", highlight=False, soft_wrap=True)
    for phase in state.get("phases", []):
        attempts = [a for a in phase.get("attempts", []) if a.get("panel_id") is None]
        panels = len({a["panel_id"] for a in phase.get("attempts", []) if a.get("panel_id")})
        best = max((a.get("score") or 0 for a in attempts), default=0)
        gates = ", ".join(str(g.get("decision")) for g in phase.get("gates", []))
        console.print(f"  phase {phase['phase']} {PHASE_NAMES.get(phase['phase'], '')}: {len(attempts)} attempt(s)"
                      + (f" over {panels} panels" if panels else "") + f", best score {best:.2f}, gate: {gates or '-'}"
                      + f"; {_timing_line(phase.get('timing'))}", highlight=False, soft_wrap=True)
    for link in state.get("review_links", []):
        console.print(f"  waiting at the gate after phase {link['phase']}: review it at {link['approval_url']}",
                      highlight=False, soft_wrap=True, markup=False)
    return EXIT_DONE


# -- translate --------------------------------------------------------------------------------

def translate_book(args: argparse.Namespace) -> int:
    """The `translate` function on a finished request; its answer names the new request, whose book is
    downloaded into --out when given."""
    out = None
    if args.out:
        try:
            out = check_out_folder(args.out)
        except OutFolderError as err:
            raise CliError(str(err), EXIT_BAD_INPUT) from None
    api = _client(start_stack=True)
    outage = Outage(err_console)
    key = f"cli-{uuid.uuid4().hex}"  # asked again after an outage, the same key answers with the same translation
    try:
        answer = outage.call(lambda: api.translate(args.request_id, args.to, key))
    except OutageTooLong as err:
        raise CliError(f"{err}; the translation may still have been made (as a new request of yours): see "
                       f"`mangaflow status {args.request_id}`", EXIT_RETRY_LATER, {"error": str(err)}) from None
    except ApiError as err:
        raise _refused(err) from None
    summary = dict(answer)
    if out is not None:
        summary["outputs"] = download(api, answer["request_id"], out, outage.call)["outputs"]
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        calls = answer.get("model_calls") or {}
        note = " (offline: marked stand-in lines, not a translation)" if answer.get("stand_in") else ""
        err_console.print(f"[bold green]done[/] {args.request_id} -> {answer['request_id']}: {answer['lines']} lines in "
                          f"{answer['language']} ({answer['reading_direction']}){note}, {calls.get('text', 0)} text and "
                          f"{calls.get('image', 0)} image calls, {answer['seconds']} s"
                          + (f" -> {out}/" if out is not None else ""), highlight=False, soft_wrap=True)
    return EXIT_DONE


# -- reopen -----------------------------------------------------------------------------------

def reopen_request(args: argparse.Namespace) -> int:
    """The `reopen` function on a finished request, then the run followed and the new book downloaded,
    as generate does; the gates from --phase on are answered here (or on their review pages)."""
    try:
        out = check_out_folder(args.out or args.request_id)
    except OutFolderError as err:
        raise CliError(str(err), EXIT_BAD_INPUT) from None
    started = time.monotonic()
    api = _client(start_stack=True)
    outage = Outage(err_console)
    key = f"cli-{uuid.uuid4().hex}"  # asked again after an outage, the same key answers with the same run
    try:  # --auto-approve answers each gate here, as generate's does (each is recorded as approved)
        accepted = outage.call(lambda: api.reopen(args.request_id, args.phase, "review", key))
    except ApiError as err:
        raise _refused(err) from None
    request_id, execution = accepted["request_id"], accepted["execution"]
    err_console.print(f"request [bold]{request_id}[/] reopened at phase {args.phase} "
                      f"({PHASE_NAMES[args.phase]}): phases {', '.join(map(str, accepted['kept_phases'])) or 'none'} "
                      "kept as they are", highlight=False, soft_wrap=True)
    summary = _follow_and_download(api, accepted, args.auto_approve, outage, out, "the reopened run",
                                   int(accepted.get("hitl_timeout_seconds") or 1800))
    if summary is None:
        return EXIT_INTERRUPTED
    summary.update(seconds=round(time.monotonic() - started, 2), execution=execution,
                   reopened_from_phase=args.phase)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        err_console.print(f"[bold green]done[/] reopened at phase {args.phase}: {summary['pages']} pages -> {out}/ "
                          f"in {summary['seconds']} s; {_cost_line(summary.get('cost'))} (the whole request so far)",
                          highlight=False, soft_wrap=True)
    return EXIT_DONE


# -- generate ---------------------------------------------------------------------------------

def _read_story(path: str) -> str:
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise CliError(f"STORY_FILE: {path} does not exist or is not a file", EXIT_BAD_INPUT)
    try:
        return file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"'text': {path} is not UTF-8 text (binary data is not a story)", EXIT_BAD_INPUT) from None


def _request_body(args: argparse.Namespace, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, "pages": args.pages, "language": args.language,
                            "hitl": {"mode": "review", "timeout_seconds": args.timeout},
                            "concurrency_limit": args.concurrency,
                            # Starting again after an outage must not start the run twice.
                            "idempotency_key": f"cli-{uuid.uuid4().hex}"}
    if args.style:
        body["style"] = args.style
    if args.title:
        body["title"] = args.title
    for option in ("provider", "budget_usd", "image_mode"):
        if getattr(args, option) is not None:
            body[option] = getattr(args, option)
    return body


def _validate(body: dict[str, Any]) -> None:
    """The checks start_generation makes (the same schema and story rules, the same messages),
    before anything is started."""
    from mangaflow.errors import DomainError
    from mangaflow.phases.request import validate_request
    from mangaflow.schemas import validate

    try:
        validate("http/start_generation", body)
        request = {key: body[key] for key in ("text", "pages", "language", "style", "title") if key in body}
        if request.get("language") == "auto":
            request.pop("language")
        validate_request(request)
    except DomainError as err:
        raise CliError(err.message, EXIT_BAD_INPUT) from None


def _refused(err: ApiError) -> CliError:
    """A refused call as the CLI's error: busy (429) is retry-later with the wait; other 4xx are bad input."""
    if err.status == 429:
        wait = round(err.retry_after_s or 0)
        return CliError(f"{err.message} (retry in about {wait} s)", EXIT_RETRY_LATER,
                        {"error": err.message, "retry_after_s": wait})
    return CliError(err.message, EXIT_BAD_INPUT if err.status < 500 else EXIT_FAILED)


def _start(api: ApiClient, body: dict[str, Any], outage: Outage) -> dict[str, Any]:
    try:
        return outage.call(lambda: api.start_generation(body))
    except ApiError as err:
        raise _refused(err) from None


def _how_to_resume(request_id: str, timeout: int) -> str:
    return (f"request {request_id} goes on without this terminal (each approval gate waits up to {timeout} s "
            f"for an answer, then continues); see where it is with `mangaflow status {request_id}`")


def _follow_and_download(api: Any, accepted: dict[str, Any], auto_approve: bool, outage: Outage, out: Any,
                         what: str, timeout: int) -> dict[str, Any] | None:
    """Follow a started (or reopened) run from the answer that started it, answer its gates here, then
    download the book into `out`; the download's summary, or None when interrupted (the run goes on).
    Every other way it ends is a CliError with its exit code."""
    request_id, execution = accepted["request_id"], accepted["execution"]
    answer = auto_approver if auto_approve else terminal_reviewer(err_console)
    try:
        final = follow(api, request_id, answer, execution=execution, console=err_console, outage=outage,
                       after=accepted.get("cursor") or "0")
        if final["status"] != "completed":
            error = outage.call(lambda: api.get_status(request_id)).get("error") or final["status"]
            raise CliError(f"{what} {final['status']}: {error}")
        return download(api, request_id, out, outage.call)
    except (NoAnswer, ApiError) as err:
        _cancel(api, request_id, execution)
        raise CliError(str(err), EXIT_BAD_INPUT if isinstance(err, NoAnswer) else EXIT_FAILED) from None
    except OutageTooLong as err:
        raise CliError(f"stopped following: {err}. {_how_to_resume(request_id, timeout)}", EXIT_RETRY_LATER,
                       {"error": str(err), "request_id": request_id}) from None
    except KeyboardInterrupt:
        err_console.print(f"interrupted: {_how_to_resume(request_id, timeout)}", highlight=False, soft_wrap=True)
        return None


def generate(args: argparse.Namespace) -> int:
    body = _request_body(args, _read_story(args.story_file))
    _validate(body)
    try:
        out = check_out_folder(args.out)
    except OutFolderError as err:
        raise CliError(str(err), EXIT_BAD_INPUT) from None
    started = time.monotonic()
    api = _client(start_stack=True)
    outage = Outage(err_console)
    accepted = _start(api, body, outage)
    request_id, execution = accepted["request_id"], accepted["execution"]
    err_console.print(f"request [bold]{request_id}[/] started: {_models_line(accepted)}", highlight=False,
                      soft_wrap=True)
    summary = _follow_and_download(api, accepted, args.auto_approve, outage, out, "the pipeline", args.timeout)
    if summary is None:
        return EXIT_INTERRUPTED
    summary.update(seconds=round(time.monotonic() - started, 2), execution=execution)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        err_console.print(f"[bold green]done[/] {summary['pages']} pages, {summary['panels']} panels -> {out}/ "
                          f"in {summary['seconds']} s; {_cost_line(summary.get('cost'))}", highlight=False,
                          soft_wrap=True)
    return EXIT_DONE


def _models_line(accepted: dict[str, Any]) -> str:
    """Which provider the service runs the request with (the running gateway decides the default)."""
    if not accepted.get("provider"):
        return "provider chosen by the service"
    line = f"provider {accepted['provider']}"
    if accepted["provider"] != "offline":
        line += (f", image mode {accepted.get('image_mode')}, budget ${float(accepted.get('budget_usd') or 0):.2f}, "
                 f"{accepted.get('concurrency_limit')} panels at once")
    return line


def _timing_line(timing: dict[str, Any] | None) -> str:
    """A phase's wall span and where it went (get_status's `timing`)."""
    if not timing:
        return "time unknown"
    line = f"{timing['span_s']:.2f} s wall"
    if timing.get("panel_calls"):
        line += f" ({timing['panel_calls']} panel calls, {timing['panels_s']:.2f} s summed)"
    return line + f", AI wait {timing['ai_wait_s']:.2f} s in {timing['ai_calls']} call(s)"


def _cost_line(cost: dict[str, Any] | None) -> str:
    """What the run's model calls cost at list price, and whether the budget stopped the model."""
    if not cost:
        return "cost unknown"
    calls = cost.get("model_calls") or {}
    line = (f"cost ${float(cost.get('usd') or 0):.4f} ({cost.get('provider', '?')}: {calls.get('text', 0)} text and "
            f"{calls.get('image', 0)} image calls, {cost.get('cache_hits', 0)} cache hits)")
    if cost.get("budget_stopped"):
        line += f"; the budget of ${float(cost.get('budget_usd') or 0):.2f} stopped the model: {cost.get('stop_reason')}"
    return line


def _cancel(api: ApiClient, request_id: str, execution: str) -> None:
    """Nobody is left to answer the run's gates: cancel it, which also frees the user's slot."""
    try:
        api.cancel_generation(request_id, execution)
        err_console.print(f"request {request_id} cancelled", highlight=False)
    except (ApiError, Unavailable) as err:
        err_console.print(f"(could not cancel {request_id}: {err}; see `mangaflow status {request_id}`)",
                          highlight=False, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
