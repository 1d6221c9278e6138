"""The CLI's client of the Mangaflow HTTP API: one method per function, each request carrying the
caller's identity (`Authorization: Bearer ...`). Errors come back as `ApiError` (the service said
no) or `Unavailable` (it could not be reached, or answered 502/503/504: worth retrying)."""
from __future__ import annotations

import getpass
import os
import re
from typing import Any

import requests

# (connect, read) seconds. A long poll waits up to 20 s, and a store outage adds the functions' own
# 20 s of retries before they answer 503.
_TIMEOUT = (5, 30)
_LONG_POLL_EXTRA_S = 45
_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?) s")
# A full slot frees when one of the user's runs ends; nothing says when, so suggest a pause.
SLOT_RETRY_AFTER_S = 30


class ApiError(Exception):
    """The service answered with an error a person can act on (4xx, or a 500)."""

    def __init__(self, status: int, message: str, field: str | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.retry_after_s = status, message, field, retry_after_s


class Unavailable(Exception):
    """The service, or a store behind it, cannot be reached now; the call may be retried."""


def local_user() -> str:
    """Who the CLI acts for: MANGAFLOW_USER, else the account's login name."""
    return os.environ.get("MANGAFLOW_USER") or getpass.getuser()


def _retry_after(response: requests.Response, message: str) -> float:
    header = response.headers.get("Retry-After", "")
    if header.isdigit():
        return float(header)
    found = _RETRY_IN.search(message)
    return float(found.group(1)) if found else float(SLOT_RETRY_AFTER_S)


class ApiClient:
    """Calls the functions at `base_url/<function>` as `user_id`, with `token` as its identity."""

    def __init__(self, base_url: str, token: str, user_id: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_id = user_id
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    def _send(self, method: str, url: str, what: str, timeout: Any = _TIMEOUT, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            # A body cut short (the server died while answering) is an outage like a refused connection.
            raise Unavailable(f"{what} cannot be reached ({err.__class__.__name__})") from None
        if response.status_code in (502, 503, 504):
            raise Unavailable(f"{what} is unavailable ({response.status_code}: {_message(response)})")
        if response.status_code >= 400:
            message = _message(response)
            retry = _retry_after(response, message) if response.status_code == 429 else None
            field = _json(response).get("field")
            raise ApiError(response.status_code, message, field, retry)
        return response

    def _function(self, name: str, body: dict[str, Any], timeout: Any = _TIMEOUT) -> dict[str, Any]:
        return self._send("POST", f"{self.base_url}/{name}", name, timeout, json=body).json()

    def start_generation(self, body: dict[str, Any]) -> dict[str, Any]:
        # The request belongs to whoever the token names.
        return self._function("start_generation", body, timeout=(5, 90))

    def get_status(self, request_id: str) -> dict[str, Any]:
        return self._function("get_status", {"request_id": request_id}, timeout=(5, 90))

    def get_progress(self, request_id: str, after: str = "0", wait_s: float = 0,
                     execution: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"request_id": request_id, "after": after, "wait_s": wait_s}
        if execution:
            body["execution"] = execution
        try:
            return self._function("get_progress", body, timeout=(5, wait_s + _LONG_POLL_EXTRA_S))
        except ApiError as err:
            if err.status < 500:
                raise
            # Reading progress again is harmless: a failure there must not end the run.
            raise Unavailable(f"get_progress failed ({err.status}: {err.message})") from None

    def get_artifact(self, request_id: str, uri: str) -> bytes:
        # A signed-URL redirect is followed; requests drops the Authorization header on the way.
        return self._send("GET", f"{self.base_url}/get_artifact", "get_artifact", (5, 120),
                          params={"request_id": request_id, "uri": uri}).content

    def translate(self, request_id: str, to: str, idempotency_key: str | None = None) -> dict[str, Any]:
        # Re-letters and exports the whole book while the caller waits (no image work: seconds, not minutes).
        body = {"request_id": request_id, "to": to}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        return self._function("translate", body, timeout=(5, 320))

    def reopen(self, request_id: str, phase: int, hitl_mode: str = "review",
               idempotency_key: str | None = None) -> dict[str, Any]:
        """A finished request runs again from the gate of `phase` (202: the execution and the progress cursor)."""
        body: dict[str, Any] = {"request_id": request_id, "phase": phase, "hitl_mode": hitl_mode}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        return self._function("reopen", body)

    def cancel_generation(self, request_id: str, execution: str) -> dict[str, Any]:
        return self._function("cancel_generation", {"request_id": request_id, "execution": execution})

    def answer_gate(self, gate: dict[str, Any], answer: dict[str, Any]) -> None:
        """Sends a decision for an open approval gate through the review function, which checks the
        gate's token and answers the workflow's callback (clients never call Workflows themselves)."""
        body = {"request_id": gate["request_id"], "phase": int(gate["phase"]), "gate_id": gate["gate_id"],
                **{k: v for k, v in answer.items() if v is not None}}
        self._send("POST", f"{self.base_url}/review_gate", f"the approval gate after phase {gate.get('phase')}",
                   json=body)

    @property
    def headers(self) -> dict[str, str]:
        """The identity this client sends (for callers that make their own requests)."""
        return {"Authorization": str(self._session.headers["Authorization"])}


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _message(response: requests.Response) -> str:
    payload = _json(response)
    if payload.get("error"):
        error = payload["error"]
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    return f"HTTP {response.status_code}: {response.text[:300]}"


def local_client(user_id: str | None = None) -> ApiClient:
    """A client of the local stack (which must be up): the gateway's address, and a developer
    identity signed with the data folder's key, as `gcloud auth print-identity-token` in the cloud."""
    from localcloud import supervisor
    from mangaflow.auth import issue_local_token

    user = user_id or local_user()
    return ApiClient(supervisor.endpoint("gateway"), issue_local_token(user, supervisor.signing_key()), user)


def auth_headers(user_id: str | None = None) -> dict[str, str]:
    """`Authorization` for a local developer identity (what an ID token is in the cloud)."""
    from localcloud import supervisor
    from mangaflow.auth import issue_local_token

    return {"Authorization": f"Bearer {issue_local_token(user_id or local_user(), supervisor.signing_key())}"}


def remote_client(base_url: str, token: str | None, user_id: str | None = None) -> ApiClient:
    """A client of a deployed service at MANGAFLOW_API_URL, with an ID token (MANGAFLOW_ID_TOKEN)."""
    return ApiClient(base_url, token or "", user_id or local_user())
