"""HTTP entry points beside the pipeline: chat, the review page, and the scheduled jobs."""
from __future__ import annotations

import datetime as dt

import flask
import functions_framework

from ..errors import ValidationError
from ..service import chat, review, versions
from ._http import json_endpoint

Body = dict


def _html(page: str) -> flask.Response:
    return flask.Response(page, mimetype="text/html", headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


@functions_framework.http
@json_endpoint("http/chat_message")
def chat_message(body: Body, request: flask.Request) -> dict:
    return chat.chat_message(body)


@functions_framework.http
@json_endpoint("http/review_gate", methods=("GET", "POST"))
def review_gate(body: Body, request: flask.Request) -> flask.Response:
    if request.method == "GET":
        return _html(review.review_page(body))
    return _html(review.submit_decision(body))


@functions_framework.http
@json_endpoint("http/preview_versions", methods=("POST",))
def preview_versions(body: Body, request: flask.Request) -> dict:
    return versions.preview_versions(body)


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
    from ..maintenance import cleanup_inactive_sessions
    from ..stores.chat import chat_store
    from ..stores.sessions import session_store

    return cleanup_inactive_sessions(session_store().client, chat_store().client, dt.datetime.now(dt.timezone.utc),
                                     max_idle_s=int(body.get("max_idle_s", 3600)))


@functions_framework.http
@json_endpoint("http/maintenance")
def aggregate_analytics(body: Body, request: flask.Request) -> dict:
    from ..maintenance import aggregate_analytics as aggregate

    return aggregate(_day(body))


@functions_framework.http
@json_endpoint("http/maintenance")
def quality_report(body: Body, request: flask.Request) -> dict:
    from ..maintenance import quality_report as report

    return report(_day(body), body.get("period", "daily"))
