"""The one HTTP shape of every function: JSON in, JSON out, one error body, validation first.

`json_endpoint(schema)` wraps a plain `(body, request) -> (dict, status)` function: it refuses
oversized and non-JSON bodies, validates against the JSON Schema, and maps `DomainError` to its
status. Anything else is a bug: logged, answered with a 500 that carries no stack trace.
"""
from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any, Callable

import flask

from ..errors import DomainError, StoreUnavailable
from ..logs import log_event
from ..schemas import check_text, validate

MAX_BODY_BYTES = 1_000_000  # a 50,000-character story in UTF-8 JSON stays far below this
MAX_DEPTH = 32  # no schema nests deeper than a few levels
MAX_INT_DIGITS = 20  # 2**64 has 20 digits; every count the API takes is far smaller
MAX_NUMBER_CHARS = 40
MAX_FORM_FIELDS = 50

Body = dict[str, Any]
Handler = Callable[[Body, flask.Request], "tuple[Any, int] | Any"]


def error_response(message: str, status: int, field: str | None = None) -> flask.Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if field is not None:
        body["field"] = field
    # ASCII escapes: a message quoting hostile input can never fail to encode.
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def domain_error_response(err: DomainError) -> flask.Response:
    data = json.dumps(err.to_dict()).encode("ascii")
    if err.status == 413:
        # A streamed response: functions-framework reads the whole request before sending any other
        # kind (its after_request hook), which would buffer the rest of an endless chunked body.
        response = flask.Response(iter([data]), status=413, mimetype="application/json")
        response.headers["Content-Length"] = str(len(data))
        response.headers["Connection"] = "close"
    else:
        response = flask.Response(data, status=err.status, mimetype="application/json")
    retry_after = getattr(err, "retry_after_s", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return response


def json_response(payload: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


ErrorPage = Callable[[DomainError, flask.Request], "flask.Response | None"]


def json_endpoint(schema: str | None, methods: tuple[str, ...] = ("POST",), *, lenient: tuple[str, ...] = (),
                  error_page: ErrorPage | None = None) -> Callable[[Handler], Callable[[flask.Request], flask.Response]]:
    """Decorate an entry point: parse, validate against `schemas/<schema>.json`, map errors.
    Top-level fields named in `lenient` skip the NUL/surrogate check (the handler judges them);
    `error_page` may answer a domain error as a page instead of the JSON body (a browser's request)."""

    def decorate(handler: Handler) -> Callable[[flask.Request], flask.Response]:
        @functools.wraps(handler)
        def entry_point(request: flask.Request) -> flask.Response:
            try:
                if request.method not in methods:
                    return error_response(f"method {request.method} is not allowed; use {', '.join(methods)}", 405)
                body = _read_body(request, lenient)
                if schema is not None:
                    validate(schema, body)
                result = handler(body, request)
                payload, status = result if isinstance(result, tuple) else (result, 200)
                if isinstance(payload, flask.Response):
                    return payload
                return json_response(payload, status)
            except DomainError as err:
                if isinstance(err, StoreUnavailable):  # retried with back-off already; the caller may retry later
                    log_event("store unavailable", logging.ERROR, function=handler.__name__, service=err.service)
                elif err.status >= 500:
                    log_event("request failed", logging.ERROR, function=handler.__name__,
                              error_type=type(err).__name__, error=err.message)
                page = error_page(err, request) if error_page is not None else None
                return page if page is not None else domain_error_response(err)
            except Exception as err:  # a bug: never leak the trace to the caller
                log_event("unhandled error", logging.ERROR, function=handler.__name__, error_type=type(err).__name__,
                          error=str(err))
                logging.getLogger("mangaflow").exception("unhandled error in %s", handler.__name__)
                return error_response("internal error; the request was logged", 500)

        entry_point.schema = schema  # type: ignore[attr-defined]  # what the fuzz suite and docs read
        entry_point.methods = methods  # type: ignore[attr-defined]
        return entry_point

    return decorate


def _read_body(request: flask.Request, lenient: tuple[str, ...] = ()) -> Body:
    if request.method == "GET":
        body: Any = {k: v for k, v in request.args.items()}
    elif request.mimetype == "application/x-www-form-urlencoded":  # the review page's form
        body = {**request.args.to_dict(), **_read_form(request)}
    else:
        body = parse_json_body(_read_limited(request))
    if not isinstance(body, dict):
        raise DomainError("the request body must be a JSON object", status=400, field="(body)")
    check_text(body, lenient=lenient)
    return body


def _read_limited(request: flask.Request) -> bytes:
    """The raw body, refused past MAX_BODY_BYTES while it streams in (a chunked body has no length
    to check first, so it is never read whole before the check)."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise DomainError(f"the request body is {length} bytes; the limit is {MAX_BODY_BYTES}", status=413, field="(body)")
    stream = request.stream
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(65536, MAX_BODY_BYTES + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise DomainError(f"the request body is over {MAX_BODY_BYTES} bytes, the limit", status=413, field="(body)")
    return b"".join(chunks)


def _read_form(request: flask.Request) -> dict[str, str]:
    raw = _read_limited(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DomainError("the form is not valid UTF-8", status=400, field="(body)") from None
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS,
                          errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise DomainError(f"the form is malformed or has more than {MAX_FORM_FIELDS} fields", status=400,
                          field="(body)") from None
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise DomainError(f"the request body holds {name}, which is not a JSON number", status=400, field="(body)")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise DomainError(f"a number in the request body has {digits} digits; the limit is {MAX_INT_DIGITS}",
                          status=400, field="(body)")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise DomainError(f"a number in the request body is {len(text)} characters long; the limit is "
                          f"{MAX_NUMBER_CHARS}", status=400, field="(body)")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise DomainError(f"the number {text[:40]} is too large", status=400, field="(body)")
    return value


def parse_json_body(raw: bytes) -> Any:
    """UTF-8 JSON with bounded nesting and number sizes; any other input is a 400 naming the body."""
    if not raw:
        raise DomainError("the request body is empty; send a JSON object", status=400, field="(body)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DomainError("the request body is not valid UTF-8", status=400, field="(body)") from None
    if _nesting_depth(text) > MAX_DEPTH:
        raise DomainError(f"the request body is nested more than {MAX_DEPTH} levels deep", status=400, field="(body)")
    try:
        return json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise DomainError(f"the request body is not valid JSON ({err.msg} at character {err.pos})", status=400,
                          field="(body)") from None
    except RecursionError:  # belt and braces: _nesting_depth already bounds it
        raise DomainError(f"the request body is nested more than {MAX_DEPTH} levels deep", status=400,
                          field="(body)") from None


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")


def _nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects, strings skipped; linear in the body's size."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        else:
            depth -= 1
    return deepest
