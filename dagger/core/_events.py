"""Events: every change to a workflow instance is one of these, applied by its owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class InstanceCreated:
    """A new instance, carried as its encoded document; ``submit`` starts it at once."""

    event_id: str
    instance_id: str
    document: dict[str, Any]
    submit: bool = False


@dataclass(frozen=True, slots=True)
class InstanceSubmitted:
    """Start a created instance."""

    event_id: str
    instance_id: str


@dataclass(frozen=True, slots=True)
class TaskSucceeded:
    """An executor task's ``execute`` returned."""

    task_id: str


@dataclass(frozen=True, slots=True)
class TaskFailed:
    """An executor task's ``execute`` raised."""

    task_id: str
    error_type: str
    error_message: str


LogEvent = InstanceCreated | InstanceSubmitted
"""Events that travel through the engine topic and carry ids."""

Event = InstanceSubmitted | TaskSucceeded | TaskFailed
"""Events the state machine applies to an existing instance."""
