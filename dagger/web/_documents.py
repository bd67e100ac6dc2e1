"""The JSON document of an instance the API returns, in the original's shape.

The original served each instance as its record's fields, JSON-encoded: ``status`` as
``{"code", "value"}``, ``task_type``, ``runtime_parameters`` and ``tasks`` (each task's
own fields, keyed by task id). The engine's bookkeeping of applied event ids is left out.
An instance this worker cannot decode (a task class is gone) is served with the root
fields its stored document still gives, no tasks, and ``undecodable``: why, and which
class is missing.

An executing instance's document also says what it waits for (``waiting_for``): each
executing listener's topic and key, and each executing task's timer with its due time.
"""

from __future__ import annotations

from typing import Any

from dagger import _faust_internals as faust_internals
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.tasks._base import ITask, ITemplateDAGInstance, SensorTask
from dagger.tasks._status import TaskStatus, TaskStatusEnum, TaskType

_LEFT_OUT = frozenset({"tasks", "applied_events"})
_CONTAINERS = frozenset({TaskType.ROOT.name, TaskType.SUB_DAG.name})
"""Their timer is a deadline (``max_run_duration``), not something the instance waits for."""


def instance_document(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, Any]:
    """Return the API document of ``instance``."""
    document = _fields(instance)
    document["tasks"] = {task_id: _fields(task) for task_id, task in instance.tasks.items()}
    document["waiting_for"] = waiting_for(instance)
    return document


def waiting_for(instance: ITemplateDAGInstance[Any, Any]) -> list[dict[str, Any]]:
    """What an executing instance waits for: messages on a topic under a key, or timers.

    Each is ``{"kind": "message", "task_id", "task_name", "topic", "key", "value"}`` (a
    listener registered under the value of its key parameter) or ``{"kind": "timer",
    "task_id", "task_name", "due"}`` (a trigger's time, an interval's next run, a retry's
    next attempt; epoch seconds). Empty when the instance is not EXECUTING.
    """
    if instance.status.code != TaskStatusEnum.EXECUTING.name:
        return []
    waits: list[dict[str, Any]] = []
    for task in instance.tasks.values():
        if task.status.code != TaskStatusEnum.EXECUTING.name:
            continue
        named = {"task_id": task.id, "task_name": task.task_name}
        if isinstance(task, SensorTask) and task.correlatable_key_value is not None:
            waits.append(
                {
                    "kind": "message",
                    **named,
                    "topic": task.topic,
                    "key": task.correlatable_key,
                    "value": task.correlatable_key_value,
                }
            )
        if task.timer_due is not None and task.task_type not in _CONTAINERS:
            waits.append({"kind": "timer", **named, "due": task.timer_due})
    return waits


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
