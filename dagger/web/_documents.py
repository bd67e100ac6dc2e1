"""The JSON document of an instance the API returns, in the original's shape.

The original served each instance as its record's fields, JSON-encoded: ``status`` as
``{"code", "value"}``, ``task_type``, ``runtime_parameters`` and ``tasks`` (each task's
own fields, keyed by task id). The engine's bookkeeping of applied event ids is left out.
An instance this worker cannot decode (a task class is gone) is served with the root
fields its stored document still gives, no tasks, and ``undecodable``: why, and which
class is missing.
"""

from __future__ import annotations

from typing import Any

from dagger import _faust_internals as faust_internals
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._status import TaskStatus, TaskStatusEnum

_LEFT_OUT = frozenset({"tasks", "applied_events"})


def instance_document(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, Any]:
    """Return the API document of ``instance``."""
    document = _fields(instance)
    document["tasks"] = {task_id: _fields(task) for task_id, task in instance.tasks.items()}
    return document


def undecodable_document(fields: dict[str, Any], error: UndecodableInstanceError) -> dict[str, Any]:
    """Return the API document of an instance that cannot be decoded: what can be read."""
    document = dict(fields)
    code = document.get("status")
    try:
        value = TaskStatus.of(TaskStatusEnum[str(code)]).value
    except KeyError:
        value = None
    document["status"] = {"code": code, "value": value}
    document["tasks"] = {}
    document["undecodable"] = {
        "reason": str(error),
        "error_type": error.error_type,
        "missing_class": error.missing_class,
    }
    return document


def _fields(task: ITask[Any, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in faust_internals.record_fields(type(task)):
        if name in _LEFT_OUT:
            continue
        value = getattr(task, name)
        if name == "status":
            value = {"code": value.code, "value": value.value}
        fields[name] = value
    return fields
