"""Reading an update document back into an instance, as the original's consumers do.

A consumer written for the original reads the task update topic with
``ITemplateDAGInstance.from_data(jsonpickle.decode(value))`` and looks at ``.id``,
``.status.code`` and ``.update_count``. Our documents are plain JSON (never pickled), which
``jsonpickle.decode`` reads as ``json.loads`` does; this module turns such a document into
an instance carrying the workflow's own fields. Its tasks stay in the document's ``tasks``
list: they are views, not the task classes the worker runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagger.tasks._status import TaskStatus, TaskStatusEnum

__all__ = ["from_update_document", "is_update_document"]

_INSTANCE_FIELDS = (
    "time_created",
    "time_submitted",
    "time_completed",
    "error_type",
    "error_message",
    "update_count",
)


def is_update_document(data: Any) -> bool:
    """True for a plain-JSON update document (its status is a code, its tasks a list)."""
    return (
        isinstance(data, Mapping)
        and isinstance(data.get("id"), str)
        and isinstance(data.get("status"), str)
        and isinstance(data.get("tasks", []), list)
    )


def from_update_document(instance_class: type[Any], data: Mapping[str, Any]) -> Any:
    """An ``instance_class`` holding the workflow fields of the update document ``data``."""
    code = data["status"]
    try:
        status = TaskStatus.of(TaskStatusEnum[code])
    except KeyError:
        raise ValueError(
            f"an update document's status must be a task status, got {code!r}"
        ) from None
    fields = {name: data[name] for name in _INSTANCE_FIELDS if data.get(name) is not None}
    template = str(data.get("template") or "")
    return instance_class(
        id=data["id"],
        task_name=template,
        template_name=template,
        root_id=data["id"],
        status=status,
        runtime_parameters=dict(data.get("runtime_parameters") or {}),
        **fields,
    )
