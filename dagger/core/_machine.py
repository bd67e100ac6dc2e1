"""The workflow state machine: ``apply(instance, event) -> effects``, with no I/O.

The machine mutates the instance it is given (the caller owns it: a freshly decoded copy)
and returns the effects the runtime must carry out. Processes run in sequence, tasks run
in sequence within a process, a decision runs one of its branches, a parallel composite
runs its branches side by side, and a FAILURE ends the process and the workflow. When a
workflow ends, what still executes in it is STOPPED (and, when the workflow itself was
stopped, every unfinished task).
"""

from __future__ import annotations

import time
from typing import Any

from dagger.core._effects import (
    CancelTimer,
    Effect,
    InstanceFinished,
    Register,
    RunContainerHook,
    RunDecision,
    RunInterval,
    RunStopHook,
    RunTask,
    SetTimer,
    Unregister,
)
from dagger.core._events import (
    Event,
    InstanceSubmitted,
    IntervalChecked,
    TaskDecided,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._keys import index_key
from dagger.exceptions.exceptions import InvalidTaskType
from dagger.tasks._base import (
    COMPLETE_BY_KEY,
    DecisionTask,
    ExecutorTask,
    IMonitoredTask,
    INonLeafNodeTask,
    IntervalTask,
    IProcessTemplateDAGInstance,
    ITask,
    ITemplateDAGInstance,
    MonitoringTask,
    ParallelCompositeTask,
    SensorTask,
    TriggerTask,
)
from dagger.tasks._status import TERMINAL_STATUSES, TaskOperator, TaskStatus, TaskStatusEnum

APPLIED_EVENTS_KEPT = 64
"""How many recent event ids an instance remembers to drop redelivered events."""

_NOT_STARTED = TaskStatusEnum.NOT_STARTED.name
_SUBMITTED = TaskStatusEnum.SUBMITTED.name
_EXECUTING = TaskStatusEnum.EXECUTING.name
_COMPLETED = TaskStatusEnum.COMPLETED.name
_FAILURE = TaskStatusEnum.FAILURE.name
_SKIPPED = TaskStatusEnum.SKIPPED.name
_STOPPED = TaskStatusEnum.STOPPED.name
_SUCCEEDED = frozenset({_COMPLETED, _SKIPPED})
"""A chain that ends with one of these lets the workflow go on."""


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
    if isinstance(event, TaskDecided):
        return _decided(instance, event.task_id, event.next_task_id, now)
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
    """Record ``event_id`` as applied (one more update); return False if it was before."""
    if event_id in instance.applied_events:
        return False
    instance.applied_events.append(event_id)
    instance.update_count += 1
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
        effects = _container_hook(task, INonLeafNodeTask) + _watch_process(instance, task, now)
        if task.root_dag is None:
            return effects + finish_task(instance, task.id, _COMPLETED, now=now)
        return effects + start_task(instance, task.root_dag, now)
    if isinstance(task, ParallelCompositeTask):
        effects = _container_hook(task, ParallelCompositeTask)
        if not task.parallel_child_task_list:
            return effects + finish_task(instance, task.id, _COMPLETED, now=now)
        for head in task.parallel_child_task_list:
            effects.extend(_start_next(instance, head, now))
        return effects
    if isinstance(task, DecisionTask):
        return [RunDecision(task.id)]
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


def _container_hook(task: ITask[Any, Any], base: type[ITask[Any, Any]]) -> list[Effect]:
    """Run the container's ``execute`` first when its class defines one of its own."""
    if type(task).execute is base.execute:
        return []
    return [RunContainerHook(task.id)]


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
    was_executing = task.status.code == _EXECUTING
    _set_status(task, TaskStatusEnum[status_code], now)
    task.time_completed = now
    if error is not None:
        task.error_type, task.error_message = error
    effects: list[Effect] = []
    if status_code == _STOPPED and was_executing and _is_leaf(task):
        effects.append(RunStopHook(task.id))
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
        # Nothing runs on in a finished workflow: what is executing is STOPPED. A
        # stopped workflow stops every unfinished task; after a failure, tasks that
        # were never reached stay NOT_STARTED.
        for child in _descendants(instance, instance):
            if child.status.code == _EXECUTING or (
                status_code == _STOPPED and not child.is_terminal()
            ):
                effects.extend(finish_task(instance, child.id, _STOPPED, iterate=False, now=now))
        for child in instance.tasks.values():
            effects.extend(stop_listening(child))
            effects.extend(_cancel_timer(child))
        return [*effects, InstanceFinished(status_code)]
    return effects + _move_on(instance, task, status_code, now)


def stop_task(
    instance: ITemplateDAGInstance[Any, Any], task_id: str, now: float | None = None
) -> list[Effect]:
    """Stop ``task_id`` (the instance, a process, a composite or a task) and all under it.

    Unfinished tasks become STOPPED and the ``stop`` hooks of executing ones run. A
    stopped part ends its chain like a failure: it stops the workflow, unless it is in a
    branch of a parallel composite, whose operator decides. Stopping what has finished
    changes nothing.
    """
    now = time.time() if now is None else now
    if not can_stop(instance, task_id):
        return []
    node = instance.get_task(task_id)
    effects: list[Effect] = []
    if node is not instance:
        for task in _descendants(instance, node):
            if not task.is_terminal():
                effects.extend(finish_task(instance, task.id, _STOPPED, iterate=False, now=now))
    return effects + finish_task(
        instance, node.id, _STOPPED, now=now, error=("Stopped", f"{node.task_name} was stopped")
    )


def can_stop(instance: ITemplateDAGInstance[Any, Any], task_id: str) -> bool:
    """True when ``task_id`` (or the instance) exists and has not finished."""
    if instance.is_terminal() or (task_id != instance.id and task_id not in instance.tasks):
        return False
    return not instance.get_task(task_id).is_terminal()


def _is_leaf(task: ITask[Any, Any]) -> bool:
    return not isinstance(task, INonLeafNodeTask | ParallelCompositeTask)


def _move_on(
    instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], status_code: str, now: float
) -> list[Effect]:
    """Start what follows ``task``, which ended with ``status_code``, or end its chain."""
    if isinstance(task, DecisionTask):
        # Reached only when the decision did not evaluate (it was skipped, stopped or
        # failed): none of its branches runs.
        effects: list[Effect] = []
        for head in task.next_dags:
            effects.extend(_finish_chain(instance, head, _SKIPPED, now))
        return effects + _chain_ended(instance, task, status_code, now)
    if status_code in _SUCCEEDED and task.next_dags:
        return _start_next(instance, task.next_dags[0], now)
    return _chain_ended(instance, task, status_code, now)


