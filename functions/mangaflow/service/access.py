"""Who may see or act on a request: its owner (the principal that started it), or whoever holds a
valid approval link of one of its gates (the link's token is bound to request, phase and gate)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..auth import Principal, principal_from_headers
from ..bootstrap import Stores
from ..config import settings
from ..errors import Forbidden, NotFound, Unauthenticated
from ..hitl import tokens


@dataclass(frozen=True)
class Access:
    """How the caller got in: as the owner, or through the link of `gate` (a phase's approval gate)."""

    request: dict[str, Any]
    principal: Principal | None
    gate: dict[str, Any] | None

    @property
    def is_owner(self) -> bool:
        return self.principal is not None and self.principal.user_id == self.request.get("user_id")


def caller(headers: Mapping[str, str], *, required: bool = True) -> Principal | None:
    """The authenticated principal of a request; None only when `required` is false and no credentials
    were sent at all (a link holder). Credentials that were sent and do not check out are refused."""
    config = settings()
    if not required and not headers.get("Authorization") and not headers.get("X-Goog-IAP-JWT-Assertion"):
        return None
    return principal_from_headers(headers, mode=config.auth_mode, audience=config.auth_audience)


def load_request(stores: Stores, request_id: str) -> dict[str, Any]:
    try:
        return stores.requests.get(request_id)
    except KeyError:
        raise NotFound(f"request_id {request_id!r} does not exist", field="request_id") from None


def authorize(stores: Stores, request_id: str, principal: Principal | None, gate_id: str | None = None,
              token: str | None = None) -> Access:
    """The owner, or the holder of a valid link of one of this request's gates; otherwise 401/403.
    A request that is not the caller's looks the same as one that does not exist only to strangers
    without credentials: an authenticated non-owner is told it is not theirs."""
    request = load_request(stores, request_id)
    if principal is not None and principal.user_id == request.get("user_id"):
        return Access(request, principal, None)
    if gate_id and token:
        try:
            gate = stores.gates.get(gate_id)
        except KeyError:
            raise Forbidden("the approval link does not belong to this request", field="gate_id") from None
        if gate["request_id"] != request_id:
            raise Forbidden("the approval link does not belong to this request", field="gate_id")
        tokens.verify(token, request_id, int(gate["phase"]), gate_id)
        return Access(request, principal, gate)
    if principal is None:
        raise Unauthenticated("sign in as the request's owner, or open it through its approval link",
                              field="Authorization")
    raise Forbidden(f"request {request_id} belongs to someone else", field="request_id")
