"""HTTP entry points beside the pipeline: chat, the review page, and the scheduled jobs."""
from __future__ import annotations

import datetime as dt
import json

import flask
import functions_framework

from ..bootstrap import stores
from ..errors import DomainError, ValidationError
from ..service import access, chat, review, versions
from ._http import json_endpoint

Body = dict


# The review page: no framing, no sniffing, no caching, no referrer, forms only to itself, and
# scripts only with this response's nonce.
def _secured(response: flask.Response, nonce: str = "") -> flask.Response:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    response.headers.update({
        "Content-Security-Policy": (f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; "
                                    "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    })
    return response


def _html(page: review.Page, request: flask.Request) -> flask.Response:
    return _secured(flask.Response(page.body, status=page.status, mimetype="text/html"), page.nonce)


def _wants_html(request: flask.Request) -> bool:
    return request.method == "GET" or request.mimetype == "application/x-www-form-urlencoded"


def _review_error(err: DomainError, request: flask.Request) -> flask.Response | None:
    return _html(review.error_page(err), request) if _wants_html(request) else None


@functions_framework.http
@json_endpoint("http/chat_message")
def chat_message(body: Body, request: flask.Request) -> dict:
    granted = access.authorize(stores(), body["request_id"], access.caller(request.headers, required=False),
                               body.get("gate_id"), body.get("token"))
    return chat.chat_message(stores(), body, granted)


@functions_framework.http
@json_endpoint("http/review_gate", methods=("GET", "POST"), error_page=_review_error)
def review_gate(body: Body, request: flask.Request) -> flask.Response | dict:
    if request.method == "GET":
        return _html(review.review_page(stores(), body, request.cookies), request)
    if body.get("action") == "open":
        opened, (value, max_age) = review.open_session(stores(), body)
        response = _secured(flask.Response(json.dumps(opened), mimetype="application/json"))
        # HttpOnly and SameSite=Strict: scripts cannot read it and other sites cannot send it.
        response.set_cookie(review.COOKIE, value, max_age=max_age, path=request.script_root or "/",
                            secure=request.is_secure, httponly=True, samesite="Strict")
        return response
    decided_by = "review-page" if _wants_html(request) else str(body.get("decided_by") or "api")[:128]
    sent = review.submit_decision(stores(), body, request.cookies, decided_by=decided_by)
    return _html(review.thank_you(sent), request) if _wants_html(request) else sent


@functions_framework.http
@json_endpoint("http/preview_versions", methods=("POST",))
def preview_versions(body: Body, request: flask.Request) -> dict:
    access.authorize(stores(), body["request_id"], access.caller(request.headers, required=False),
                     body.get("gate_id"), body.get("token"))
    return versions.preview_versions(stores(), body)


def _day(body: Body) -> dt.date:
    from ..maintenance import previous_day

    if "day" not in body:
        return previous_day(dt.datetime.now(dt.timezone.utc))
    try:
        return dt.date.fromisoformat(body["day"])
    except ValueError:
        raise ValidationError(f"'day' must be a calendar date YYYY-MM-DD; got {body['day']!r}", field="day") from None


@functions_framework.http
@json_endpoint("http/maintenance")
def cleanup_sessions(body: Body, request: flask.Request) -> dict:
    from .events import cleanup_now

    return cleanup_now(int(body.get("max_idle_s", 3600)))


@functions_framework.http
@json_endpoint("http/maintenance")
def aggregate_analytics(body: Body, request: flask.Request) -> dict:
    from ..maintenance import aggregate_analytics as aggregate

    return aggregate(_day(body))


@functions_framework.http
@json_endpoint("http/maintenance")
def quality_report(body: Body, request: flask.Request) -> dict:
    from ..reports import publish

    return publish(stores(), _day(body), body.get("period", "daily"), inline=bool(body.get("inline", False)))
