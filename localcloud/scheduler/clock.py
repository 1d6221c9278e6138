"""The scheduler's sense of time: the wall clock, or (with --manual-clock) the wall clock shifted by an
offset a test sets through POST /_clock, so a job can be made due without waiting for it."""
from __future__ import annotations

import asyncio
import datetime as dt
import time


class Clock:
    """UTC now, `set` / `advance` when manual, and sleeps that wake early when the time is changed."""

    def __init__(self, manual: bool = False) -> None:
        self.manual = manual
        self._offset_s = 0.0
        self._changed = asyncio.Event()

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(time.time() + self._offset_s, tz=dt.timezone.utc)

    def set(self, now: dt.datetime) -> None:
        self._offset_s = now.timestamp() - time.time()
        self._notify()

    def advance(self, seconds: float) -> None:
        self._offset_s += seconds
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, seconds: float, also: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds` of real time; return early if the clock (or `also`) changes."""
        waiters = [asyncio.ensure_future(self._changed.wait())]
        if also is not None:
            waiters.append(asyncio.ensure_future(also.wait()))
        try:
            await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def sleep_until(self, when: dt.datetime) -> None:
        while (left := (when - self.now()).total_seconds()) > 0:
            await self.wait(left)