def _chain_ended(
    instance: ITemplateDAGInstance[Any, Any], last: ITask[Any, Any], status_code: str, now: float
) -> list[Effect]:
    """The chain ``last`` belongs to ended with ``status_code``: tell its parent."""
    parent = _parent_of(instance, last)
    if isinstance(parent, ParallelCompositeTask):
        return _branch_ended(instance, parent, last, status_code, now)
    if status_code in _SUCCEEDED:
        return finish_task(instance, parent.id, _COMPLETED, now=now)
    return finish_task(instance, parent.id, status_code, now=now, error=_error_of(last))


def _error_of(task: ITask[Any, Any]) -> tuple[str, str]:
    return (
        task.error_type or task.status.code,
        f"{task.task_name}: {task.error_message or task.status.code}",
    )


# -- decisions and parallel branches -------------------------------------------------------


def _decided(
    instance: ITemplateDAGInstance[Any, Any], task_id: str, chosen: str | None, now: float
) -> list[Effect]:
    """Run the branch a decision chose and SKIP the others."""
    task = instance.get_task(task_id)
    if not isinstance(task, DecisionTask) or task.status.code != _EXECUTING:
        return []
    if chosen is not None and chosen not in task.next_dags:
        names = {instance.get_task(head).task_name: head for head in task.next_dags}
        hint = f"; use self.branch({chosen!r})" if chosen in names else ""
        return finish_task(
            instance,
            task.id,
            _FAILURE,
            now=now,
            error=(
                "InvalidDecision",
                f"evaluate() returned {chosen!r}, which is not the id of one of its branches "
                f"{sorted(names)}{hint}",
            ),
        )
    effects = finish_task(instance, task.id, _COMPLETED, iterate=False, now=now)
    for head in task.next_dags:
        if head != chosen:
            effects.extend(_finish_chain(instance, head, _SKIPPED, now))
    if chosen is None:
        return effects + _chain_ended(instance, task, _COMPLETED, now)
    return effects + _start_next(instance, chosen, now)


