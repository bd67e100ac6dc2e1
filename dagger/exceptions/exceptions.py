"""Errors raised by Dagger; every one derives from :class:`DaggerError`."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DaggerError",
    "InvalidTaskType",
    "InvalidTriggerTimeForTask",
    "StaleWriteError",
    "StoreError",
    "TaskInvalidState",
    "TemplateDoesNotExist",
    "UndecodableInstanceError",
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

    def __init__(self, message: str, *, class_path: str | None = None) -> None:
        super().__init__(message)
        self.class_path = class_path


class UndecodableInstanceError(DaggerError):
    """A stored instance cannot be built from the task classes this worker has.

    It names a class no registered template uses (``missing_class``: renamed, moved or
    removed), or its stored fields no longer fit its classes.
    """

    def __init__(
        self,
        message: str,
        *,
        instance_id: str | None = None,
        missing_class: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.instance_id = instance_id
        self.missing_class = missing_class
        self.error_type = error_type


class StoreError(DaggerError):
    """The store holding the engine's state failed an operation (unreachable, too big, ...)."""

    def __init__(self, message: str, *, store: str | None = None, key: bytes | None = None) -> None:
        super().__init__(message)
        self.store = store
        self.key = key


class StaleWriteError(StoreError):
    """A write was refused because another worker changed the record since it was read.

    A shared store (``aerospike://``) is written only by the worker owning the record's
    partition; this error means the writer is no longer that owner (it lost the
    partition, and the new owner has written since), so its write would have overwritten
    newer state. The new owner applies the same event from the log.
    """

    def __init__(
        self,
        message: str,
        *,
        store: str | None = None,
        key: bytes | None = None,
        expected_generation: int | None = None,
    ) -> None:
        super().__init__(message, store=store, key=key)
        self.expected_generation = expected_generation
