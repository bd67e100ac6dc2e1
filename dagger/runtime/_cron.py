"""When a schedule fires: cron expressions read in a timezone, mapped to UTC instants.

A cron expression names wall-clock times of its timezone (croniter walks them, five
fields, or six with seconds last). Each wall-clock time that matches fires **once**, at
one instant:

- a time that exists once fires then;
- a time the clock skips when it moves forward (a spring DST gap, such as 02:30 on the
  night New York goes from 02:00 to 03:00) fires at the first instant after the gap
  (03:00 local); several skipped times, and a time that matches just after the gap,
  make one fire there;
- a time the clock shows twice when it moves back (an autumn repeat, such as 01:30 on the
  night New York goes from 02:00 back to 01:00) fires at its first occurrence only.

Instants are epoch seconds (UTC); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = ["CronError", "CronTimes", "utc_iso"]

_LOOKAHEAD = timedelta(hours=3)
"""More than any DST shift: inside a repeated hour's second pass, the newest fire can
have a later wall-clock time than the instant's own (it fired in the first pass)."""


class CronError(ValueError):
    """A cron expression or a timezone that cannot be read; ``field`` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CronTimes:
    """The fires of ``expression`` in ``timezone`` (an IANA name such as ``Europe/Berlin``)."""

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str) or not croniter.is_valid(self.expression):
            raise CronError(
                "cron",
                f"{self.expression!r} is not a cron expression (five fields, "
                "'minute hour day month weekday', or six with seconds last)",
            )
        try:
            croniter(self.expression, datetime(2000, 1, 1)).get_next(datetime)
        except ValueError as exc:  # croniter: CroniterBadDateError, a ValueError
            raise CronError("cron", f"{self.expression!r} never fires: {exc}") from exc
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CronError(
                "timezone",
                f"{self.timezone!r} is not a timezone: use an IANA name such as 'UTC' or "
                "'Asia/Bangkok'",
            ) from exc

    @property
    def zone(self) -> ZoneInfo:
        """The timezone."""
        return ZoneInfo(self.timezone)

    def next_after(self, instant: float) -> float:
        """The first fire strictly after ``instant``."""
        return next(self._fires(instant))

    def between(self, after: float, until: float, limit: int) -> list[float]:
        """The fires in ``(after, until]``, oldest first, at most ``limit`` of them."""
        fires: list[float] = []
        for fire in self._fires(after):
            if fire > until or len(fires) >= limit:
                break
            fires.append(fire)
        return fires

    def latest_at(self, instant: float, after: float) -> float | None:
        """The newest fire in ``(after, instant]``, if any, without listing every one."""
        zone = self.zone
        local = datetime.fromtimestamp(instant, zone)
        ahead = _LOOKAHEAD if local.fold else timedelta(seconds=1)
        walk = croniter(self.expression, local.replace(tzinfo=None, fold=0) + ahead)
        while True:
            fire = self._instant(walk.get_prev(datetime), zone)
            if fire <= after:
                return None
            if fire <= instant:
                return fire

    def _fires(self, after: float) -> Iterator[float]:
        """The fires strictly after ``after``, in order, without repeats."""
        zone = self.zone
        # A later fire never has an earlier wall-clock time than ``after`` shows (wall
        # times map to instants in order), so the walk starts there.
        start = datetime.fromtimestamp(after, zone).replace(tzinfo=None, fold=0)
        walk = croniter(self.expression, start)
        last = after
        while True:
            fire = self._instant(walk.get_next(datetime), zone)
            if fire > last:  # skips times before ``after`` and merges a gap's times
                last = fire
                yield fire

    @staticmethod
    def _instant(wall: datetime, zone: ZoneInfo) -> float:
        """The instant a wall-clock time of ``zone`` fires at (see the module's policy)."""
        first = wall.replace(tzinfo=zone, fold=0)  # fold=0: a repeated time's first pass
        instant = first.timestamp()
        if datetime.fromtimestamp(instant, zone).replace(tzinfo=None) == wall:
            return instant
        # Skipped by a gap: fold=1 reads it with the offset after the gap (an instant
        # before the gap), fold=0 with the one before (an instant after it); the gap ends
        # at the first instant in between whose offset is the later one.
        low = wall.replace(tzinfo=zone, fold=1).timestamp()
        high = instant
        low, high = min(low, high), max(low, high)
        after_gap = datetime.fromtimestamp(high, zone).utcoffset()
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, zone).utcoffset() == after_gap:
                high = middle
            else:
                low = middle
        return float(high)


def utc_iso(instant: float) -> str:
    """An instant as ISO 8601 in UTC, to the second (``2026-03-08T07:00:00Z``)."""
    return datetime.fromtimestamp(instant, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