def _branch_ended(
    instance: ITemplateDAGInstance[Any, Any],
    composite: ParallelCompositeTask[Any, Any],
    last: ITask[Any, Any],
    status_code: str,
    now: float,
) -> list[Effect]:
    """Join a branch of ``composite`` that ended with ``status_code``.

    ``JOIN_ALL``: a FAILURE (or STOP) ends the composite with it at once; it completes
    when every branch succeeded. ``ATLEAST_ONE``: the first branch that succeeds
    completes it; it fails only when every branch ended without success (STOPPED if none
    of them failed). Branches still running when the composite ends are STOPPED.
    """
    if composite.is_terminal():
        return []
    outcomes = {head: _chain_outcome(instance, head) for head in composite.parallel_child_task_list}
    ended = all(outcome is not None for outcome in outcomes.values())
    final: str | None = None
    if composite.operator_type == TaskOperator.ATLEAST_ONE.name:
        if status_code in _SUCCEEDED:
            final = _COMPLETED
        elif ended:
            failed = any(outcome == _FAILURE for outcome in outcomes.values())
            final = _FAILURE if failed else _STOPPED
    elif status_code not in _SUCCEEDED:
        final = status_code
    elif ended:
        final = _COMPLETED
    if final is None:
        return []
    effects: list[Effect] = []
    for head, outcome in outcomes.items():
        if outcome is None:
            effects.extend(_finish_chain(instance, head, _STOPPED, now))
    error = None if final == _COMPLETED else _error_of(last)
    return effects + finish_task(instance, composite.id, final, now=now, error=error)


def _chain_outcome(instance: ITemplateDAGInstance[Any, Any], head: str) -> str | None:
    """How the chain starting at ``head`` ended; None while it runs."""
    statuses = {task.status.code for task in _chain(instance, head)}
    if _EXECUTING in statuses:
        return None
    for final in (_FAILURE, _STOPPED):
        if final in statuses:
            return final
    if not statuses <= TERMINAL_STATUSES:
        return None
    return _COMPLETED if _COMPLETED in statuses else _SKIPPED


def _chain(instance: ITemplateDAGInstance[Any, Any], head: str) -> list[ITask[Any, Any]]:
    """The tasks of the chain from ``head``, following every branch of its decisions."""
    chain: list[ITask[Any, Any]] = []
    pending = [head]
    while pending:
        task = instance.get_task(pending.pop())
        chain.append(task)
        pending.extend(task.next_dags)
    return chain


def _finish_chain(
    instance: ITemplateDAGInstance[Any, Any], head: str, status_code: str, now: float
) -> list[Effect]:
    """Give every unfinished task of the chain from ``head`` (and under it) ``status_code``."""
    effects: list[Effect] = []
    for task in _chain_and_below(instance, head):
        if not task.is_terminal():
            effects.extend(finish_task(instance, task.id, status_code, iterate=False, now=now))
    return effects


