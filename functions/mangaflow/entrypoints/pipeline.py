"""HTTP entry points of the pipeline: start, reopen, status, the seven phases, and the approval gates.

Each one validates its body against its JSON Schema (the decorator), calls one service function
with the stores of the composition root, and returns JSON. Nothing else lives here.
"""
from __future__ import annotations

import flask
import functions_framework

from ..bootstrap import stores
from ..config import settings
from ..service import access, gates, reopening, requests, runner
from ._http import json_endpoint

Body = dict


def client_address(request: flask.Request) -> str:
    """The address the platform reports: the socket's peer, or with N trusted proxies in front
    (Cloud Run: the Google front end appends the real client), the Nth entry from the right of
    X-Forwarded-For. Entries a client wrote itself are to the left and never counted."""
    hops = settings().trusted_proxy_hops
    if hops:
        entries = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(entries) >= hops:
            return entries[-hops][:64]
    return request.remote_addr or "unknown"


@functions_framework.http
@json_endpoint("http/start_generation")
def start_generation(body: Body, request: flask.Request) -> tuple[dict, int]:
    principal = access.caller(request.headers)
    return requests.start_generation(stores(), body, principal.user_id, client_address(request)), 202


@functions_framework.http
@json_endpoint("http/reopen")
def reopen(body: Body, request: flask.Request) -> tuple[dict, int]:
    principal = access.caller(request.headers, required=False)
    return reopening.reopen_request(stores(), body, principal, client_address(request)), 202


@functions_framework.http
@json_endpoint("http/get_status", methods=("GET", "POST"))
def get_status(body: Body, request: flask.Request) -> dict:
    granted = access.authorize(stores(), body["request_id"], access.caller(request.headers, required=False),
                               body.get("gate_id"), body.get("token"))
    return requests.request_state(stores(), body["request_id"], owner=granted.is_owner)


# The seven phases: one function each, called by the workflow (phase 5 as plan, panel and collect).
@functions_framework.http
@json_endpoint("http/phase_call")
def phase1_concept(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 1, body)


@functions_framework.http
@json_endpoint("http/phase_call")
def phase2_characters(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 2, body)


@functions_framework.http
@json_endpoint("http/phase_call")
def phase3_plot(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 3, body)


@functions_framework.http
@json_endpoint("http/phase_call")
def phase4_name(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 4, body)


@functions_framework.http
@json_endpoint("http/phase_call")
def phase5_images(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 5, body)


@functions_framework.http
@json_endpoint("http/phase_call")
def phase6_lettering(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 6, body)


@functions_framework.http
@json_endpoint("http/phase_call")
def phase7_finalize(body: Body, request: flask.Request) -> dict:
    return runner.run_phase(stores(), 7, body)


@functions_framework.http
@json_endpoint("http/open_gate")
def open_gate(body: Body, request: flask.Request) -> dict:
    return gates.open_gate(stores(), body)


@functions_framework.http
@json_endpoint("http/gate_decision", lenient=("callback",))
def record_decision(body: Body, request: flask.Request) -> dict:
    return gates.record_decision(stores(), body)


@functions_framework.http
@json_endpoint("http/record_failure")
def record_failure(body: Body, request: flask.Request) -> dict:
    return requests.record_failure(stores(), body)
