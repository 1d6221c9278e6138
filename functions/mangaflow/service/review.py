"""The approval link a person opens: the request's review page (every piece of story text escaped
by the template engine), its live progress, images and font, and the decisions it sends to the
workflow's callback, checked against the link's signed token or the review session it granted.

The token never travels in a URL a server logs or a browser keeps: the link carries it in the
fragment (`#token=...`), which browsers do not send; the page's script exchanges it by POST for a
review session (an HttpOnly cookie scoped to the review path, bound to the request), then drops
the fragment from the address bar and history. The session lets the page follow the request from
gate to gate and answer each one, as the link's holder was asked to.
"""
from __future__ import annotations

import functools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests as http
from markupsafe import Markup

from ..bootstrap import Stores
from ..config import settings
from ..auth import Principal
from ..errors import Conflict, DomainError, Forbidden, NotFound, UpstreamUnavailable, ValidationError
from ..hitl import intents, tokens
from ..review import assets, model, session
from . import executions, live
from .access import load_request
from .gates import MAX_MODIFICATIONS, deadline_epoch, gate_of, shown_attempt
from .reopening import refusal, reopen_request

DECISIONS = ("approve", "modify", "skip")
FINAL_STATUSES = ("completed", "failed", "cancelled")
_EVENT_WAIT_S = 8  # one long poll of the page; a gunicorn thread is held that long at most
_HIDDEN_EVENT_FIELDS = ("token", "callback_url", "approval_url")


@dataclass(frozen=True)
class Page:
    """An HTML page, its status, the nonce its script and style run with, and where it may load
    images from besides itself (the signed-URL host in the cloud)."""

    body: str
    status: int = 200
    nonce: str = ""
    image_hosts: tuple[str, ...] = ()
    cookie: tuple[str, str, int] | None = None
    redirect: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def _templates(language: str = "en") -> Any:
    """The page templates, with the `say` filter speaking `language`."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parents[1] / "review" / "templates")),
                                     autoescape=True, trim_blocks=True, lstrip_blocks=True, finalize=_visible_controls)
    environment.filters["say"] = model.labeller(language)
    return environment


# Direction overrides and isolates in story text would reorder what the page shows around them
# ("gnp.exe" shown as "exe.png"): every value the page prints shows them as their code instead.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _visible_controls(value: Any) -> Any:
    if isinstance(value, str) and _BIDI_CONTROLS.search(value):
        shown = _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)
        return Markup(shown) if isinstance(value, Markup) else shown
    return value


def _render(name: str, language: str = "en", **values: Any) -> tuple[str, str]:
    nonce = secrets.token_urlsafe(16)
    return _templates(language).get_template(name).render(nonce=nonce, **values), nonce


def _page_words(language: str) -> str:
    """Every word the page's script may put on the page later (progress, states)."""
    return "".join(model.WORDS[language].values()) + "".join(model.LABELS[language].values()) + "0123456789/:·"


def _with_font(stores: Stores, name: str, language: str, values: dict[str, Any], font_for: Any) -> tuple[str, str]:
    """Render `name`; a Japanese page is rendered again with a CJK web font cut to its characters
    (placeholders, titles and the script's words included), so any machine renders it."""
    wants_font = language == "ja" and font_for is not None
    html, nonce = _render(name, language, font_url=_FONT_URL_SLOT if wants_font else "", **values)
    if wants_font:
        # urlencode leaves no quote, backslash or angle bracket: safe to set raw inside <style>.
        html = html.replace(_FONT_URL_SLOT, font_for(assets.register_font(stores, html + _page_words(language))), 1)
    return html, nonce


_FONT_URL_SLOT = "mf-font-url-slot"  # where the font's address goes once the page's characters are known


def message_page(title: str, message: str, status: int = 200, *, details: tuple[str, ...] = (),
                 steps: tuple[tuple[str, str | None], ...] = (), actions: tuple[tuple[str, str], ...] = (),
                 lang: str = "en", stores: Stores | None = None, links: model.Links | None = None,
                 cookie: tuple[str, str, int] | None = None) -> Page:
    """A page that says one thing and what to do next (numbered steps, a command to run, a button)."""
    language = lang if lang in model.WORDS else "en"
    colour = "#1b7f3b" if status < 300 else "#b3261e"
    values = dict(title=title, message=message, details=details, steps=steps, actions=actions, lang=language,
                  colour=colour, next_title=model.NOTICES[language]["next"])
    html, nonce = _with_font(stores, "message.html", language, values,
                             links.font if stores is not None and links is not None else None)
    return Page(html, status, nonce, cookie=cookie)


