"""The workflow state machine: ``apply(instance, event) -> effects``, with no I/O.

The machine mutates the instance it is given (the caller owns it: a freshly decoded copy)
and returns the effects the runtime must carry out. Processes run in sequence, tasks run
in sequence within a process, and a FAILURE ends the process and the workflow.
"""

from __future__ import annotations

import time
from typing import Any

from dagger.core._effects import (
    CancelTimer,
    Effect,
    InstanceFinished,
    Register,
    RunInterval,
    RunTask,
    SetTimer,
    Unregister,
)
from dagger.core._events import (
    Event,
    InstanceSubmitted,
    IntervalChecked,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._keys import index_key
from dagger.exceptions.exceptions import InvalidTaskType
from dagger.tasks._base import (
    COMPLETE_BY_KEY,
    ExecutorTask,
    IMonitoredTask,
    INonLeafNodeTask,
    IntervalTask,
    IProcessTemplateDAGInstance,
    ITask,
    ITemplateDAGInstance,
    MonitoringTask,
    SensorTask,
    TriggerTask,
)
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
    if isinstance(event, IntervalChecked):
        return _interval_checked(instance, event, now)
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
    effects: list[Effect] = []
    for task in instance.tasks.values():
        # A listener that may be skipped to waits from the start, so an early message
        # for it finds it in the index.
        if isinstance(task, SensorTask) and task.allow_skip_to:
            effects.extend(listen(instance, task))
    return effects + start_task(instance, instance.id, now)


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
        effects = _watch_process(instance, task, now)
        if task.root_dag is None:
            return effects + finish_task(instance, task.id, _COMPLETED, now=now)
        return effects + start_task(instance, task.root_dag, now)
    if isinstance(task, TriggerTask):
        return _start_timed(instance, task, now)
    if isinstance(task, ExecutorTask):
        return [RunTask(task.id)]
    if isinstance(task, SensorTask):
        effects = listen(instance, task)
        if task.correlatable_key_value is None:
            return effects + finish_task(
                instance, task.id, _FAILURE, now=now, error=_missing_key_error(task)
            )
        return effects
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
    effects: list[Effect] = []
    if isinstance(task, SensorTask) and not (
        status_code == _COMPLETED and task.reprocess_on_message
    ):
        effects.extend(stop_listening(task))
    effects.extend(_cancel_timer(task))
    if isinstance(task, IProcessTemplateDAGInstance):
        effects.extend(_finish_monitor(instance, task, now))
    if not iterate or isinstance(task, MonitoringTask):
        return effects
    if task is instance:
        for child in instance.tasks.values():
            effects.extend(stop_listening(child))
            effects.extend(_cancel_timer(child))
        return [*effects, InstanceFinished(status_code)]
    parent = _parent_of(instance, task)
    if status_code in (_COMPLETED, _SKIPPED):
        if task.next_dags:
            return effects + _start_next(instance, task.next_dags[0], now)
        return effects + finish_task(instance, parent.id, _COMPLETED, now=now)
    return effects + finish_task(
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


def _start_next(instance: ITemplateDAGInstance[Any, Any], task_id: str, now: float) -> list[Effect]:
    """Start the next task, or move past it when it was already skipped."""
    task = instance.get_task(task_id)
    if task.status.code == _SKIPPED:
        if task.next_dags:
            return _start_next(instance, task.next_dags[0], now)
        return finish_task(instance, _parent_of(instance, task).id, _COMPLETED, now=now)
    if task.status.code == _NOT_STARTED:
        return start_task(instance, task_id, now)
    return []


# -- listeners ---------------------------------------------------------------------------


def listen(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> list[Effect]:
    """Register the listener ``task`` under the current value of its correlation parameter."""
    if not isinstance(task, SensorTask):
        return []
    name = task.correlatable_key
    value = instance.runtime_parameters.get(name) if name else None
    if value is None or task.topic is None:
        return stop_listening(task)
    value_text = str(value)
    if task.correlatable_key_value == value_text:
        return []
    effects = stop_listening(task)
    task.correlatable_key_value = value_text
    return [*effects, Register(task.id, index_key(task.topic, str(name), value_text))]


def _missing_key_error(task: ITask[Any, Any]) -> tuple[str, str]:
    return (
        "MissingCorrelationKey",
        f"runtime parameter {task.correlatable_key!r} is not set, so the listener cannot wait",
    )


def stop_listening(task: ITask[Any, Any]) -> list[Effect]:
    if not isinstance(task, SensorTask) or task.correlatable_key_value is None:
        return []
    key = index_key(str(task.topic), str(task.correlatable_key), task.correlatable_key_value)
    task.correlatable_key_value = None
    return [Unregister(task.id, key)]


def accept_message(
    instance: ITemplateDAGInstance[Any, Any], task_id: str, now: float | None = None
) -> tuple[bool, list[Effect]]:
    """Decide whether the listener ``task_id`` handles a message now.

    An EXECUTING listener does; a NOT_STARTED one with ``allow_skip_to`` does after its
    unfinished predecessors are SKIPPED; a COMPLETED one with ``reprocess_on_message``
    does again. Returns whether to run ``on_message`` and the effects of the skip.
    """
    now = time.time() if now is None else now
    task = instance.tasks.get(task_id)
    if not isinstance(task, SensorTask) or instance.is_terminal():
        return False, []
    code = task.status.code
    if code == _EXECUTING:
        return True, []
    if code == _COMPLETED and task.reprocess_on_message:
        return True, []
    if code == _NOT_STARTED and task.allow_skip_to:
        return True, _skip_to(instance, task, now)
    return False, []


def message_handled(
    instance: ITemplateDAGInstance[Any, Any],
    task_id: str,
    completed: bool,
    now: float | None = None,
) -> list[Effect]:
    """Move the workflow on after the listener's ``on_message`` returned ``completed``."""
    now = time.time() if now is None else now
    task = instance.get_task(task_id)
    if not isinstance(task, SensorTask):
        return []
    if completed and task.status.code == _EXECUTING:
        return finish_task(instance, task_id, _COMPLETED, now=now)
    if task.correlatable_key_value is None:
        return []
    # on_message may have changed (or removed) the parameter the listener is keyed on.
    effects = listen(instance, task)
    if task.correlatable_key_value is None and task.status.code == _EXECUTING:
        effects += finish_task(instance, task_id, _FAILURE, now=now, error=_missing_key_error(task))
    return effects


def _skip_to(
    instance: ITemplateDAGInstance[Any, Any], target: SensorTask[Any, Any], now: float
) -> list[Effect]:
    ancestors = _ancestors(instance, target)
    effects: list[Effect] = []
    for task in _in_order(instance):
        if task is target:
            break
        if task.id in ancestors or task.is_terminal():
            continue
        effects.extend(finish_task(instance, task.id, _SKIPPED, iterate=False, now=now))
    for ancestor_id in ancestors:
        ancestor = instance.get_task(ancestor_id)
        if ancestor.status.code in (_NOT_STARTED, _SUBMITTED):
            _set_status(ancestor, TaskStatusEnum.EXECUTING, now)
            ancestor.time_submitted = ancestor.time_submitted or now
            if ancestor is not instance:
                effects.extend(_watch_process(instance, ancestor, now))
    _set_status(target, TaskStatusEnum.EXECUTING, now)
    target.time_submitted = now
    return effects


def _ancestors(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> set[str]:
    ancestors: set[str] = set()
    current = task
    while current.parent_id is not None:
        ancestors.add(current.parent_id)
        current = instance.get_task(current.parent_id)
    ancestors.add(instance.id)
    return ancestors


def _in_order(instance: ITemplateDAGInstance[Any, Any]) -> list[ITask[Any, Any]]:
    """Every process and task in the order the workflow runs them."""
    ordered: list[ITask[Any, Any]] = []

    def chain(first_id: str | None) -> None:
        current = first_id
        while current is not None:
            task = instance.get_task(current)
            ordered.append(task)
            if isinstance(task, INonLeafNodeTask):
                chain(task.root_dag)
            current = task.next_dags[0] if task.next_dags else None

    chain(instance.root_dag)
    return ordered


# -- time --------------------------------------------------------------------------------


def fire_timer(
    instance: ITemplateDAGInstance[Any, Any], event: TimerFired, now: float | None = None
) -> list[Effect]:
    """Apply a due timer; a timer that was cancelled or replaced since changes nothing."""
    now = time.time() if now is None else now
    task = instance.tasks.get(event.task_id)
    if task is None or task.is_terminal() or task.timer_due != event.due:
        return []
    if not remember_event(instance, event.event_id):
        return []
    task.timer_due = None
    applied: list[Effect] = [CancelTimer(task.id)]
    if isinstance(task, INonLeafNodeTask):
        return applied + _skip_overdue_process(instance, task, now)
    if isinstance(task, IntervalTask):
        return [*applied, RunInterval(task.id)]
    return [*applied, RunTask(task.id)]


def _start_timed(
    instance: ITemplateDAGInstance[Any, Any], task: TriggerTask[Any, Any], now: float
) -> list[Effect]:
    due = task.time_to_execute
    if due is None:
        if not isinstance(task, IntervalTask):
            return finish_task(
                instance,
                task.id,
                _FAILURE,
                now=now,
                error=("InvalidTriggerTimeForTask", f"{task.task_name} has no time to execute"),
            )
        due = now
    if due > now:
        task.timer_due = float(due)
        return [SetTimer(task.id, float(due))]
    if isinstance(task, IntervalTask):
        return [RunInterval(task.id)]
    return [RunTask(task.id)]


def _interval_checked(
    instance: ITemplateDAGInstance[Any, Any], event: IntervalChecked, now: float
) -> list[Effect]:
    task = instance.get_task(event.task_id)
    if not isinstance(task, IntervalTask) or task.status.code != _EXECUTING:
        return []
    deadline = task.time_to_force_complete
    if event.done or (deadline is not None and now >= deadline):
        return [RunTask(task.id)]
    period = task.interval_execute_period or 1.0
    due = now + period
    if deadline is not None:
        due = min(due, deadline)
    task.timer_due = due
    return [SetTimer(task.id, due)]


def _cancel_timer(task: ITask[Any, Any]) -> list[Effect]:
    if task.timer_due is None:
        return []
    task.timer_due = None
    return [CancelTimer(task.id)]


def _watch_process(
    instance: ITemplateDAGInstance[Any, Any], process: ITask[Any, Any], now: float
) -> list[Effect]:
    """Set a process's deadline timer and start its monitoring task, if it has them."""
    effects: list[Effect] = []
    duration = getattr(process, "max_run_duration", 0) or 0
    if isinstance(process, IProcessTemplateDAGInstance) and duration > 0:
        process.timer_due = now + duration
        effects.append(SetTimer(process.id, process.timer_due))
    if isinstance(process, IMonitoredTask):
        complete_by = instance.runtime_parameters.get(COMPLETE_BY_KEY)
        if complete_by is not None:
            monitor_type = process.get_monitoring_task_type()
            monitor = monitor_type(
                id=monitor_id(process.id),
                task_name=f"{process.task_name}_monitor",
                parent_id=process.id,
                root_id=instance.id,
                process_name=process.task_name,
                time_created=now,
                time_to_execute=float(complete_by),
                monitored_task_id=process.id,
            )
            instance.add_task(monitor)
            effects.extend(start_task(instance, monitor.id, now))
    return effects


def monitor_id(process_id: str) -> str:
    """The id of the monitoring task of a monitored process."""
    return f"{process_id}:monitor"


def _finish_monitor(
    instance: ITemplateDAGInstance[Any, Any], process: ITask[Any, Any], now: float
) -> list[Effect]:
    monitor = instance.tasks.get(monitor_id(process.id))
    if monitor is None or monitor.is_terminal():
        return []
    return finish_task(instance, monitor.id, _COMPLETED, iterate=False, now=now)


def _skip_overdue_process(
    instance: ITemplateDAGInstance[Any, Any], process: ITask[Any, Any], now: float
) -> list[Effect]:
    """SKIP a process that outlived ``max_run_duration`` and its unfinished tasks."""
    effects: list[Effect] = []
    for task in _descendants(instance, process):
        if not task.is_terminal():
            effects.extend(finish_task(instance, task.id, _SKIPPED, iterate=False, now=now))
    return effects + finish_task(instance, process.id, _SKIPPED, now=now)


def _descendants(
    instance: ITemplateDAGInstance[Any, Any], node: ITask[Any, Any]
) -> list[ITask[Any, Any]]:
    return [task for task in instance.tasks.values() if node.id in _ancestors(instance, task)]