def _parent_of(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> ITask[Any, Any]:
    if task.parent_id is None:
        raise InvalidTaskType(f"task {task.task_name!r} ({task.id}) has no parent")
    return instance.get_task(task.parent_id)


def _set_status(task: ITask[Any, Any], status: TaskStatusEnum, now: float) -> None:
    if task.status.code != status.name:
        task.record_transition(task.status.code, status.name)
    task.status = TaskStatus.of(status)
    task.lastupdated = now


def _start_next(instance: ITemplateDAGInstance[Any, Any], task_id: str, now: float) -> list[Effect]:
    """Start the next task, or move past it when it was already skipped."""
    task = instance.get_task(task_id)
    if task.status.code == _SKIPPED:
        return _move_on(instance, task, _SKIPPED, now)
    if task.status.code == _NOT_STARTED:
        return start_task(instance, task_id, now)
    return []


# -- listeners ---------------------------------------------------------------------------


def listen(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> list[Effect]:
    """Register the listener ``task`` under the current value of its correlation parameter."""
    if not isinstance(task, SensorTask):
        return []
    wanted = _parameter_key(instance, task)
    if wanted is None:
        return stop_listening(task)
    key, value_text = wanted
    if task.correlatable_key_value == value_text:
        return []
    effects = stop_listening(task)
    task.correlatable_key_value = value_text
    return [*effects, Register(task.id, key)]


def _parameter_key(
    instance: ITemplateDAGInstance[Any, Any], task: SensorTask[Any, Any]
) -> tuple[str, str] | None:
    """The index key (and value) the listener's correlation parameter names now, if any."""
    name = task.correlatable_key
    value = instance.runtime_parameters.get(name) if name else None
    if value is None or task.topic is None:
        return None
    value_text = str(value)
    return index_key(task.topic, str(name), value_text), value_text


def _missing_key_error(task: ITask[Any, Any]) -> tuple[str, str]:
    return (
        "MissingCorrelationKey",
        f"runtime parameter {task.correlatable_key!r} is not set, so the listener cannot wait",
    )


def stop_listening(task: ITask[Any, Any]) -> list[Effect]:
    key = _registered_key(task)
    if key is None:
        return []
    task.correlatable_key_value = None
    return [Unregister(task.id, key)]


def registered_index_keys(instance: ITemplateDAGInstance[Any, Any]) -> list[tuple[str, str]]:
    """The (task id, index key) of each listener of ``instance`` registered in the index."""
    registered = ((task.id, _registered_key(task)) for task in instance.tasks.values())
    return [(task_id, key) for task_id, key in registered if key is not None]


def released_index_keys(instance: ITemplateDAGInstance[Any, Any]) -> list[tuple[str, str]]:
    """The (task id, index key) of each listener of ``instance`` that waits no more.

    The key is the one its correlation parameter names now, where the listener waited
    last unless a hook changed the parameter since.
    """
    released: list[tuple[str, str]] = []
    for task in instance.tasks.values():
        if not isinstance(task, SensorTask) or task.correlatable_key_value is not None:
            continue
        wanted = _parameter_key(instance, task)
        if wanted is not None:
            released.append((task.id, wanted[0]))
    return released


def _registered_key(task: ITask[Any, Any]) -> str | None:
    """The index key the listener ``task`` is registered under, if it is."""
    if not isinstance(task, SensorTask) or task.correlatable_key_value is None:
        return None
    return index_key(str(task.topic), str(task.correlatable_key), task.correlatable_key_value)


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
    """Skip what comes before ``target`` on its way, then start it and what runs beside it.

    Tasks before it are SKIPPED, except the other branches of the parallel composites it
    is in: those start, as the composite does. A decision skipped on the way skips the
    branches that do not lead to ``target``.
    """
    ancestors = _ancestors(instance, target)
    on_the_way = ancestors | {target.id}
    composites = [
        task
        for task in map(instance.get_task, ancestors)
        if isinstance(task, ParallelCompositeTask)
    ]
    beside = {
        head: _ids(_chain_and_below(instance, head))
        for composite in composites
        for head in composite.parallel_child_task_list
    }
    beside = {head: ids for head, ids in beside.items() if not ids & on_the_way}
    runs_beside = set().union(*beside.values()) if beside else set()
    effects: list[Effect] = []
    ordered = _in_order(instance)
    for task in ordered:
        if task is target:
            break
        if task.id in on_the_way or task.id in runs_beside or task.is_terminal():
            continue
        effects.extend(finish_task(instance, task.id, _SKIPPED, iterate=False, now=now))
    for task in ordered:
        if isinstance(task, DecisionTask) and task.status.code == _SKIPPED:
            for head in task.next_dags:
                if not _ids(_chain_and_below(instance, head)) & on_the_way:
                    effects.extend(_finish_chain(instance, head, _SKIPPED, now))
    for ancestor_id in ancestors:
        ancestor = instance.get_task(ancestor_id)
        if ancestor.status.code in (_NOT_STARTED, _SUBMITTED):
            _set_status(ancestor, TaskStatusEnum.EXECUTING, now)
            ancestor.time_submitted = ancestor.time_submitted or now
            if ancestor is not instance:
                effects.extend(_watch_process(instance, ancestor, now))
    _set_status(target, TaskStatusEnum.EXECUTING, now)
    target.time_submitted = now
    for head in beside:
        effects.extend(_start_next(instance, head, now))
    return effects


def _chain_and_below(instance: ITemplateDAGInstance[Any, Any], head: str) -> list[ITask[Any, Any]]:
    """The tasks of the chain from ``head``, each followed by every task under it."""
    tasks: list[ITask[Any, Any]] = []
    children = children_by_parent(instance)
    for node in _chain(instance, head):
        tasks.append(node)
        tasks.extend(_descendants(instance, node, children))
    return tasks


def _ids(tasks: list[ITask[Any, Any]]) -> set[str]:
    return {task.id for task in tasks}


def _ancestors(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> set[str]:
    ancestors: set[str] = set()
    current = task
    while current.parent_id is not None:
        ancestors.add(current.parent_id)
        current = instance.get_task(current.parent_id)
    ancestors.add(instance.id)
    return ancestors


def _in_order(instance: ITemplateDAGInstance[Any, Any]) -> list[ITask[Any, Any]]:
    """Every process and task in the order the workflow reaches them (depth first)."""
    ordered: list[ITask[Any, Any]] = []
    pending = [instance.root_dag] if instance.root_dag else []
    while pending:
        task = instance.get_task(pending.pop())
        ordered.append(task)
        inner: list[str] = []
        if isinstance(task, INonLeafNodeTask) and task.root_dag:
            inner = [task.root_dag]
        elif isinstance(task, ParallelCompositeTask):
            inner = list(task.parallel_child_task_list)
        pending.extend(reversed([*inner, *task.next_dags]))
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


def children_by_parent(
    instance: ITemplateDAGInstance[Any, Any],
) -> dict[str, list[ITask[Any, Any]]]:
    """The tasks of ``instance`` by the id of their parent: one pass over the tasks."""
    children: dict[str, list[ITask[Any, Any]]] = {}
    for task in instance.tasks.values():
        if task.parent_id is not None:
            children.setdefault(task.parent_id, []).append(task)
    return children


def _descendants(
    instance: ITemplateDAGInstance[Any, Any],
    node: ITask[Any, Any],
    children: dict[str, list[ITask[Any, Any]]] | None = None,
) -> list[ITask[Any, Any]]:
    """Every task under ``node`` (its children, their children, ...).

    A walk over many nodes passes ``children`` (from :func:`children_by_parent`) so the
    tasks are grouped once, not once per node.
    """
    if children is None:
        children = children_by_parent(instance)
    found: list[ITask[Any, Any]] = []
    pending = [node.id]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child.id)
    return found
