"""Retry predicates and policies: ``retry.*`` and the pure ``http.default_retry*`` members.

Values from the Workflows reference: http.default_retry retries 429/502/503/504 and
ConnectionError/ConnectionFailedError/TimeoutError; the non-idempotent variant only 429/503 and
ConnectionFailedError; both use max_retries 5 and retry.default_backoff
(initial_delay 1 s, max_delay 60 s, multiplier 1.25).
"""
from __future__ import annotations

from typing import Any

from localcloud.workflows.stdlib._core import CallContext, Library

library = Library()

_IDEMPOTENT_CODES = frozenset({429, 502, 503, 504})
_IDEMPOTENT_TAGS = frozenset({"ConnectionError", "ConnectionFailedError", "TimeoutError"})
_NON_IDEMPOTENT_CODES = frozenset({429, 503})
_NON_IDEMPOTENT_TAGS = frozenset({"ConnectionFailedError"})


def _matches(exception: Any, codes: frozenset, tags: frozenset) -> bool:
    # Errors that are not maps (e.g. `raise: "text"`) are never retried by the defaults.
    if type(exception) is not dict:
        return False
    code = exception.get("code")
    if type(code) is int and code in codes:
        return True
    found = exception.get("tags")
    if type(found) is list:
        return any(type(t) is str and t in tags for t in found)
    return False


@library.define("http.default_retry_predicate", ["exception"])
def default_retry_predicate(ctx: CallContext, exception: Any) -> bool:
    return _matches(exception, _IDEMPOTENT_CODES, _IDEMPOTENT_TAGS)


@library.define("http.default_retry_predicate_non_idempotent", ["exception"])
def default_retry_predicate_non_idempotent(ctx: CallContext, exception: Any) -> bool:
    return _matches(exception, _NON_IDEMPOTENT_CODES, _NON_IDEMPOTENT_TAGS)


@library.define("retry.always", ["exception"])
def always(ctx: CallContext, exception: Any) -> bool:
    return True


@library.define("retry.never", ["exception"])
def never(ctx: CallContext, exception: Any) -> bool:
    return False


DEFAULT_BACKOFF = {"initial_delay": 1, "max_delay": 60, "multiplier": 1.25}

library.constants["retry.default_backoff"] = dict(DEFAULT_BACKOFF)
library.constants["http.default_retry"] = {
    "predicate": library.functions["http.default_retry_predicate"],
    "max_retries": 5,
    "backoff": dict(DEFAULT_BACKOFF),
}
library.constants["http.default_retry_non_idempotent"] = {
    "predicate": library.functions["http.default_retry_predicate_non_idempotent"],
    "max_retries": 5,
    "backoff": dict(DEFAULT_BACKOFF),
}
