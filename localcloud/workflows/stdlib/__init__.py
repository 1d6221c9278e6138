"""The Workflows standard library (pure, non-blocking part) and the registry both engine halves share.

Importing this package registers every function; the executor adds its blocking ones
(http.*, sys.sleep, events.*) with ``register``.
"""
from __future__ import annotations

from localcloud.workflows.stdlib._core import CONSTANTS, REGISTRY, CallContext, StdFunction, register

# Imported for their registrations (order matters only for constants that name functions).
from localcloud.workflows.stdlib import builtins as _builtins  # noqa: E402,F401
from localcloud.workflows.stdlib import text as _text  # noqa: E402,F401
from localcloud.workflows.stdlib import encoding as _encoding  # noqa: E402,F401
from localcloud.workflows.stdlib import containers as _containers  # noqa: E402,F401
from localcloud.workflows.stdlib import system as _system  # noqa: E402,F401
from localcloud.workflows.stdlib import retry as _retry  # noqa: E402,F401

# Names the real service treats as blocking even before the executor registers them: an
# expression calling one of these is refused at deployment.
KNOWN_BLOCKING: frozenset[str] = frozenset(
    {
        "http.get", "http.post", "http.put", "http.patch", "http.delete", "http.request",
        "sys.sleep", "sys.sleep_until", "sys.log",
        "events.create_callback_endpoint", "events.await_callback",
    }
)

__all__ = ["CONSTANTS", "REGISTRY", "CallContext", "StdFunction", "register", "KNOWN_BLOCKING"]
