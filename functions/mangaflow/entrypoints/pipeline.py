"""HTTP entry points of the pipeline: start, status, the seven phases, and the approval gates.

Each one validates its body against its JSON Schema (the decorator), calls one service function
and returns JSON. Nothing else lives here.
"""
from __future__ import annotations

import functions_framework
import flask

from ..config import settings
from ..service import access, gates, requests, runner
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
    return requests.start_generation(body, principal.user_id, client_address(request)), 202


@functions_framework.http
@json_endpoint("http/get_status", methods=("GET", "POST"))
def get_status(body: Body, request: flask.Request) -> dict:
    granted = access.authorize(body["request_id"], access.caller(request.headers, required=False),
                               body.get("gate_id"), body.get("token"))
    return requests.request_state(body["request_id"], owner=granted.is_owner)


def _phase_entry_point(phase: int):  # type: ignore[no-untyped-def]
    @json_endpoint("http/phase_call")
    def run(body: Body, request: flask.Request) -> dict:
        return runner.run_phase(phase, body)

    return run


phase1_concept = functions_framework.http(_phase_entry_point(1))
phase2_characters = functions_framework.http(_phase_entry_point(2))
phase3_plot = functions_framework.http(_phase_entry_point(3))
phase4_name = functions_framework.http(_phase_entry_point(4))
phase5_images = functions_framework.http(_phase_entry_point(5))
phase6_lettering = functions_framework.http(_phase_entry_point(6))
phase7_finalize = functions_framework.http(_phase_entry_point(7))


@functions_framework.http
@json_endpoint("http/open_gate")
def open_gate(body: Body, request: flask.Request) -> dict:
    return gates.open_gate(body)


@functions_framework.http
@json_endpoint("http/gate_decision", lenient=("callback",))
def record_decision(body: Body, request: flask.Request) -> dict:
    return gates.record_decision(body)


@functions_framework.http
@json_endpoint("http/record_failure")
def record_failure(body: Body, request: flask.Request) -> dict:
    return requests.record_failure(body)
