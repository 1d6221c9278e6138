"""Retry with capped exponential back-off and jitter for store calls, and the one error raised when
a store stays unreachable (it names the service and how to start it locally)."""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

T = TypeVar("T")
log = logging.getLogger("mangaflow.stores")

from mangaflow.errors import START_HINT, StoreUnavailable  # noqa: E402,F401  (re-exported)


def with_retry(
    operation: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    on_retry: Callable[[BaseException], None] | None = None,
    service: str,
    where: Callable[[], str],
    deadline_s: float = 20.0,
    base_delay_s: float = 0.05,
    max_delay_s: float = 1.0,
) -> T:
    """Runs `operation`; on a transient error calls `on_retry` (to drop the dead connection) and
    tries again after a jittered, doubling delay until `deadline_s` has passed. Callers only pass
    operations that are safe to repeat (reads, or writes made idempotent by their SQL/keys)."""
    started = time.monotonic()
    delay = base_delay_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except Exception as err:  # noqa: BLE001 - classified just below
            if not is_transient(err):
                raise
            if on_retry is not None:
                on_retry(err)
            elapsed = time.monotonic() - started
            if elapsed + delay > deadline_s:
                raise StoreUnavailable(service, where(), err) from err
            log.warning("%s call failed (attempt %d, %s); retrying in %.2f s", service, attempt, err, delay)
            # Full jitter keeps many workers from reconnecting in lock step after a restart.
            time.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, max_delay_s)
