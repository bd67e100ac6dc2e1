"""The workflow state machine: ``apply(instance, event) -> effects``, with no I/O.

The machine mutates the instance it is given (the caller owns it: a freshly decoded copy)
and returns the effects the runtime must carry out. Processes run in sequence, tasks run
in sequence within a process, and a FAILURE ends the process and the workflow.
"""

from __future__ import annotations

import time
from typing import Any

from dagger.core._effects import Effect, InstanceFinished, RunTask
from dagger.core._events import Event, InstanceSubmitted, TaskFailed, TaskSucceeded
from dagger.exceptions.exceptions import InvalidTaskType
from dagger.tasks._base import ExecutorTask, INonLeafNodeTask, ITask, ITemplateDAGInstance
from dagger.tasks._status import TERMINAL_STATUSES, TaskStatus, TaskStatusEnum

APPLIED_EVENTS_KEPT = 64
"""How many recent event ids an instance remembers to drop redelivered events."""

_NOT_STARTED = TaskStatusEnum.NOT_STARTED.name
_SUBMITTED = TaskStatusEnum.SUBMITTED.name
_EXECUTING = TaskStatusEnum.EXECUTING.name
_COMPLETED = TaskStatusEnum.COMPLETED.name
_FAILURE = TaskStatusEnum.FAILURE.name
_SKIPPED = TaskStatusEnum.SKIPPED.name


def apply(
    instance: ITemplateDAGInstance[Any, Any], event: Event, now: float | None = None
) -> list[Effect]:
    """Apply ``event`` to ``instance`` and return the effects to carry out."""
    now = time.time() if now is None else now
    if isinstance(event, InstanceSubmitted):
        if not remember_event(instance, event.event_id):
            return []
        return submit(instance, now)
    if isinstance(event, TaskSucceeded):
        if instance.get_task(event.task_id).status.code != _EXECUTING:
            return []
        return finish_task(instance, event.task_id, _COMPLETED, now=now)
    if isinstance(event, TaskFailed):
        if instance.get_task(event.task_id).status.code != _EXECUTING:
            return []
        return finish_task(
            instance,
            event.task_id,
            _FAILURE,
            now=now,
            error=(event.error_type, event.error_message),
        )
    raise TypeError(f"not an instance event: {event!r}")


def remember_event(instance: ITemplateDAGInstance[Any, Any], event_id: str) -> bool:
    """Record ``event_id`` as applied; return False if it was applied before."""
    if event_id in instance.applied_events:
        return False
    instance.applied_events.append(event_id)
    if len(instance.applied_events) > APPLIED_EVENTS_KEPT:
        del instance.applied_events[: len(instance.applied_events) - APPLIED_EVENTS_KEPT]
    return True


def submit(instance: ITemplateDAGInstance[Any, Any], now: float | None = None) -> list[Effect]:
    """Start a workflow instance that has not started yet; otherwise change nothing."""
    if instance.status.code not in (_NOT_STARTED, _SUBMITTED):
        return []
    instance.status = TaskStatus.of(TaskStatusEnum.NOT_STARTED)
    return start_task(instance, instance.id, now)


def start_task(
    instance: ITemplateDAGInstance[Any, Any], task_id: str, now: float | None = None
) -> list[Effect]:
    """Start a task that has not started: descend into containers, run executors."""
    now = time.time() if now is None else now
    task = instance.get_task(task_id)
    if task.status.code != _NOT_STARTED:
        return []
    _set_status(task, TaskStatusEnum.EXECUTING, now)
    task.time_submitted = now
    if isinstance(task, INonLeafNodeTask):
        if task.root_dag is None:
            return finish_task(instance, task.id, _COMPLETED, now=now)
        return start_task(instance, task.root_dag, now)
    if isinstance(task, ExecutorTask):
        return [RunTask(task.id)]
    raise InvalidTaskType(
        f"task {task.task_name!r} is a {type(task).__name__}, which this engine cannot run"
    )


def finish_task(
    instance: ITemplateDAGInstance[Any, Any],
    task_id: str,
    status_code: str,
    *,
    iterate: bool = True,
    now: float | None = None,
    error: tuple[str, str] | None = None,
) -> list[Effect]:
    """Give a task its final status and move the workflow on from it."""
    if status_code not in TERMINAL_STATUSES:
        raise ValueError(
            f"a task finishes with one of {sorted(TERMINAL_STATUSES)}, not {status_code!r}"
        )
    now = time.time() if now is None else now
    task = instance.get_task(task_id)
    if task.is_terminal():
        return []
    _set_status(task, TaskStatusEnum[status_code], now)
    task.time_completed = now
    if error is not None:
        task.error_type, task.error_message = error
    if not iterate:
        return []
    if task is instance:
        return [InstanceFinished(status_code)]
    parent = _parent_of(instance, task)
    if status_code in (_COMPLETED, _SKIPPED):
        if task.next_dags:
            return start_task(instance, task.next_dags[0], now)
        return finish_task(instance, parent.id, _COMPLETED, now=now)
    return finish_task(
        instance,
        parent.id,
        status_code,
        now=now,
        error=(task.error_type or status_code, f"{task.task_name}: {task.error_message or ''}"),
    )


def _parent_of(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> ITask[Any, Any]:
    if task.parent_id is None:
        raise InvalidTaskType(f"task {task.task_name!r} ({task.id}) has no parent")
    return instance.get_task(task.parent_id)


def _set_status(task: ITask[Any, Any], status: TaskStatusEnum, now: float) -> None:
    task.status = TaskStatus.of(status)
    task.lastupdated = now