def error_page(err: DomainError, lang: str = "en") -> Page:
    """What a browser meets when its request cannot be answered: the reason and the next step."""
    language = lang if lang in _ERROR_TITLES else "en"
    words = model.NOTICES[language]
    step = {503: words["retry_step"], 409: words["reload_step"], 422: words["reload_step"]}.get(err.status,
                                                                                              words["generic_step"])
    titles = _ERROR_TITLES[language]
    # The message itself stays as the service wrote it (English): it names the field and the limit.
    return message_page(titles.get(err.status, titles[0]), err.message, err.status, steps=((step, None),),
                        lang=language)


_ERROR_TITLES = {
    "en": {0: "This cannot be done", 400: "This cannot be read", 401: "This link cannot be used",
           403: "This link is not valid", 404: "Nothing to review here", 409: "Already decided", 413: "Too large",
           422: "This change cannot be made", 503: "Try again in a moment"},
    "ja": {0: "この操作はできません", 400: "読み取れない内容です", 401: "このリンクは使えません", 403: "このリンクは無効です",
           404: "確認するものがありません", 409: "回答済みです", 413: "大きすぎます", 422: "この修正はできません",
           503: "少し待ってからもう一度お試しください"},
}


# -- who may look: the link's token, or the session it granted ---------------------------------

def _checked_gate(stores: Stores, request_id: str, phase: int, gate_id: str, token: str) -> dict[str, Any]:
    gate = gate_of(stores, gate_id, request_id)
    if int(gate["phase"]) != phase:
        raise tokens.InvalidToken("this link is for another phase", field="phase")
    tokens.verify(token, request_id, phase, gate["gate_id"])
    return gate


def open_session(stores: Stores, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str, int]]:
    """Exchange the link's token (sent by POST from the fragment) for the request's review session."""
    request_id = body["request_id"]
    _checked_gate(stores, request_id, int(body["phase"]), body["gate_id"], str(body.get("token") or ""))
    value, max_age = session.issue(request_id)
    return {"ok": True}, (session.cookie_name(request_id), value, max_age)


