"""Log lines about bad input, at most a few per kind and interval.

A flood of malformed records would otherwise write one formatted line per record: a
hundred thousand lines, and most of the worker's time (formatting and writing a line
costs more than dead-lettering the record). :class:`LogLimit` writes the first
``burst`` lines of a kind in each ``interval``; the ones beyond are counted and said in
one line when the kind is next logged after the interval, so nothing goes unmentioned.
The dead letters and the metrics keep every record; the log is for a human reading it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["LogLimit"]


class LogLimit:
    """Logs at most ``burst`` lines per kind (a string) every ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 10,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._burst = burst
        self._interval = interval
        self._clock = clock
        # kind -> [start of the interval, lines logged in it, lines left out]
        self._kinds: dict[str, list[float]] = {}

    def log(self, kind: str, level: int, message: str, *args: object) -> None:
        """Log ``message % args`` at ``level`` unless ``kind`` had its lines this interval."""
        if not self._logger.isEnabledFor(level):
            return
        now = self._clock()
        state = self._kinds.get(kind)
        if state is None or now - state[0] >= self._interval:
            if state is not None and state[2]:
                self._logger.log(
                    level,
                    "%d more like the next line (%s) in the last %.0f s were not logged",
                    int(state[2]),
                    kind,
                    now - state[0],
                )
            state = self._kinds[kind] = [now, 0, 0]
        if state[1] < self._burst:
            state[1] += 1
            self._logger.log(level, message, *args)
        else:
            state[2] += 1
