"""Where a (re)started worker's time goes, read from its log.

A worker started with ``-l info`` and ``DAGGER_LIBRARY_LOG_LEVEL=info`` logs, with a
timestamp, each step of its start: faust's "Starting...", aiokafka's group join, faust's
partition assignment and table recovery, "Ready", and the engine's first instance line.
:func:`restart_phases` turns those into seconds since the process was spawned, and
:func:`phase_medians` into the median time of each step over the starts that reached it.
"""

from __future__ import annotations

import datetime
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PHASES = (
    ("starting", "[^Worker]: Starting..."),
    ("joining", "(Re-)joining group"),
    ("joined", "Joined group"),
    ("assigning", "Executing _on_partitions_assigned"),
    ("recovering", "Restoring state from changelog topics"),
    ("recovered", "Recovery complete"),
    ("ready", "[^Worker]: Ready"),
    ("processing", "] Instance "),
)
"""(name, the log text that marks it), in the order a start goes through them."""

_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _epoch(line: str) -> float | None:
    found = _STAMP.match(line)
    if found is None:
        return None
    stamp = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()  # the worker logs local time, as time.time() reads it


def phases_of(log_path: Path, spawned: float) -> dict[str, float]:
    """Seconds from ``spawned`` to the first line of each phase the log reached."""
    found: dict[str, float] = {}
    if not log_path.exists():
        return found
    with log_path.open(errors="replace") as log:
        for line in log:
            for name, marker in PHASES:
                if name not in found and marker in line:
                    at = _epoch(line)
                    if at is not None:
                        found[name] = round(at - spawned, 3)
            if len(found) == len(PHASES):
                break
    return found


def restart_phases(started: Sequence[tuple[str, float, Path]]) -> list[dict[str, Any]]:
    """The phases of every restart (a start of a worker started before), in order."""
    seen: set[str] = set()
    restarts = []
    for name, spawned, path in started:
        if name in seen:
            restarts.append({"worker": name, **phases_of(path, spawned)})
        seen.add(name)
    return restarts


def phase_medians(restarts: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The median seconds from spawn to each phase, over the restarts that reached it."""
    medians: dict[str, float] = {}
    for name, _ in PHASES:
        reached = [restart[name] for restart in restarts if name in restart]
        if reached:
            medians[name] = round(statistics.median(reached), 2)
    return medians


def describe(restarts: Sequence[dict[str, Any]]) -> str:
    """One line: how many restarts processed anything, and the median time of each phase."""
    processed = sum(1 for restart in restarts if "processing" in restart)
    steps = ", ".join(f"{name} {value:.1f}" for name, value in phase_medians(restarts).items())
    return (
        f"{processed}/{len(restarts)} restarts processed anything before the next kill; "
        f"median seconds from spawn to {steps}"
    )
