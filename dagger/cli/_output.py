"""What the ``dagger`` command prints: tables for people, and progress for long operations."""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Sequence
from typing import Any, TextIO

CELL_WIDTH = 60
"""Longest cell a table shows but in its last column; longer text is cut with an ellipsis
(--json has it all)."""


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under their headers, in columns two spaces apart."""
    last = len(headers) - 1
    cells = [[_cell(value, column == last) for column, value in enumerate(row)] for row in rows]
    widths = [
        max([len(header), *(len(row[column]) for row in cells)])
        for column, header in enumerate(headers)
    ]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def when(epoch: Any) -> str:
    """An epoch time as UTC ``YYYY-MM-DD HH:MM:SS``; ``-`` when unset."""
    if not isinstance(epoch, int | float) or epoch <= 0:
        return "-"
    moment = datetime.datetime.fromtimestamp(float(epoch), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def waits_text(waits: Any) -> str:
    """The WAITING FOR cell: ``topic key=value`` for a message, ``timer <due> UTC``.

    ``-`` when the instance waits for nothing, or the worker did not say (an older one).
    """
    if not waits:
        return "-"
    texts = []
    for wait in waits:
        if wait.get("kind") == "message":
            texts.append(f"{wait.get('topic')} {wait.get('key')}={wait.get('value')}")
        elif wait.get("kind") == "timer":
            texts.append(f"timer {when(wait.get('due'))} UTC")
    return "; ".join(texts) or "-"


PROGRESS_CHOICES = ("auto", "always", "never")


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress auto|always|never``, the same option on every command."""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_CHOICES,
        default="auto",
        help="progress of long operations on stderr (auto: when stderr is a terminal)",
    )


def progress_wanted(choice: str, stream: TextIO) -> bool:
    """Whether ``--progress choice`` shows progress on ``stream``."""
    return {"always": True, "never": False}.get(choice, stream.isatty())


def _cell(value: Any, whole: bool) -> str:
    text = "-" if value is None or value == "" else str(value)
    text = " ".join(text.split())
    return text if whole or len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


class Progress:
    """Shows how far a long operation got, on ``stream`` (stderr): a bar on a terminal,
    one line per step otherwise; nothing when not ``enabled``.
    """

    BAR = 30

    def __init__(self, stream: TextIO, label: str, total: int | None, *, enabled: bool) -> None:
        self._stream = stream
        self._label = label
        self._total = total
        self._enabled = enabled
        self._tty = enabled and stream.isatty()
        self._shown = False

    def update(self, done: int, total: int | None = None) -> None:
        """Show that ``done`` of ``total`` (or of the total given before) are done."""
        if total is not None:
            self._total = total
        if not self._enabled:
            return
        of = f"/{self._total}" if self._total is not None else ""
        text = f"{self._label}: {done}{of}"
        if self._tty:
            if self._total:
                filled = min(self.BAR, self.BAR * done // self._total)
                text = f"{self._label} [{'#' * filled}{'.' * (self.BAR - filled)}] {done}{of}"
            self._stream.write("\r" + text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the progress line."""
        if self._tty and self._shown:
            self._stream.write("\n")
            self._stream.flush()
