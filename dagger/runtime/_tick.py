"""When the timer tick runs: at the earliest due time, and at least every ``trigger_interval``.

A tick on a fixed period fires a timer up to a whole period late, and fires a period's
worth of timers in one burst that the owner then works through one after the other. The
worker's tick instead sleeps until the earliest due time of its partitions, never longer
than ``trigger_interval`` and never shorter than :data:`MIN_TICK_GAP`; a timer scheduled
while it sleeps wakes it if it falls due sooner. ``trigger_interval`` is thus the longest
a due timer waits for a tick, and a tick with nothing due still reads nothing.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import suppress

from dagger.runtime._timers import Clock

__all__ = ["MIN_TICK_GAP", "TickSchedule"]

MIN_TICK_GAP = 0.01
"""The shortest pause between two ticks: timers due closer together fire together."""


class TickSchedule:
    """Puts the tick to sleep until the next timer falls due, or ``interval`` at most."""

    def __init__(self, interval: float, clock: Clock) -> None:
        self._interval = interval
        self._clock = clock
        self._woken = asyncio.Event()
        self._wake_at = math.inf

    def delay(self, next_due: float | None) -> float:
        """Seconds from now until the tick for a timer due at ``next_due`` (None: none is)."""
        if next_due is None:
            return self._interval
        return min(self._interval, max(MIN_TICK_GAP, next_due - self._clock()))

    def timer_scheduled(self, due: float | None) -> None:
        """Wake the sleeping tick if a timer due at ``due`` falls due before it wakes."""
        if due is not None and due < self._wake_at:
            self._woken.set()

    async def sleep(self, next_due: float | None) -> None:
        """Sleep until the tick for ``next_due``, or until :meth:`timer_scheduled` wakes it."""
        delay = self.delay(next_due)
        self._wake_at = self._clock() + delay
        self._woken.clear()
        try:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._woken.wait(), delay)
        finally:
            self._wake_at = math.inf
