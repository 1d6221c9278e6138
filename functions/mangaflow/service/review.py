"""The approval link a person opens: a small review page (every piece of story text escaped) and
the decision it sends to the workflow's callback, checked against the link's signed token."""
from __future__ import annotations

import html
import os
from typing import Any

import requests as http

from ..errors import Conflict, UpstreamUnavailable
from ..hitl import tokens
from ..stores import objects
from .gates import gate_of
from .phases import PHASE_KEYS

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mangaflow: review phase {phase}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:1rem}}button{{margin-right:.5rem}}</style></head>
<body><h1>Phase {phase}: {name}</h1><p>Request <code>{request_id}</code>, {state}.</p>
<pre>{summary}</pre>{form}</body></html>"""

_FORM = """<form method="post">
<input type="hidden" name="request_id" value="{request_id}"><input type="hidden" name="phase" value="{phase}">
<input type="hidden" name="gate_id" value="{gate_id}"><input type="hidden" name="token" value="{token}">
<p><textarea name="feedback" rows="4" cols="60" maxlength="2000" placeholder="What should change? (for modify)"></textarea></p>
<button name="decision" value="approve">Approve</button><button name="decision" value="modify">Modify</button>
<button name="decision" value="skip">Skip the remaining gates</button></form>"""


def _checked_gate(body: dict[str, Any]) -> dict[str, Any]:
    phase = int(body["phase"])
    gate = gate_of(body["gate_id"], body["request_id"])
    tokens.verify(body["token"], body["request_id"], phase, gate["gate_id"])
    return gate


def review_page(body: dict[str, Any]) -> str:
    gate = _checked_gate(body)
    summary = objects.get_json(gate["preview_uri"]).get("summary", "") if gate.get("preview_uri") else ""
    decided = gate.get("decided_at") is not None
    state = f"decided: {gate.get('decision') or 'timed out'}" if decided else "waiting for your decision"
    values = {key: html.escape(str(body[key]), quote=True) for key in ("request_id", "phase", "gate_id", "token")}
    form = "" if decided else _FORM.format(**values)
    return _PAGE.format(phase=values["phase"], name=html.escape(PHASE_KEYS[int(body["phase"])]),
                        request_id=values["request_id"], state=html.escape(state), summary=html.escape(summary),
                        form=form)


def _callback_headers() -> dict[str, str]:
    if os.environ.get("WORKFLOWS_EMULATOR_HOST"):
        return {}
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    return {"Authorization": f"Bearer {credentials.token}"}


def submit_decision(body: dict[str, Any]) -> str:
    gate = _checked_gate(body)
    if gate.get("decided_at") is not None:
        raise Conflict(f"this gate was already decided ({gate.get('decision') or 'timed out'})", field="gate_id")
    decision = body.get("decision")
    if decision not in ("approve", "modify", "skip"):
        raise Conflict("'decision' must be approve, modify or skip", field="decision")
    answer = {"decision": decision, "feedback": body.get("feedback", ""), "token": body["token"],
              "decided_by": "review-page"}
    try:
        response = http.post(gate["callback_url"], json=answer, headers=_callback_headers(), timeout=30)
    except http.RequestException as err:
        raise UpstreamUnavailable(f"the workflow could not be reached ({err.__class__.__name__})") from None
    if response.status_code >= 300:
        raise Conflict(f"the workflow is no longer waiting on this gate ({response.status_code})", field="gate_id")
    return (f"<!doctype html><html><body><p>Thank you: <b>{html.escape(decision)}</b> was sent for phase "
            f"{html.escape(str(body['phase']))}.</p></body></html>")
