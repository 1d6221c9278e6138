"""The blocking part of the standard library: http.*, sys.sleep, events.* (callbacks), on aiohttp.

Each function is a coroutine in `library` (blocking=True); the executor awaits it from call steps. Each goes
through the execution's journal (`Execution.call`), so a replay after a restart answers from it. `Services`
is what executions need from the outside world: an HTTP client session, the callback registry (restored
from the journal on restart) and the base URL callback endpoints point at.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import json
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .errors import WorkflowError
from .journal import Journal
from .stdlib import Library, StdFunction
from .values import to_json_bytes, to_json_text, type_name

HTTP_DEFAULT_TIMEOUT = 300.0
HTTP_MAX_TIMEOUT = 1800.0
HTTP_RESPONSE_LIMIT = 2 * 1024 * 1024
CALLBACK_DEFAULT_TIMEOUT = 43200.0
CALLBACK_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
SLEEP_MAX_SECONDS = 31_536_000


# Answers kept for a callback nobody awaits yet; more are refused, so a sender cannot grow the
# engine's memory without bound.
MAX_PENDING_PAYLOADS = 16


class Callback:
    """One callback endpoint of one execution: payloads received but not yet awaited, and waiters.

    A payload is (journal id, body): the id lets a restart tell the payloads already awaited from the rest.
    """

    def __init__(self, callback_id: str, execution: Any, method: str, url: str, name: str):
        self.id = callback_id
        self.execution = execution
        self.method = method
        self.url = url
        self.name = name
        self.payloads: deque[tuple[int, dict[str, Any]]] = deque()
        self.waiters: deque[asyncio.Future] = deque()

    def deliver(self, payload_id: int, payload: dict[str, Any]) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result((payload_id, payload))
                return
        self.payloads.append((payload_id, payload))

    def full(self) -> bool:
        """MAX_PENDING_PAYLOADS answers already wait unread and nobody is listening."""
        return len(self.payloads) >= MAX_PENDING_PAYLOADS and not any(not f.done() for f in self.waiters)

    def describe(self) -> dict[str, Any]:
        """The REST representation (executions.callbacks.list)."""
        return {
            "name": self.name,
            "method": self.method,
            "waiters": str(sum(1 for f in self.waiters if not f.done())),
            "availablePayloads": str(len(self.payloads)),
        }


class Services:
    """Per-engine shared resources: one aiohttp session and the callback registry."""

    def __init__(self, base_url: str | None = None, journal: Journal | None = None):
        self.base_url = base_url.rstrip("/") if base_url else None
        self.journal = journal or Journal.memory()
        self.callbacks: dict[str, Callback] = {}
        self._session: aiohttp.ClientSession | None = None

    def attach(self, ex: Any, callback_id: str, method: str, url: str, name: str) -> Callback:
        """The execution's callback `callback_id`: made now, or the one restored for it after a restart."""
        cb = self.callbacks.get(callback_id)
        if cb is None or cb.execution is not ex:
            cb = Callback(callback_id, ex, method, url, name)
            self.callbacks[callback_id] = cb
        ex.callbacks[callback_id] = cb
        return cb

    def receive(self, cb: Callback, payload: dict[str, Any]) -> bool:
        """A request reached the callback URL: journalled before its sender hears back, then delivered.
        False (nothing kept) when the callback already holds as many unread answers as it may."""
        if cb.full():
            return False
        payload_id = self.journal.received(cb.execution.id, cb.id, payload)
        cb.deliver(payload_id, payload)
        return True

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def callbacks_of(self, execution_id: str) -> list[Callback]:
        return [cb for cb in self.callbacks.values() if cb.execution.id == execution_id]


def _execution(ctx: Any) -> Any:
    ex = getattr(ctx, "ex", None)
    if ex is None and ctx is not None:
        ex = ctx.extra.get("execution")
    if ex is None:
        raise WorkflowError.tagged("SystemError", "no execution is running this call")
    return ex


