"""Effects: what the runtime must do after the core applied an event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunTask:
    """Run the user's ``execute`` of an executor task and report how it ended."""

    task_id: str


@dataclass(frozen=True, slots=True)
class InstanceFinished:
    """The workflow instance reached a final status."""

    status: str


Effect = RunTask | InstanceFinished
