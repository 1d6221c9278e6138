"""Approval tokens: an approval link is bound to one request, phase and gate, and it expires.

A token is `<expires>.<hmac-sha256(key, request|phase|gate|expires)>` in URL-safe base64. The key
comes from MANGAFLOW_SIGNING_KEY (Secret Manager in the cloud); nothing secret is in the token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from ..config import settings
from ..errors import DomainError


_TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{1,100})", re.ASCII)


class InvalidToken(DomainError):
    status = 403


def _key() -> bytes:
    key = settings().signing_key
    if not key:
        raise DomainError("MANGAFLOW_SIGNING_KEY is not set; approval links cannot be signed", status=503)
    return key.encode("utf-8")


def _mac(request_id: str, phase: int, gate_id: int, expires: int) -> str:
    message = f"{request_id}|{phase}|{gate_id}|{expires}".encode("utf-8")
    digest = hmac.new(_key(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(request_id: str, phase: int, gate_id: int, expires: int) -> str:
    """A token for this gate, valid until the Unix time `expires`."""
    return f"{expires}.{_mac(request_id, phase, gate_id, expires)}"


def verify(token: str, request_id: str, phase: int, gate_id: int, now: float | None = None) -> None:
    """Raise InvalidToken unless `token` was signed for exactly this gate and has not expired."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:  # only ASCII digits and base64url: anything else is just an invalid answer
        raise InvalidToken("the approval token is malformed", field="token")
    expires, mac = int(match.group(1)), match.group(2)
    if not hmac.compare_digest(mac.encode("ascii"), _mac(request_id, phase, gate_id, expires).encode("ascii")):
        raise InvalidToken("the approval token does not belong to this request and gate", field="token")
    if (now if now is not None else time.time()) > expires:
        raise InvalidToken("the approval link has expired", field="token")
