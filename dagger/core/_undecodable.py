"""Stored instances this worker cannot build, and what can still be read of them.

An instance stored by an earlier version of the code may name a task class that is gone
(renamed, moved or removed) or hold fields its classes no longer accept. Such an instance
must not break what serves the others: the owner dead-letters its events, the API lists
it as undecodable with the reason. Its root fields (id, template, status, partition,
parameters, times) are read from the stored document without building any task.
"""

from __future__ import annotations

from typing import Any

from dagger.core import _codec as codec
from dagger.core._registry import TaskClassRegistry, task_classes
from dagger.exceptions.exceptions import DaggerError, UndecodableInstanceError, UnknownTaskClass
from dagger.tasks._base import ITemplateDAGInstance

__all__ = ["DECODE_ERRORS", "READABLE_ROOT_FIELDS", "decode_stored", "explain", "readable_fields"]

DECODE_ERRORS = (DaggerError, TypeError, ValueError, KeyError, IndexError, AttributeError)
"""What building an instance from stored bytes raises when they no longer fit the code."""

READABLE_ROOT_FIELDS = (
    "id",
    "template_name",
    "status",
    "owner_partition",
    "partition_key_lookup",
    "runtime_parameters",
    "time_created",
    "time_submitted",
    "time_completed",
    "lastupdated",
    "error_type",
    "error_message",
)
"""The root fields an undecodable instance still shows."""


def decode_stored(
    raw: bytes | str, registry: TaskClassRegistry = task_classes
) -> ITemplateDAGInstance[Any, Any]:
    """Build the stored instance; :class:`UndecodableInstanceError` saying why it cannot."""
    try:
        return codec.decode(raw, registry)
    except DECODE_ERRORS as exc:
        raise explain(raw, exc) from exc


def explain(raw: bytes | str, error: BaseException) -> UndecodableInstanceError:
    """The error that says which stored instance cannot be built, and why."""
    instance_id = _stored_id(raw)
    missing = error.class_path if isinstance(error, UnknownTaskClass) else None
    return UndecodableInstanceError(
        f"instance {instance_id or '(unknown id)'} cannot be decoded: "
        f"{type(error).__name__}: {error}",
        instance_id=instance_id,
        missing_class=missing,
        error_type=type(error).__name__,
    )


def readable_fields(raw: bytes | str, registry: TaskClassRegistry = task_classes) -> dict[str, Any]:
    """The root fields of :data:`READABLE_ROOT_FIELDS` (``status`` as its code)."""
    return codec.root_fields(raw, READABLE_ROOT_FIELDS, registry)


def _stored_id(raw: bytes | str) -> str | None:
    try:
        document = codec.loads(raw)
        instance_id = document["f"]["id"]
    except (ValueError, TypeError, KeyError):
        return None
    return instance_id if isinstance(instance_id, str) else None
