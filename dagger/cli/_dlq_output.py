"""What ``dagger dlq`` prints for people: tables, details and a progress display."""

from __future__ import annotations

import datetime
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

__all__ = [
    "ProgressDisplay",
    "format_detail",
    "format_drain",
    "format_page",
    "format_purge",
    "format_reinject",
    "table",
]

_MAX_CELL = 60
_TTY_REFRESH = 0.1
_LINE_STEP_PERCENT = 10


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return ``rows`` as a left-aligned text table; long cells are cut with an ellipsis."""
    cells = [[_cut(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True))

    return "\n".join(line(row).rstrip() for row in [list(headers), *cells])


def format_page(page: dict[str, Any], next_page_hint: str) -> str:
    """Return a page of :meth:`DeadLetterService.list` as a table with a footer."""
    if not page["entries"]:
        return f"no dead letters listed in {page['topic']} (total {page['total']})"
    rows = [
        [
            entry["id"],
            format_time(entry["time"]),
            str(entry["reason"]),
            format_origin(entry["origin"]),
            str(entry["error"]),
            _reinjected_cell(entry["reinjected"]),
        ]
        for entry in page["entries"]
    ]
    text = table(["ID", "TIME (UTC)", "REASON", "ORIGIN", "ERROR", "REINJECTED"], rows)
    footer = f"{page['count']} of {page['total']} dead letters in {page['topic']}"
    if page["next_cursor"] is not None:
        footer += f"; next page: {next_page_hint} --cursor {shlex.quote(page['next_cursor'])}"
    return f"{text}\n{footer}"


def format_detail(entry: dict[str, Any]) -> str:
    """Return one dead letter of :meth:`DeadLetterService.show` as labelled lines."""
    reinjected = entry["reinjected"]
    purged = entry["purged"]
    fields = [
        ("id", entry["id"]),
        ("reason", str(entry["reason"])),
        ("error", str(entry["error"])),
        ("origin", format_origin(entry["origin"])),
        ("time (UTC)", format_time(entry["time"])),
        (
            "reinjected",
            "no"
            if reinjected is None
            else f"to {_where(reinjected)} at {_utc(reinjected.get('time'))}",
        ),
        ("purged", "no" if purged is None else f"at {_utc(purged.get('time'))}"),
        ("key", _bytes_text(entry["key"], None)),
        ("value", _bytes_text(entry["value"], entry["value_text"])),
    ]
    width = max(len(label) for label, _ in fields)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in fields)


def format_reinject(result: dict[str, Any]) -> str:
    """Return one line saying where a dead letter was re-sent."""
    line = f"reinjected {result['id']} -> {_where(result)}"
    earlier = result["previously_reinjected"]
    if earlier is not None:
        line += f" (also reinjected before, at {_utc(earlier.get('time'))})"
    return line


def format_purge(result: dict[str, Any]) -> str:
    """Return one line saying that a dead letter is purged."""
    if result["already_purged"]:
        return f"{result['id']} was already purged at {_utc(result['time'])}"
    return f"purged {result['id']}"


def format_drain(result: dict[str, Any]) -> str:
    """Return one line summing up a drain."""
    moved = _count(result["moved"], "message")
    line = f"moved {moved} from {result['source']} to {result['destination']}"
    if result["skipped_purged"]:
        line += f"; skipped {_count(result['skipped_purged'], 'purged dead letter')}"
    return line


def format_time(epoch: Any) -> str:
    """Return epoch seconds as ``YYYY-MM-DD HH:MM:SS`` in UTC, or ``-``."""
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return "-"
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _utc(epoch: Any) -> str:
    """A time inside a sentence, labelled: ``YYYY-MM-DD HH:MM:SS UTC`` (or ``-``)."""
    text = format_time(epoch)
    return text if text == "-" else f"{text} UTC"


def format_origin(origin: dict[str, Any] | None) -> str:
    """Return ``topic[partition]@offset``, or ``-`` when unknown."""
    if not origin:
        return "-"
    return _where(origin)


class ProgressDisplay:
    """A progress display on stderr for ``progress(done, total)`` callbacks.

    On a terminal it redraws one line; otherwise (a pipe, a log file) it prints a line at
    each tenth of the way and at the end, so logs stay short. It stays silent while the
    total is below ``min_total``.
    """

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        min_total: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._min_total = min_total
        self._clock = clock
        self._last_draw = float("-inf")
        self._next_step = 0
        self._drawn = False
        self._finished = False

    def __call__(self, done: int, total: int) -> None:
        if total < self._min_total or self._finished:
            return
        percent = 100 if total <= 0 else min(100, done * 100 // total)
        finished = done >= total
        if self._tty:
            now = self._clock()
            if not finished and now - self._last_draw < _TTY_REFRESH:
                return
            self._last_draw = now
            bar = "#" * (percent // 5)
            self._stream.write(
                f"\r{self._label} [{bar.ljust(20, '.')}] {done}/{total} ({percent}%)"
            )
        else:
            if not finished and percent < self._next_step:
                return
            self._next_step = (percent // _LINE_STEP_PERCENT + 1) * _LINE_STEP_PERCENT
            self._stream.write(f"{self._label}: {done}/{total} ({percent}%)\n")
        self._drawn = True
        self._finished = finished
        self._stream.flush()

    def close(self) -> None:
        """End the terminal line, if one was drawn."""
        if self._tty and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
        self._drawn = False


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _where(place: dict[str, Any]) -> str:
    return f"{place.get('topic')}[{place.get('partition')}]@{place.get('offset')}"


def _reinjected_cell(mark: dict[str, Any] | None) -> str:
    return "-" if mark is None else format_time(mark.get("time"))


def _bytes_text(encoded: str | None, text: str | None) -> str:
    if encoded is None:
        return "(none)"
    if text is not None and text.isprintable():
        return text
    return f"base64:{encoded}"


def _cut(cell: str) -> str:
    cell = " ".join(cell.split())
    return cell if len(cell) <= _MAX_CELL else cell[: _MAX_CELL - 1] + "…"
