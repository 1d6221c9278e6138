"""The Workflows standard library (pure, non-blocking part) and the registry both engine halves share.

Each module defines its functions in its own `library`; they are registered here, explicitly, in one place.
The executor installs its blocking functions (http.*, sys.sleep, events.*) the same way (`runtime.library`).
"""
from __future__ import annotations

from localcloud.workflows.stdlib import builtins, containers, encoding, retry, system, text
from localcloud.workflows.stdlib._core import CONSTANTS, REGISTRY, CallContext, Library, StdFunction, install, register

for _library in (builtins.library, text.library, encoding.library, containers.library, system.library,
                 retry.library):
    install(_library)

# Names the real service treats as blocking even before the executor registers them: an
# expression calling one of these is refused at deployment.
KNOWN_BLOCKING: frozenset[str] = frozenset(
    {
        "http.get", "http.post", "http.put", "http.patch", "http.delete", "http.request",
        "sys.sleep", "sys.sleep_until", "sys.log",
        "events.create_callback_endpoint", "events.await_callback",
    }
)

__all__ = ["CONSTANTS", "REGISTRY", "CallContext", "Library", "StdFunction", "install", "register", "KNOWN_BLOCKING"]
