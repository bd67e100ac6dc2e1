"""Errors raised by Dagger; every one derives from :class:`DaggerError`."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DaggerError",
    "InvalidTaskType",
    "InvalidTriggerTimeForTask",
    "TaskInvalidState",
    "TemplateDoesNotExist",
    "UnknownTaskClass",
]


class DaggerError(Exception):
    """Base class for all Dagger exceptions."""


class InvalidTaskType(DaggerError):
    """A task of the wrong type was given where a specific type is needed."""


class TaskInvalidState(DaggerError):
    """A task was asked to make a transition its current status does not allow."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


class TemplateDoesNotExist(DaggerError):
    """No template is registered under the requested name."""


class InvalidTriggerTimeForTask(DaggerError):
    """A trigger time that cannot be used was given to a timed task."""


class ConfigurationError(DaggerError, ValueError):
    """The engine was configured with a value it cannot honour."""


class UnknownTaskClass(DaggerError):
    """A stored instance names a task class that no registered template uses."""
