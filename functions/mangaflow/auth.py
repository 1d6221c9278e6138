"""Who is calling: every user-facing function acts for an authenticated principal, never for a
`user_id` taken from the body.

Two modes (`MANGAFLOW_AUTH`):
- `local` (the default on a laptop): `Authorization: Bearer mfid1.<payload>.<mac>`, a developer
  identity signed with a key derived from MANGAFLOW_SIGNING_KEY. `mangaflow` (the CLI) makes one
  with `issue_local_token`, as `gcloud auth print-identity-token` would in the cloud.
- `google`: a Google-signed ID token (Identity Platform, or IAP's `X-Goog-IAP-JWT-Assertion`),
  checked by the function against its audience; the principal is the token's email (or subject).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any, Mapping

from .config import settings
from .errors import Forbidden, Unauthenticated

LOCAL_PREFIX = "mfid1"
LOCAL_TOKEN_TTL_S = 12 * 3600
_IAP_CERTS = "https://www.gstatic.com/iap/verify/public_key"
_MAX_TOKEN_CHARS = 4096


@dataclass(frozen=True)
class Principal:
    """The caller: `user_id` owns the requests it starts."""

    user_id: str
    source: str  # "local" | "google-id-token" | "iap"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _identity_key(signing_key: str | None = None) -> bytes:
    key = signing_key if signing_key is not None else settings().signing_key
    if not key:
        raise Unauthenticated("this service has no signing key (MANGAFLOW_SIGNING_KEY); identities cannot be checked")
    # A key of its own, so an approval-link MAC can never pass for an identity and back.
    return hmac.new(key.encode("utf-8"), b"mangaflow identity v1", hashlib.sha256).digest()


def issue_local_token(user_id: str, signing_key: str | None = None, ttl_s: int = LOCAL_TOKEN_TTL_S,
                      now: float | None = None) -> str:
    """A developer identity for the local stack (the CLI's `Authorization: Bearer ...`)."""
    if not user_id or len(user_id) > 128 or not user_id.isprintable():
        raise ValueError("user_id must be 1..128 printable characters")
    payload = _b64(json.dumps({"sub": user_id, "exp": int((now or time.time()) + ttl_s)},
                              separators=(",", ":")).encode("utf-8"))
    mac = _b64(hmac.new(_identity_key(signing_key), f"{LOCAL_PREFIX}.{payload}".encode("ascii"), hashlib.sha256).digest())
    return f"{LOCAL_PREFIX}.{payload}.{mac}"


def verify_local_token(token: str, signing_key: str | None = None, now: float | None = None) -> Principal:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != LOCAL_PREFIX or not all(p.isascii() for p in parts):
        raise Unauthenticated("the identity token is malformed", field="Authorization")
    expected = _b64(hmac.new(_identity_key(signing_key), f"{parts[0]}.{parts[1]}".encode("ascii"),
                             hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        raise Unauthenticated("the identity token was not signed by this service", field="Authorization")
    try:
        claims = json.loads(_unb64(parts[1]))
        user_id, expires = str(claims["sub"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        raise Unauthenticated("the identity token is malformed", field="Authorization") from None
    if (now if now is not None else time.time()) > expires:
        raise Unauthenticated("the identity token has expired; get a new one", field="Authorization")
    return Principal(user_id=user_id, source="local")


def _verify_google(token: str, audience: str, certs_url: str | None = None) -> Mapping[str, Any]:
    import google.auth.transport.requests
    from google.oauth2 import id_token

    try:
        return id_token.verify_token(token, google.auth.transport.requests.Request(), audience=audience or None,
                                     certs_url=certs_url) if certs_url else \
            id_token.verify_oauth2_token(token, google.auth.transport.requests.Request(), audience=audience or None)
    except ValueError as err:
        raise Unauthenticated(f"the ID token was refused: {err}", field="Authorization") from None


def principal_from_headers(headers: Mapping[str, str], *, mode: str, audience: str = "") -> Principal:
    """The caller named by the request's headers; Unauthenticated when there is none or it is invalid."""
    iap = headers.get("X-Goog-IAP-JWT-Assertion")
    if mode == "google" and iap:
        claims = _verify_google(iap, audience, certs_url=_IAP_CERTS)
        return Principal(user_id=str(claims.get("email") or claims["sub"]), source="iap")
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("this function needs 'Authorization: Bearer <identity token>'"
                              + (" (locally: run it through `mangaflow`, which sends one)" if mode == "local" else ""),
                              field="Authorization")
    token = token.strip()
    if len(token) > _MAX_TOKEN_CHARS:
        raise Unauthenticated(f"the identity token is longer than {_MAX_TOKEN_CHARS} characters", field="Authorization")
    if mode == "local":
        return verify_local_token(token)
    claims = _verify_google(token, audience)
    return Principal(user_id=str(claims.get("email") or claims["sub"]), source="google-id-token")