def _services(ctx: Any) -> Services:
    ex = _execution(ctx)
    services = getattr(ex, "services", None)
    if services is None:
        services = Services()
        ex.services = services
    return services


# ---------------------------------------------------------------------------------------------- http


def _check_map(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise WorkflowError.tagged("TypeError", f"http: argument '{name}' must be a map, got {type_name(value)}")
    return value


def _header_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return to_json_text(value)


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    """Body encoding of the service: JSON unless the Content-Type says otherwise."""
    if body is None:
        return None
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if isinstance(body, (bytes, bytearray)):
        if ctype is None:
            headers["Content-Type"] = "application/octet-stream"
        return bytes(body)
    if ctype is None:
        headers["Content-Type"] = "application/json"
        return to_json_bytes(body)
    low = ctype.lower()
    if "json" in low:
        return to_json_bytes(body)
    if "x-www-form-urlencoded" in low and isinstance(body, dict):
        return urlencode({k: _header_text(v) for k, v in body.items()}).encode("utf-8")
    if isinstance(body, str):
        return body.encode("utf-8", "backslashreplace")
    return to_json_bytes(body)


def _decode_body(raw: bytes, content_type: str | None) -> Any:
    """Response body as the service hands it over: JSON parsed, text as string, else bytes."""
    low = (content_type or "").lower()
    if "json" in low:
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return raw.decode("utf-8", errors="replace")
    if low.startswith("text/") or "xml" in low or "charset" in low:
        return raw.decode("utf-8", errors="replace")
    if not raw:
        return None if not low else ""
    return raw


def _query_pairs(query: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for k, v in query.items():
        if isinstance(v, list):
            pairs.extend((k, _header_text(item)) for item in v)
        else:
            pairs.append((k, _header_text(v)))
    return pairs


async def http_request(ctx: Any, method: str, url: str, timeout: Any = HTTP_DEFAULT_TIMEOUT, body: Any = None,
                       headers: Any = None, query: Any = None, auth: Any = None,
                       private_service_name: Any = None, ca_certificate: Any = None) -> dict[str, Any]:
    """Send one HTTP request; 2xx -> {body, code, headers}; otherwise an HttpError-tagged error."""
    if not isinstance(method, str) or not method:
        raise WorkflowError.tagged("TypeError", "http.request: argument 'method' must be a string")
    if not isinstance(url, str) or not url:
        # Say what arrived: a null url is nearly always an unset environment variable read with sys.get_env.
        got = "null (is the environment variable it is read from set?)" if url is None else repr(url)
        raise WorkflowError.tagged("TypeError", f"http: argument 'url' must be a non-empty string, got {got}")
    if not url.startswith(("http://", "https://")):
        raise WorkflowError.tagged("ValueError", f"http: url must start with http:// or https://, got '{url}'")
    if type(timeout) not in (int, float) or timeout <= 0:
        raise WorkflowError.tagged("TypeError", "http: argument 'timeout' must be a positive number of seconds")
    if timeout > HTTP_MAX_TIMEOUT:
        raise WorkflowError.tagged("ValueError", f"http: timeout {timeout} exceeds the maximum of 1800 seconds")
    send_headers = {str(k): _header_text(v) for k, v in _check_map("headers", headers).items()}
    pairs = _query_pairs(_check_map("query", query))
    data = _encode_body(body, send_headers)
    # `auth` (OIDC/OAuth2) is accepted for compatibility; locally no token is attached.
    services = _services(ctx)
    digest = hashlib.sha1((data or b"") + repr(pairs).encode()).hexdigest()[:12]

    async def send(intent: Any) -> dict[str, Any]:
        return await _send(services, method, url, timeout, pairs, data, send_headers)

    return await _execution(ctx).call(ctx, "http", f"{method.upper()} {url} {digest}", send)


async def _send(services: "Services", method: str, url: str, timeout: Any, pairs: list[tuple[str, str]],
                data: bytes | None, send_headers: dict[str, str]) -> dict[str, Any]:
    session = await services.session()
    try:
        async with session.request(method.upper(), url, params=pairs or None, data=data, headers=send_headers,
                                   timeout=aiohttp.ClientTimeout(total=float(timeout)),
                                   allow_redirects=True) as resp:
            chunks = []
            size = 0
            while size <= HTTP_RESPONSE_LIMIT:
                chunk = await resp.content.read(HTTP_RESPONSE_LIMIT + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            raw = b"".join(chunks)
            if size > HTTP_RESPONSE_LIMIT:
                raise WorkflowError.tagged(
                    "ResourceLimitError",
                    f"ResourceLimitError: HTTP response from {url} exceeds the limit of {HTTP_RESPONSE_LIMIT} bytes")
            resp_headers = {str(k): str(v) for k, v in resp.headers.items()}
            decoded = _decode_body(raw, resp.headers.get("Content-Type"))
            status = resp.status
    except WorkflowError:
        raise
    except asyncio.TimeoutError:
        raise WorkflowError.tagged("TimeoutError", f"HTTP request to {url} timed out after {timeout} seconds") \
            from None
    except aiohttp.ClientConnectorError as exc:
        raise WorkflowError.tagged(
            "ConnectionFailedError", f"Connection to {url} could not be established: {exc.os_error}") from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
        raise WorkflowError.tagged("ConnectionError", f"Connection to {url} was broken: {exc}") from None
    except aiohttp.InvalidURL:
        raise WorkflowError.tagged("ValueError", f"http: invalid url '{url}'") from None
    except aiohttp.ClientError as exc:
        raise WorkflowError.tagged("ConnectionError", f"HTTP request to {url} failed: {exc}") from None
    if 200 <= status < 300:
        return {"body": decoded, "code": status, "headers": resp_headers}
    raise WorkflowError({
        "message": f"HTTP server responded with error code {status}",
        "tags": ["HttpError"],
        "code": status,
        "headers": resp_headers,
        "body": decoded,
    })


_HTTP_PARAMS = ["url", "timeout", "body", "headers", "query", "auth", "private_service_name", "ca_certificate"]


def _method_function(method: str):  # type: ignore[no-untyped-def]
    async def call(ctx: Any, url: str, timeout: Any = HTTP_DEFAULT_TIMEOUT, body: Any = None, headers: Any = None,
                   query: Any = None, auth: Any = None, private_service_name: Any = None,
                   ca_certificate: Any = None) -> dict[str, Any]:
        return await http_request(ctx, method, url, timeout, body, headers, query, auth, private_service_name,
                                  ca_certificate)

    return call


# ---------------------------------------------------------------------------------------------- sys


async def sys_sleep(ctx: Any, seconds: Any) -> None:
    """Suspend the execution (no thread held)."""
    if type(seconds) not in (int, float):
        raise WorkflowError.tagged("TypeError", f"sys.sleep: 'seconds' must be a number, got {type_name(seconds)}")
    if seconds < 0 or seconds > SLEEP_MAX_SECONDS:
        raise WorkflowError.tagged("ValueError", f"sys.sleep: 'seconds' must be between 0 and {SLEEP_MAX_SECONDS}")
    await _execution(ctx).sleep(ctx, float(seconds))
    return None


# ---------------------------------------------------------------------------------------------- events


def received_time_text(ts: float) -> str:
    """The timestamp format the service uses for callbacks ("2021-06-24 18:37:27.390356 +0000 UTC")."""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")


async def create_callback_endpoint(ctx: Any, http_callback_method: Any = "POST") -> dict[str, Any]:
    """A URL on this server that resumes the execution when called with the given method."""
    if not isinstance(http_callback_method, str) or http_callback_method.upper() not in CALLBACK_METHODS:
        raise WorkflowError.tagged(
            "ValueError", f"events.create_callback_endpoint: http_callback_method must be one of "
                          f"{', '.join(CALLBACK_METHODS)}, got {http_callback_method!r}")
    ex = _execution(ctx)
    services = _services(ctx)
    if services.base_url is None:
        raise WorkflowError.tagged(
            "SystemError", "events.create_callback_endpoint needs the workflows server (no base URL is set)")
    method = http_callback_method.upper()

    async def create(intent: Any) -> dict[str, Any]:
        callback_id = uuid.uuid4().hex
        resource = getattr(ex, "resource_name", None) or f"projects/local/locations/local/workflows/" \
                                                          f"{ex.workflow_name}/executions/{ex.id}"
        name = f"{resource}/callbacks/{callback_id}"
        return {"id": callback_id, "name": name, "url": f"{services.base_url}/v1/{name}"}

    made = await ex.call(ctx, "events.create_callback_endpoint", method, create)
    services.attach(ex, made["id"], method, made["url"], made["name"])
    return {"url": made["url"]}


async def await_callback(ctx: Any, callback: Any, timeout: Any = CALLBACK_DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Wait (holding no thread) for a request to the callback's URL; TimeoutError-tagged on timeout."""
    if type(callback) is not dict or not isinstance(callback.get("url"), str):
        raise WorkflowError.tagged("TypeError", "events.await_callback: 'callback' must be the map returned by "
                                                "events.create_callback_endpoint")
    if type(timeout) not in (int, float) or timeout < 0:
        raise WorkflowError.tagged("TypeError", "events.await_callback: 'timeout' must be a non-negative number")
    ex = _execution(ctx)
    callback_id = callback["url"].rstrip("/").rsplit("/", 1)[-1]
    cb = ex.callbacks.get(callback_id)
    if cb is None:
        raise WorkflowError.tagged("ValueError", "events.await_callback: the callback was not created by this "
                                                 "execution")
    taken: list[int] = []

    async def wait(intent: dict[str, float]) -> dict[str, Any]:
        if cb.payloads:
            payload_id, payload = cb.payloads.popleft()
            taken.append(payload_id)
            return payload
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        cb.waiters.append(fut)
        try:
            # The deadline is journalled: after a restart the wait ends when it would have.
            payload_id, payload = await asyncio.wait_for(fut, timeout=max(0.0, intent["deadline"] - time.time()))
        except asyncio.TimeoutError:
            raise WorkflowError.tagged("TimeoutError", f"Timeout waiting for callback after {timeout} seconds") \
                from None
        finally:
            if fut in cb.waiters:
                cb.waiters.remove(fut)
        taken.append(payload_id)
        return payload

    return await ex.call(ctx, "events.await_callback", callback_id, wait, {"deadline": time.time() + float(timeout)},
                         note=lambda: {"payload_id": taken[0]})


def callback_payload(method: str, url_path: str, query: dict[str, list[str]], headers: dict[str, str],
                     body: bytes, content_type: str | None, received: float) -> dict[str, Any]:
    """What await_callback returns for one received request (the service's shape)."""
    parsed: Any = None
    if body:
        if "json" in (content_type or "").lower() or content_type is None:
            try:
                parsed = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                parsed = body.decode("utf-8", errors="replace")
        else:
            parsed = body.decode("utf-8", errors="replace")
    return {
        "http_request": {
            "body": parsed,
            "headers": headers,
            "method": method,
            "query": query,
            "url": url_path,
        },
        "received_time": received_time_text(received),
        "type": "HTTP",
    }


library = Library()
for _method in ("get", "post", "put", "patch", "delete"):
    library.add(StdFunction(f"http.{_method}", _method_function(_method.upper()), list(_HTTP_PARAMS), 1, True))
library.add(StdFunction("http.request", http_request, ["method"] + _HTTP_PARAMS, 2, True))
library.add(StdFunction("sys.sleep", sys_sleep, ["seconds"], 1, True))
library.add(StdFunction("events.create_callback_endpoint", create_callback_endpoint, ["http_callback_method"], 0,
                        True))
library.add(StdFunction("events.await_callback", await_callback, ["callback", "timeout"], 1, True))
