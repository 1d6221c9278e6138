"""HTTP entry points a client uses to follow its own request: progress, artifacts, cancellation.
Each acts for the authenticated caller, who must own the request."""
from __future__ import annotations

import os

import flask
import functions_framework

from ..auth import Principal, principal_from_headers
from ..service import progress
from ._http import json_endpoint

Body = dict


def _caller(request: flask.Request) -> Principal:
    return principal_from_headers(request.headers, mode=os.environ.get("MANGAFLOW_AUTH", "local"))


@functions_framework.http
@json_endpoint("http/get_progress")
def get_progress(body: Body, request: flask.Request) -> dict:
    return progress.get_progress(body, _caller(request))


@functions_framework.http
@json_endpoint("http/get_artifact", methods=("GET",))
def get_artifact(body: Body, request: flask.Request) -> flask.Response:
    artifact = progress.get_artifact(body, _caller(request))
    if artifact.redirect:
        return flask.redirect(artifact.redirect, code=302)
    disposition = "inline" if artifact.inline else "attachment"
    return flask.Response(artifact.data, mimetype=artifact.content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{artifact.name.rsplit("/", 1)[-1]}"',
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": "private, max-age=300"})


@functions_framework.http
@json_endpoint("http/cancel_generation")
def cancel_generation(body: Body, request: flask.Request) -> dict:
    return progress.cancel_generation(body, _caller(request))
