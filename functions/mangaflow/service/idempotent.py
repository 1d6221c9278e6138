"""Calls made once per idempotency key: a replay of the same key gets the first call's answer back, never a
second run (the key is held in the idempotency store while the first call works, and given back if it fails)."""
from __future__ import annotations

from typing import Any, Callable

from ..bootstrap import Stores
from ..errors import DomainError


def once(stores: Stores, key: str | None, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`make()` under `key` (already namespaced by the caller: action and user); without a key it simply runs."""
    if not key:
        return make()
    claim = stores.idempotency.claim(key)
    if not claim.claimed:
        if claim.response is not None:
            return claim.response
        raise DomainError("the same idempotency_key is being processed; retry shortly", status=409,
                          field="idempotency_key")
    try:
        response = make()
    except BaseException:
        stores.idempotency.abandon(claim)
        raise
    stores.idempotency.store_response(claim, response)
    return response
