"""The approval link a person opens: a review page (every piece of story text escaped) and the
decision it sends to the workflow's callback, checked against the link's signed token.

The token never travels in a URL a server logs or a browser keeps: the link carries it in the
fragment (`#token=...`), which browsers do not send; the page's script exchanges it by POST for a
cookie scoped to the review page, then drops the fragment from the address bar and history.
"""
from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests as http

from ..bootstrap import Stores
from ..errors import Conflict, DomainError, UpstreamUnavailable, ValidationError
from ..hitl import tokens
from . import executions
from .gates import deadline_epoch, gate_of
from .phases import phase_keys

COOKIE = "mf_review"
DECISIONS = ("approve", "modify", "skip")


@dataclass(frozen=True)
class Page:
    """An HTML page, its status and the nonce its script runs with (if any)."""

    body: str
    status: int = 200
    nonce: str = ""


def _checked_gate(stores: Stores, request_id: str, phase: int, gate_id: str, token: str) -> dict[str, Any]:
    gate = gate_of(stores, gate_id, request_id)
    if int(gate["phase"]) != phase:
        raise tokens.InvalidToken("this link is for another phase", field="phase")
    tokens.verify(token, request_id, phase, gate["gate_id"])
    return gate


def token_from(body: dict[str, Any], cookies: dict[str, str]) -> str:
    """The token of this gate: from the body (API clients) or the review cookie (the page)."""
    if body.get("token"):
        return str(body["token"])
    gate_id, _, token = cookies.get(COOKIE, "").partition(":")
    if gate_id and gate_id == body.get("gate_id") and token:
        return token
    raise tokens.InvalidToken("open the review link you were sent (this page has no approval token)", field="token")


def open_session(stores: Stores, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, int]]:
    """Exchange the link's token (sent by POST from the fragment) for the review cookie."""
    phase = int(body["phase"])
    gate = _checked_gate(stores, body["request_id"], phase, body["gate_id"], str(body.get("token") or ""))
    max_age = max(1, deadline_epoch(gate) - int(time.time()))
    return {"ok": True}, (f"{gate['gate_id']}:{body['token']}", max_age)


_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mangaflow review</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><p id="state">Opening the review…</p>
<noscript>This page needs JavaScript to read the approval link safely.</noscript>
<script nonce="{nonce}">
(function () {{
  var state = document.getElementById("state");
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (!token) {{ state.textContent = "This link has no approval token: open the link exactly as you received it."; return; }}
  var query = new URLSearchParams(location.search);
  fetch(location.pathname, {{method: "POST", credentials: "same-origin",
    headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{action: "open", request_id: query.get("request_id"), phase: query.get("phase"),
                          gate_id: query.get("gate_id"), token: token}})}})
    .then(function (r) {{ return r.json().then(function (b) {{ return [r.status, b]; }}); }})
    .then(function (res) {{
      if (res[0] === 200) {{ location.replace(location.pathname + location.search); }}
      else {{ history.replaceState(null, "", location.pathname + location.search);
             state.textContent = res[1].error || "This link cannot be opened."; }}
    }})
    .catch(function () {{ state.textContent = "The review service cannot be reached; try again in a moment."; }});
}})();
</script></body></html>"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mangaflow: review phase {phase}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1rem}}button{{margin-right:.5rem}}</style></head>
<body><h1>Phase {phase}: {name}</h1><p>Request <code>{request_id}</code>, {state}.</p>
<pre>{summary}</pre>{form}</body></html>"""

_FORM = """<form method="post">
<input type="hidden" name="request_id" value="{request_id}"><input type="hidden" name="phase" value="{phase}">
<input type="hidden" name="gate_id" value="{gate_id}">
<p><textarea name="feedback" rows="4" cols="60" maxlength="2000" placeholder="What should change? (for modify)"></textarea></p>
<button name="decision" value="approve">Approve</button><button name="decision" value="modify">Modify</button>
<button name="decision" value="skip">Skip the remaining gates</button></form>"""

_MESSAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mangaflow review: {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{title}</h1><p>{message}</p></body></html>"""


def message_page(title: str, message: str, status: int = 200) -> Page:
    return Page(_MESSAGE.format(title=html.escape(title), message=html.escape(message)), status)


def review_page(stores: Stores, body: dict[str, Any], cookies: dict[str, str]) -> Page:
    """The shell that exchanges the fragment's token, or (with the cookie) the review itself."""
    if not body.get("token") and cookies.get(COOKIE, "").partition(":")[0] != body.get("gate_id"):
        nonce = secrets.token_urlsafe(16)
        return Page(_SHELL.format(nonce=nonce), nonce=nonce)
    phase = int(body["phase"])
    gate = _checked_gate(stores, body["request_id"], phase, body["gate_id"], token_from(body, cookies))
    summary = stores.artifacts.get_json(gate["preview_uri"]).get("summary", "") if gate.get("preview_uri") else ""
    decided = gate.get("decided_at") is not None
    state = f"decided: {gate.get('decision') or 'timed out'}" if decided else "waiting for your decision"
    values = {key: html.escape(str(body[key]), quote=True) for key in ("request_id", "phase", "gate_id")}
    form = "" if decided else _FORM.format(**values)
    return Page(_PAGE.format(phase=phase, name=html.escape(phase_keys()[phase]), request_id=values["request_id"],
                             state=html.escape(state), summary=html.escape(summary), form=form))


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


def submit_decision(stores: Stores, body: dict[str, Any], cookies: dict[str, str], decided_by: str) -> dict[str, Any]:
    """Check the token and the decision, then answer the gate's callback; returns what was sent."""
    phase = int(body["phase"])
    token = token_from(body, cookies)
    gate = _checked_gate(stores, body["request_id"], phase, body["gate_id"], token)
    if gate.get("decided_at") is not None:
        raise Conflict(f"this gate was already decided ({gate.get('decision') or 'timed out'})", field="gate_id")
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise ValidationError("'decision' must be approve, modify or skip", status=400, field="decision")
    answer: dict[str, Any] = {"decision": decision, "feedback": body.get("feedback", ""), "token": token,
                              "decided_by": decided_by}
    for key in ("option", "attempt"):
        if body.get(key) is not None:
            answer[key] = body[key]
    send_decision(gate, answer)
    return {"request_id": body["request_id"], "phase": phase, "gate_id": gate["gate_id"], "decision": decision,
            "sent": True}


def thank_you(sent: dict[str, Any]) -> Page:
    return message_page("Thank you", f"{sent['decision']} was sent for phase {sent['phase']}.")


def error_page(err: DomainError) -> Page:
    titles = {401: "This link cannot be used", 403: "This link is not valid", 404: "Nothing to review here",
              409: "Already decided", 503: "Try again in a moment"}
    return message_page(titles.get(err.status, "This cannot be done"), err.message, err.status)
