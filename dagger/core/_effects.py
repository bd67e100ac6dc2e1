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


@dataclass(frozen=True, slots=True)
class Register:
    """Add the listener ``task_id`` to the correlation index under ``index_key``."""

    task_id: str
    index_key: str


@dataclass(frozen=True, slots=True)
class Unregister:
    """Remove the listener ``task_id`` from the correlation index under ``index_key``."""

    task_id: str
    index_key: str


Effect = RunTask | InstanceFinished | Register | Unregister
