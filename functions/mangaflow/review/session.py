"""A review session: opening a gate's link (its token, sent by POST from the fragment) grants the
browser the request's review page for a day, as an HttpOnly cookie scoped to the review path.

The session is signed with the approval links' key over its own message ("review|request|expires"),
so it can never pass for a gate token, and it names one request.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from ..config import HITL_TIMEOUT_MAX_S, settings
from ..errors import DomainError
from ..hitl.tokens import InvalidToken

SESSION_S = HITL_TIMEOUT_MAX_S  # as long as the longest a gate may wait
_VALUE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{1,100})", re.ASCII)


def cookie_name(request_id: str) -> str:
    """One cookie per request, so one browser can review several requests at once."""
    return f"mf_review_{request_id.replace('-', '_')}"


def _mac(request_id: str, expires: int) -> str:
    key = settings().signing_key
    if not key:
        raise DomainError("MANGAFLOW_SIGNING_KEY is not set; review sessions cannot be signed", status=503)
    digest = hmac.new(key.encode("utf-8"), f"review|{request_id}|{expires}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(request_id: str, now: float | None = None) -> tuple[str, int]:
    """The cookie value for `request_id` and its max-age in seconds."""
    expires = int(now if now is not None else time.time()) + SESSION_S
    return f"{expires}.{_mac(request_id, expires)}", SESSION_S


def valid(value: str | None, request_id: str, now: float | None = None) -> bool:
    match = _VALUE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return False
    expires = int(match.group(1))
    fresh = (now if now is not None else time.time()) <= expires
    return fresh and hmac.compare_digest(match.group(2).encode("ascii"), _mac(request_id, expires).encode("ascii"))


def require(cookies: dict[str, str], request_id: str) -> None:
    """InvalidToken (403) unless the browser holds this request's review session."""
    if not valid(cookies.get(cookie_name(request_id)), request_id):
        raise InvalidToken("open the review link you were sent (this browser has no review session for this "
                           "request, or it has expired)", field="token")