def _when(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    return ""


def open_link(stores: Stores, body: dict[str, Any], root: str, browser_language: str = "en") -> Page:
    """A browser opening an approval link (its form posts the fragment's token): the review page
    with its session (a 303 to it), or a page of its own for a link that is forged, expired or
    whose gate was answered already, each saying what to do next."""
    request_id, phase, token = body["request_id"], int(body["phase"]), str(body.get("token") or "")
    link_query = {k: str(body[k]) for k in ("request_id", "phase", "gate_id")}
    links = model.Links(root, link_query)
    try:
        gate = gate_of(stores, body["gate_id"], request_id)
        if int(gate["phase"]) != phase:
            raise tokens.InvalidToken("this link is for another phase", field="phase")
        tokens.verify(token, request_id, phase, gate["gate_id"], now=0)  # signed for this gate (at any time)
    except (tokens.InvalidToken, DomainError):
        return _forged_page(stores, request_id, browser_language, links)
    request = load_request(stores, request_id)
    language = request.get("language") if request.get("language") in model.WORDS else "en"
    words, say = model.NOTICES[language], model.labeller(language)
    decided = gate.get("decided_at") is not None or gate.get("timed_out")
    decision = say("timeout" if gate.get("timed_out") else gate.get("decision"))
    ask = (words["ask_newest"], f"mangaflow status {request_id}")
    try:
        tokens.verify(token, request_id, phase, gate["gate_id"])
    except tokens.InvalidToken:  # authentic, but past the gate's deadline
        details = (words["expired_timeout"] if gate.get("timed_out") else
                   words["expired_decided"].format(decision=decision) if decided else words["expired_open"],)
        return message_page(words["expired_title"], words["expired"].format(
            phase=phase, deadline=_when(gate.get("deadline"))), 403, details=details, steps=(ask,), lang=language,
            stores=stores, links=links)
    cookie = (session.cookie_name(request_id), *session.issue(request_id))
    if not decided:
        return Page("", 303, redirect=links.page(), cookie=cookie)
    who = str(gate.get("decided_by") or "")
    said_who = words.get(f"who_{who}") or words["who"].format(who=who)
    now = _open_gate(stores, request_id) if request["status"] not in FINAL_STATUSES else None
    if now is not None:
        state, action = words["now_open"].format(phase=now["phase"]), words["open_answer"].format(phase=now["phase"])
    else:
        status = request["status"] if request["status"] in FINAL_STATUSES else "working"
        state = words[f"now_{status}"]
        action = words["open_book"] if status == "completed" else words["open_page"]
    return message_page(words["decided_title"], words["decided"].format(
        phase=phase, decision=decision, who=said_who, when=_when(gate.get("decided_at"))), 200, details=(state,),
        actions=((action, links.page()),), lang=language, stores=stores, links=links, cookie=cookie)


def _forged_page(stores: Stores, request_id: str, language: str, links: model.Links) -> Page:
    """Nothing about the request is told to a link that was not signed for it (the page speaks the
    browser's language)."""
    words = model.NOTICES[language if language in model.NOTICES else "en"]
    return message_page(words["forged_title"], words["forged"], 403, lang=language, stores=stores, links=links,
                        steps=((words["forged_step1"], None), (words["ask_new"], f"mangaflow status {request_id}")))


def _has_session(body: dict[str, Any], cookies: dict[str, str]) -> bool:
    return session.valid(cookies.get(session.cookie_name(body["request_id"])), body["request_id"])


def _admit(stores: Stores, body: dict[str, Any], cookies: dict[str, str]) -> None:
    """A valid token for the link's gate (API clients), or the request's review session."""
    if body.get("token"):
        _checked_gate(stores, body["request_id"], int(body["phase"]), body["gate_id"], str(body["token"]))
    else:
        session.require(cookies, body["request_id"])


def _gate_token(gate: dict[str, Any]) -> str:
    """The token of an open gate, as open_gate signed it (the session holder answers it with this)."""
    return tokens.sign(gate["request_id"], int(gate["phase"]), gate["gate_id"], deadline_epoch(gate))


# -- the page --------------------------------------------------------------------------------

def _open_gate(stores: Stores, request_id: str, gates: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The gate waiting for an answer now (of `gates`, else the request's own)."""
    waiting = [g for g in (stores.gates.list(request_id) if gates is None else gates)
               if g.get("decided_at") is None and not g.get("timed_out") and deadline_epoch(g) > time.time()]
    return max(waiting, key=lambda g: (int(g["phase"]), int(g.get("round") or 0))) if waiting else None


def _gates(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for record in state.get("phases", []) for g in record.get("gates", [])]


def _shown(stores: Stores, gate: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """The attempt a gate shows and its preview (the attempt a modification builds on)."""
    preview = model.read_json(stores, gate["preview_uri"]) if gate.get("preview_uri") else {}
    return (int(preview["attempt"]) if preview.get("attempt") else None), preview


def _last_finished(state: dict[str, Any]) -> tuple[int, int] | None:
    """The newest finished (phase, attempt) to show when no gate is open (the book, once done)."""
    for record in sorted(state.get("phases", []), key=lambda p: -p["phase"]):
        whole = [int(a["attempt"]) for a in record["attempts"] if a.get("panel_id") is None
                 and a.get("status") == "succeeded" and a.get("output_uri")]
        if whole:
            return record["phase"], max(whole)
    return None


def review_page(stores: Stores, body: dict[str, Any], cookies: dict[str, str], root: str,
                browser_language: str = "en", viewer: Principal | None = None) -> Page:
    """The link's own page, which posts the fragment's token (or says the link has none), or (with
    the session or a token) the review. `viewer`: who the browser is signed in as, if anyone (the owner
    is offered to reopen a finished book)."""
    if not body.get("token") and not _has_session(body, cookies):
        language = browser_language if browser_language in model.NOTICES else "en"
        links = model.Links(root, {k: str(body[k]) for k in ("request_id", "phase", "gate_id")})
        html, nonce = _with_font(stores, "shell.html", language, dict(lang=language, words=model.NOTICES[language],
                                 request_id=body["request_id"]), links.font)
        return Page(html, nonce=nonce)
    _admit(stores, body, cookies)
    return render_review(stores, body, root, viewer=viewer)


def render_review(stores: Stores, body: dict[str, Any], root: str, *, error: DomainError | None = None,
                  status: int = 200, viewer: Principal | None = None) -> Page:
    """The request's review page: its phases, the open gate's preview (or the finished book), the
    versions, and the answer; `error` is an answer that could not be carried out, said on the page."""
    request_id = body["request_id"]
    try:  # one read: the request, its attempts, gates and previews
        state = stores.requests.state(request_id)
    except KeyError:
        raise NotFound(f"request_id {request_id!r} does not exist", field="request_id") from None
    request, gates = state, _gates(state)
    language = request.get("language") if request.get("language") in model.WORDS else "en"
    words = model.WORDS[language]
    link_query = {k: str(body[k]) for k in ("request_id", "phase", "gate_id")}
    links = model.Links(root, link_query)
    gate = _open_gate(stores, request_id, gates) if request["status"] not in FINAL_STATUSES else None
    view, versions, comparison, phase, gate_view = None, [], None, None, None
    if gate is not None:
        phase = int(gate["phase"])
        attempt, preview = _shown(stores, gate)
        gate_view = {"phase": phase, "gate_id": gate["gate_id"], "modify_error": preview.get("modify_error"),
                     "deadline_text": datetime.fromtimestamp(deadline_epoch(gate), timezone.utc)
                     .strftime("%Y-%m-%d %H:%M UTC")}
    else:
        finished = _last_finished(state) if request["status"] == "completed" else None
        phase, attempt = finished if finished else (None, None)
    if phase is not None and attempt is not None:
        view = model.preview(phase, model.attempt_output(stores, state, phase, attempt), attempt, links)
        versions = model.versions(stores, state, phase)
        pair = _compare_pair(body)
        if pair is not None:
            outputs = [model.attempt_output(stores, state, phase, n) for n in pair]
            if all(outputs):
                comparison = model.comparison(phase, outputs[0], outputs[1], pair, links)
    link_gate = next((g for g in gates if g["gate_id"] == body["gate_id"]), None)
    link_note = ""
    # With a gate open, the bar above the preview says which one waits; the link's own gate matters
    # when nothing waits (the link's gate was the last, or the book is done).
    if link_gate is not None and (link_gate.get("decided_at") or link_gate.get("timed_out")) and gate is None:
        say = model.labeller(language) if language != "en" else str  # English keeps the decision's own word
        link_note = words["link_decided"].format(phase=link_gate["phase"],
                                                 decision=say(link_gate.get("decision") or "timeout"))
    notice = words["sent"].format(decision=body["sent"]) if body.get("sent") in DECISIONS else ""
    hidden = Markup("").join(Markup('<input type="hidden" name="{}" value="{}">').format(k, v) for k, v in (
        ("request_id", request_id), ("phase", phase), ("gate_id", gate["gate_id"] if gate else ""))) if gate else Markup("")
    cursor = live.read(stores, request_id, "0")[0] if request["status"] not in FINAL_STATUSES else "0"
    values = dict(lang=language, w=words, request=request, book_title=_book_title(stores, request, state),
                  cost=cost_line(stores, request, words),
                  steps=model.steps(state, gate), gate=gate_view,
                  view=view, phase=phase, versions=versions, comparison=comparison, link_query=link_query,
                  quick=model.quick_options(phase or 0, language), hidden=lambda: hidden,
                  can_modify=gate is not None and int(gate.get("round") or 0) < MAX_MODIFICATIONS,
                  notice=notice, link_note=link_note, cursor=cursor,
                  error=(error.in_language(language) if isinstance(error, intents.NotApplicable) else error.message)
                  if error is not None else "",
                  ended=request["status"] in FINAL_STATUSES, events_url=links.events(),
                  live_words={k: words[k] for k in _LIVE_WORDS},
                  refresh=gate is None and request["status"] not in FINAL_STATUSES,
                  reopen=_reopen_offer(request, viewer))
    html, nonce = _with_font(stores, "page.html", language, values, links.font)
    return Page(html, status, nonce, image_hosts=_image_hosts())


def _reopen_offer(request: dict[str, Any], viewer: Principal | None) -> dict[str, Any] | None:
    """The owner of a finished book may reopen it at a gate (a link holder is never offered it); the form
    carries a key of its own, so posting it twice reopens once."""
    if viewer is None or viewer.user_id != request.get("user_id") or refusal(request) is not None:
        return None
    return {"key": secrets.token_hex(16), "phase": 7}


def reopen_from_page(stores: Stores, body: dict[str, Any], viewer: Principal | None, client_address: str) -> dict[str, Any]:
    """The page's reopen form: the owner only (a link's session is not enough), then `reopen` itself."""
    if viewer is None:
        raise Forbidden("only the request's owner may reopen it: sign in as the owner (an approval link answers "
                        "its gates only)", field="request_id")
    if body.get("reopen_phase") in (None, ""):
        raise ValidationError("'reopen_phase' is required to reopen (a phase 1 to 7)", status=400, field="reopen_phase")
    ask = {"request_id": body["request_id"], "phase": int(body["reopen_phase"]), "hitl_mode": "review"}
    if body.get("reopen_key"):
        ask["idempotency_key"] = f"page-{body['reopen_key']}"
    return reopen_request(stores, ask, viewer, client_address)


def cost_line(stores: Stores, request: dict[str, Any], words: dict[str, str]) -> str:
    """What the request's model calls cost so far at list price, with its provider and budget, in a line."""
    from .phases import cost_of

    cost = cost_of(stores, request)
    line = words["cost"].format(usd=cost["usd"], provider=cost["provider"], text=cost["model_calls"]["text"],
                                image=cost["model_calls"]["image"], cache=cost["cache_hits"])
    if cost.get("budget_usd") is not None:
        line += words["budget"].format(budget=cost["budget_usd"])
    if cost.get("budget_stopped"):
        line += words["budget_stopped"]
    return line


_LIVE_WORDS = ("phase", "running", "waiting", "done", "pending", "panels", "score")  # what the page's script writes


def _book_title(stores: Stores, request: dict[str, Any], state: dict[str, Any]) -> str:
    """The title the person gave, else the one the concept found (its newest version)."""
    if request.get("title"):
        return str(request["title"])
    concept = next((p for p in state.get("phases", []) if p["phase"] == 1), None)
    runs = model.whole_attempts(concept.get("attempts", [])) if concept else {}
    if not runs:
        return ""
    output = model.read_json(stores, runs[max(runs)]["output_uri"])
    return str((output.get("story_context") or {}).get("title") or "")


def _compare_pair(body: dict[str, Any]) -> tuple[int, int] | None:
    try:
        first, second = int(body.get("compare_a") or 0), int(body.get("compare_b") or 0)
    except ValueError:
        return None
    return (first, second) if first and second and first != second else None


def _image_hosts() -> tuple[str, ...]:
    """Where signed URLs point (the storage emulator locally, Cloud Storage in the cloud)."""
    if not settings().signed_urls:
        return ()
    host = settings().storage_emulator_host
    if host:
        return (host if host.startswith("http") else f"http://{host}",)
    return ("https://storage.googleapis.com",)


# -- what the page loads -----------------------------------------------------------------------

def events(stores: Stores, body: dict[str, Any], cookies: dict[str, str]) -> dict[str, Any]:
    """Progress events after `after` for the page (a short long poll); no tokens or callback URLs."""
    _admit(stores, body, cookies)
    request_id = body["request_id"]
    cursor, found = live.read(stores, request_id, str(body.get("after") or "0"))
    deadline = time.monotonic() + min(float(body.get("wait_s") or _EVENT_WAIT_S), _EVENT_WAIT_S)
    status = stores.requests.get(request_id)["status"]
    while not found and status not in FINAL_STATUSES and time.monotonic() < deadline:
        cursor, found = live.read(stores, request_id, cursor,
                                  block_ms=max(1, min(4000, int((deadline - time.monotonic()) * 1000))))
        status = stores.requests.get(request_id)["status"]
    found = [{k: v for k, v in event.items() if k not in _HIDDEN_EVENT_FIELDS} for event in found]
    return {"request_id": request_id, "events": found, "cursor": cursor, "status": status}


def artifact(stores: Stores, body: dict[str, Any], cookies: dict[str, str]) -> assets.Served:
    _admit(stores, body, cookies)
    if not body.get("uri"):
        raise ValidationError("'uri' names the image to show", field="uri")
    if body.get("size") == "thumb":
        return assets.thumbnail(stores, body["request_id"], body["uri"])
    return assets.original(stores, body["request_id"], body["uri"])


def lettered(stores: Stores, body: dict[str, Any], cookies: dict[str, str]) -> assets.Served:
    _admit(stores, body, cookies)
    try:
        attempt, page = int(body.get("attempt") or 0), int(body.get("page") or 0)
    except ValueError:
        raise ValidationError("'attempt' and 'page' are whole numbers", field="page") from None
    output = model.output_of(stores, body["request_id"], 6, attempt)
    if not output:
        raise DomainError(f"phase 6 has no finished attempt {attempt}", status=404, field="attempt")
    return assets.lettered_page(stores, body["request_id"], output, page)


def font(stores: Stores, body: dict[str, Any], cookies: dict[str, str]) -> assets.Served:
    """The page's font subset. No session is asked for: the pages that tell a browser its link cannot
    be used need the font too, and a subset tells only which characters a page uses, to whoever
    knows its key (a hash of exactly those characters)."""
    if not re.fullmatch(r"[0-9a-f]{24}", str(body.get("key") or "")):
        raise ValidationError("'key' names a font subset (24 hex digits)", field="key")
    return assets.web_font(stores, body["key"])


# -- answering ---------------------------------------------------------------------------------

def _callback_headers() -> dict[str, str]:
    if executions.is_local():
        return {}
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    return {"Authorization": f"Bearer {credentials.token}"}


def send_decision(gate: dict[str, Any], answer: dict[str, Any]) -> None:
    """POST the answer to the gate's own callback, and to nothing else: the stored URL must be a
    callback of this workflow's executions (so the function's credentials never go elsewhere)."""
    url = str(gate.get("callback_url") or "")
    if not executions.is_callback_url(url):
        raise Conflict("this gate has no callback of the pipeline to answer", field="gate_id")
    try:
        response = http.post(url, json=answer, headers=_callback_headers(), timeout=30, allow_redirects=False)
    except http.RequestException as err:
        raise UpstreamUnavailable(f"the workflow could not be reached ({err.__class__.__name__})") from None
    if response.status_code >= 300:
        raise Conflict(f"the workflow is no longer waiting on this gate ({response.status_code})", field="gate_id")


_MOVES = {"up": (0.0, -0.06), "down": (0.0, 0.06), "left": (-0.06, 0.0), "right": (0.06, 0.0)}
_SIZES = {"bigger": 1.25, "smaller": 0.8}


def bubble_from_form(body: dict[str, Any]) -> dict[str, Any] | None:
    """The bubble editor's fields (or a JSON client's `bubble` object) as one bubble edit."""
    bubble = body.get("bubble")
    if isinstance(bubble, dict) or not bubble:
        return bubble or None
    panel_id, _, index = str(bubble).partition("|")
    if not re.fullmatch(r"p[0-9]{2,3}-[0-9]{1,2}", panel_id) or not index.isdigit():
        raise ValidationError("'bubble' is a panel and a bubble number such as 'p01-1|0'", field="bubble")
    edit: dict[str, Any] = {"panel_id": panel_id, "dialogue_index": int(index)}
    if body.get("bubble_move"):
        if body["bubble_move"] not in _MOVES:
            raise ValidationError("'bubble_move' is up, down, left or right", field="bubble_move")
        edit["move"] = list(_MOVES[body["bubble_move"]])
    if body.get("bubble_size"):
        if body["bubble_size"] not in _SIZES:
            raise ValidationError("'bubble_size' is bigger or smaller", field="bubble_size")
        edit["scale"] = _SIZES[body["bubble_size"]]
    if body.get("bubble_shape"):
        edit["shape"] = body["bubble_shape"]
    if str(body.get("bubble_text") or "").strip():
        edit["text"] = str(body["bubble_text"]).strip()
    return edit


def check_applicable(stores: Stores, gate: dict[str, Any], answer: dict[str, Any]) -> None:
    """NotApplicable when the phase could not carry the modification out: the gate stays open on
    the version shown, and the person reads what the phase can do instead."""
    phase = int(gate["phase"])
    intent = intents.parse(phase, str(answer.get("feedback") or ""), answer.get("option"))
    feedback = intents.feedback_for_phase(phase, answer, intent)
    if not feedback.get("text", "").strip() and not feedback.get("option"):
        raise intents.NotApplicable("say what should change, or pick one of the quick changes", field="feedback",
                                    said={"ja": "どこを直すかを書くか、クイック修正を選んでください"})
    attempt = shown_attempt(stores, gate)
    shown = model.output_of(stores, gate["request_id"], phase, attempt) if attempt else {}
    if phase == 5 and feedback.get("option") == "regenerate_panel" and feedback.get("value"):
        drawn = sorted(i.get("panel_id") for i in shown.get("image_descriptions") or [])
        if drawn and feedback["value"] not in drawn:
            raise intents.NotApplicable(f"there is no panel {feedback['value']} in the version shown; pick one of "
                                        f"{', '.join(drawn[:6])}", field="option",
                                        said={"ja": f"表示中の版にコマ {feedback['value']} はありません"})
        return
    if phase in (6, 7):
        try:
            if phase == 6:
                from ..phases.phase6_lettering import feedback_edits

                feedback_edits(feedback, shown, shown.get("language") or "ja", shown)
            else:
                from ..phases.phase7_finalize import _options

                _options(feedback, shown.get("finish_options"))
        except intents.NotApplicable as err:  # the phase says why in English; the page adds what it can do
            raise intents.NotApplicable(err.message, field=err.field,
                                        said={"ja": f"{_CAN_DO_JA[phase]}（詳細：{err.message}）"}) from None
    elif settings().provider in ("offline", "simulated"):
        from ..hitl import options
        from ..offline.feedback import read

        understood = read(feedback, phase)
        if understood.option is None and not understood.fixes:
            can = ", ".join(o.label["en"] for o in options.offered(phase)) or "no change yet"
            can_ja = "、".join(o.label["ja"] for o in options.offered(phase)) or "まだありません"
            raise intents.NotApplicable(
                f"phase {phase} could not read a change it can make from {feedback['text'][:120]!r}; it can do: {can}",
                field="feedback", said={"ja": f"フェーズ{phase}は「{feedback['text'][:120]}」から、できる修正を読み取れません"
                                              f"でした。できること：{can_ja}（クイック修正のボタンからも選べます）"})


_CAN_DO_JA = {
    6: "フェーズ6（写植）でできるのは、吹き出しの移動・大きさ・形・セリフの変更（吹き出しエディタで一つずつ）、書体（明朝体／"
       "ゴシック体）、吹き出しの形（丸・もくもく・ギザギザ・四角）、効果音の追加です。「最初の吹き出しを少し上に」のように書いてください",
    7: "フェーズ7（仕上げ）でできるのは、判型（B5・A5・B6・A4）、書き出すファイル（PDF・CBZ）、ノンブルの有無の変更です",
}


def submit_decision(stores: Stores, body: dict[str, Any], cookies: dict[str, str], decided_by: str) -> dict[str, Any]:
    """Check who answers and what, then answer the gate's callback; returns what was sent."""
    phase = int(body["phase"])
    if body.get("token"):
        token = str(body["token"])
        gate = _checked_gate(stores, body["request_id"], phase, body["gate_id"], token)
    else:
        session.require(cookies, body["request_id"])
        gate = gate_of(stores, body["gate_id"], body["request_id"])
        token = _gate_token(gate)
    if gate.get("decided_at") is not None or gate.get("timed_out"):
        raise Conflict(f"this gate was already decided ({gate.get('decision') or 'timed out'})", field="gate_id")
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise ValidationError("'decision' must be approve, modify or skip", status=400, field="decision")
    answer: dict[str, Any] = {"decision": decision, "feedback": str(body.get("feedback") or ""), "token": token,
                              "decided_by": decided_by}
    if body.get("option"):
        answer["option"] = str(body["option"])
        if answer["option"] == "regenerate_panel" and body.get("panel"):  # the page's panel redo form
            answer["option"] = f"regenerate_panel:{body['panel']}"
    if body.get("attempt") not in (None, ""):
        answer["attempt"] = int(body["attempt"])
    bubble = bubble_from_form(body)
    if bubble is not None:
        answer["bubble"] = bubble
    if decision == "modify" and int(gate.get("round") or 0) < MAX_MODIFICATIONS:
        check_applicable(stores, gate, answer)
    send_decision(gate, answer)
    return {"request_id": body["request_id"], "phase": phase, "gate_id": gate["gate_id"], "decision": decision,
            "sent": True}

