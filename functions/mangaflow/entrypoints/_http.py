"""The one HTTP shape of every function: JSON in, JSON out, one error body, validation first.

`json_endpoint(schema)` wraps a plain `(body, request) -> (dict, status)` function: it refuses
oversized and non-JSON bodies, validates against the JSON Schema, and maps `DomainError` to its
status. Anything else is a bug: logged, answered with a 500 that carries no stack trace.
"""
from __future__ import annotations

import functools
import json
import logging
from typing import Any, Callable

import flask

from ..errors import DomainError
from ..logs import log_event
from ..stores._retry import StoreUnavailable
from ..schemas import validate

MAX_BODY_BYTES = 1_000_000  # a 50,000-character story in UTF-8 JSON stays far below this

Body = dict[str, Any]
Handler = Callable[[Body, flask.Request], "tuple[Any, int] | Any"]


def error_response(message: str, status: int, field: str | None = None) -> flask.Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if field is not None:
        body["field"] = field
    return flask.Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def json_response(payload: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


def json_endpoint(schema: str | None, methods: tuple[str, ...] = ("POST",)) -> Callable[[Handler], Callable[[flask.Request], flask.Response]]:
    """Decorate an entry point: parse, validate against `schemas/<schema>.json`, map errors."""

    def decorate(handler: Handler) -> Callable[[flask.Request], flask.Response]:
        @functools.wraps(handler)
        def entry_point(request: flask.Request) -> flask.Response:
            try:
                if request.method not in methods:
                    return error_response(f"method {request.method} is not allowed; use {', '.join(methods)}", 405)
                body = _read_body(request)
                if schema is not None:
                    validate(schema, body)
                result = handler(body, request)
                payload, status = result if isinstance(result, tuple) else (result, 200)
                if isinstance(payload, flask.Response):
                    return payload
                return json_response(payload, status)
            except DomainError as err:
                return error_response(err.message, err.status, err.field)
            except StoreUnavailable as err:  # retried with back-off already; the caller may retry later
                log_event("store unavailable", logging.ERROR, function=handler.__name__, service=err.service)
                return error_response(str(err), 503)
            except Exception as err:  # a bug: never leak the trace to the caller
                log_event("unhandled error", logging.ERROR, function=handler.__name__, error_type=type(err).__name__,
                          error=str(err))
                logging.getLogger("mangaflow").exception("unhandled error in %s", handler.__name__)
                return error_response("internal error; the request was logged", 500)

        return entry_point

    return decorate


def _read_body(request: flask.Request) -> Body:
    if request.method == "GET":
        return {k: v for k, v in request.args.items()}
    if request.mimetype == "application/x-www-form-urlencoded":  # the review page's form
        return {**request.args.to_dict(), **request.form.to_dict()}
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise DomainError(f"the request body is {length} bytes; the limit is {MAX_BODY_BYTES}", status=413, field="(body)")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise DomainError(f"the request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}", status=413, field="(body)")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DomainError(f"the request body is not valid UTF-8 JSON ({err.__class__.__name__})", status=400, field="(body)") from None
    if not isinstance(body, dict):
        raise DomainError("the request body must be a JSON object", status=400, field="(body)")
    return body
