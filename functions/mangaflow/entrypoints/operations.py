"""HTTP entry points beside the pipeline: chat, the review page, and the scheduled jobs."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from urllib.parse import urlencode

import flask
import functions_framework

from ..auth import Principal
from ..bootstrap import stores
from ..errors import Conflict, DomainError, ValidationError
from ..hitl.intents import NotApplicable
from ..review import assets
from ..service import access, chat, review, versions
from ._http import json_endpoint
from .pipeline import client_address

Body = dict


# The review page: no framing, no sniffing, no caching, no referrer, forms only to itself, and
# scripts and styles only with this response's nonce; images, fonts and fetches from itself only
# (plus the signed-URL host in the cloud, where images are fetched from).
def _secured(response: flask.Response, nonce: str = "", image_hosts: tuple[str, ...] = ()) -> flask.Response:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    images = " ".join(("'self'",) + image_hosts)
    response.headers.update({
        "Content-Security-Policy": (f"default-src 'none'; script-src {script}; style-src {script}; img-src {images}; "
                                    "font-src 'self'; connect-src 'self'; form-action 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    })
    return response


def _html(page: review.Page, request: flask.Request) -> flask.Response:
    if page.redirect:
        response = _secured(flask.redirect(page.redirect, code=303))
    else:
        body: str | bytes = page.body
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "") and len(page.body) > 1400
        if gzipped:  # a page of 42 thumbnails is about 45 KB of HTML, 9 KB compressed
            body = gzip.compress(page.body.encode("utf-8"), compresslevel=6)
        response = _secured(flask.Response(body, status=page.status, mimetype="text/html"), page.nonce,
                            page.image_hosts)
        response.headers["Vary"] = "Accept-Encoding, Cookie"
        if gzipped:
            response.headers["Content-Encoding"] = "gzip"
    if page.cookie:
        _set_session(response, page.cookie, request)
    return response


def _set_session(response: flask.Response, cookie: tuple[str, str, int], request: flask.Request) -> None:
    # HttpOnly and SameSite=Strict: scripts cannot read it and other sites cannot send it.
    name, value, max_age = cookie
    response.set_cookie(name, value, max_age=max_age, path=request.script_root or "/", secure=request.is_secure,
                        httponly=True, samesite="Strict")


def _browser_language(request: flask.Request) -> str:
    return request.accept_languages.best_match(["en", "ja"], default="en") or "en"


def _wants_html(request: flask.Request) -> bool:
    return request.method == "GET" or request.mimetype == "application/x-www-form-urlencoded"


def _review_error(err: DomainError, request: flask.Request) -> flask.Response | None:
    if request.path.strip("/").rsplit("/", 1)[-1] in _REVIEW_PARTS:
        return None  # what the page's script, images and font fetch get the JSON error
    return _html(review.error_page(err, _browser_language(request)), request) if _wants_html(request) else None


def _decide_on_page(body: Body, request: flask.Request) -> flask.Response:
    """A form's answer: back to the page (303), or the page again saying why the answer cannot be
    carried out, the gate still open on the version shown."""
    link = {k: request.args[k] for k in ("request_id", "phase", "gate_id") if k in request.args} or \
        {k: body[k] for k in ("request_id", "phase", "gate_id")}
    try:
        sent = review.submit_decision(stores(), body, request.cookies, decided_by="review-page")
    except (NotApplicable, Conflict) as err:
        page = review.render_review(stores(), {**body, **link}, request.script_root, error=err, status=err.status)
        return _html(page, request)
    return _secured(flask.redirect(f"{request.script_root}?{urlencode(link)}&sent={sent['decision']}", code=303))


def _viewer(request: flask.Request) -> Principal | None:
    """Who the browser is signed in as (an identity-aware proxy's header, or a developer token), if anyone:
    credentials that do not check out make an anonymous viewer here, never an error page."""
    try:
        return access.caller(request.headers, required=False)
    except DomainError:
        return None


def _reopen_on_page(body: Body, request: flask.Request) -> flask.Response | dict:
    """The finished book's reopen form: back to the page (303), where the reopened gate opens; an API client
    gets the 202 payload."""
    reopened = review.reopen_from_page(stores(), body, _viewer(request), client_address(request))
    if not _wants_html(request):
        return reopened
    link = {k: request.args[k] for k in ("request_id", "phase", "gate_id") if k in request.args} or \
        {k: body[k] for k in ("request_id", "phase", "gate_id")}
    return _secured(flask.redirect(f"{request.script_root}?{urlencode(link)}", code=303))


def _served(served: assets.Served, download: bool = False) -> flask.Response:
    if served.redirect:
        return flask.redirect(served.redirect, code=302)
    disposition = "attachment" if download else "inline"
    return flask.Response(served.data, mimetype=served.content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{served.name.rsplit("/", 1)[-1]}"',
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, max-age=3600"})


# What the page loads from under its own path (so the review cookie, scoped to it, goes along).
_REVIEW_PARTS = {
    "events": lambda body, request: review.events(stores(), body, request.cookies),
    "image": lambda body, request: _served(review.artifact(stores(), body, request.cookies), body.get("download") == "1"),
    "lettered": lambda body, request: _served(review.lettered(stores(), body, request.cookies)),
    "font": lambda body, request: _served(review.font(stores(), body, request.cookies)),
}


@functions_framework.http
@json_endpoint("http/chat_message")
def chat_message(body: Body, request: flask.Request) -> dict:
    granted = access.authorize(stores(), body["request_id"], access.caller(request.headers, required=False),
                               body.get("gate_id"), body.get("token"))
    return chat.chat_message(stores(), body, granted)


@functions_framework.http
@json_endpoint("http/review_gate", methods=("GET", "POST"), error_page=_review_error)
def review_gate(body: Body, request: flask.Request) -> flask.Response | dict:
    part = request.path.strip("/").rsplit("/", 1)[-1]
    if request.method == "GET" and part in _REVIEW_PARTS:
        return _REVIEW_PARTS[part](body, request)
    if request.method == "GET":
        return _html(review.review_page(stores(), body, request.cookies, request.script_root,
                                        _browser_language(request), viewer=_viewer(request)), request)
    if body.get("action") == "reopen":
        return _reopen_on_page(body, request)
    if body.get("action") == "open" and _wants_html(request):  # the link's own page posts its token
        return _html(review.open_link(stores(), body, request.script_root, _browser_language(request)), request)
    if body.get("action") == "open":
        opened, cookie = review.open_session(stores(), body)
        response = _secured(flask.Response(json.dumps(opened), mimetype="application/json"))
        _set_session(response, cookie, request)
        return response
    if _wants_html(request):
        return _decide_on_page(body, request)
    return review.submit_decision(stores(), body, request.cookies, decided_by=str(body.get("decided_by") or "api")[:128])


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
