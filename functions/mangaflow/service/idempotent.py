"""Calls made once per idempotency key: a replay of the same key gets the first call's answer back, never a
second run (the key is held in the idempotency store while the first call works, and given back if it fails)."""
from __future__ import annotations

from typing import Any, Callable

from ..bootstrap import Stores
from ..errors import DomainError


def once(stores: Stores, key: str | None, make: Callable[[], dict[str, Any]], *,
         busy: str = "the same idempotency_key is being processed; retry shortly", busy_field: str = "idempotency_key",
         replayed: Callable[[dict[str, Any]], dict[str, Any]] = lambda response: response) -> dict[str, Any]:
    """`make()` under `key` (already namespaced by the caller: action and user); without a key it simply runs.
    A key whose first call is still working is refused (409, `busy` on `busy_field`); a finished one answers
    with `replayed(first answer)`."""
    if not key:
        return make()
    claim = stores.idempotency.claim(key)
    if not claim.claimed:
        if claim.in_progress:
            raise DomainError(busy, status=409, field=busy_field)
        return replayed(claim.response or {})
    try:
        response = make()
    except BaseException:
        stores.idempotency.abandon(claim)
        raise
    stores.idempotency.store_response(claim, response)
    return response
