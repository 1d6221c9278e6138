"""One client object per process, created on first use (never per request), forgettable in tests."""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class ProcessWide(Generic[T]):
    """Calling it returns the one instance `factory` made; `reset()` forgets it (closing it if it can)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._instance: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        with self._lock:
            if self._instance is None:
                self._instance = self._factory()
            return self._instance

    def reset(self) -> None:
        with self._lock:
            instance, self._instance = self._instance, None
        close = getattr(instance, "close", None)
        if callable(close):
            close()
