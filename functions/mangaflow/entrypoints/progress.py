"""HTTP entry points a client uses to follow a request: progress, artifacts, cancellation. Each
acts for the authenticated owner, or (progress and artifacts) the holder of one of its gates' links."""
from __future__ import annotations

import flask
import functions_framework

from ..bootstrap import stores
from ..service import access, progress
from ._http import json_endpoint

Body = dict


def _granted(body: Body, request: flask.Request) -> access.Access:
    return access.authorize(stores(), body["request_id"], access.caller(request.headers, required=False),
                            body.get("gate_id"), body.get("token"))


@functions_framework.http
@json_endpoint("http/get_progress")
def get_progress(body: Body, request: flask.Request) -> dict:
    return progress.get_progress(stores(), body, _granted(body, request))


@functions_framework.http
@json_endpoint("http/get_artifact", methods=("GET",))
def get_artifact(body: Body, request: flask.Request) -> flask.Response:
    _granted(body, request)
    artifact = progress.get_artifact(stores(), body)
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
    return progress.cancel_generation(stores(), body, _granted(body, request))
