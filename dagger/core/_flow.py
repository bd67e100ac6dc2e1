"""The generic flow of a workflow: statuses, chains and how an end moves the workflow on.

Processes run in sequence, tasks run in sequence within a process, and a FAILURE ends the
process and the workflow. What differs between task kinds (how one starts, what its timer
does, how a parallel composite joins its branches) is asked of its rules
(:mod:`dagger.core._rules`). Every function mutates the instance it is given (the caller
owns it: a freshly decoded copy) and returns the effects the runtime must carry out.
"""

from __future__ import annotations

from dagger.core import _graph as graph
from dagger.core._effects import CancelTimer, Effect, InstanceFinished, RunStopHook
from dagger.core._rules import Instance, Task, rules_for
from dagger.tasks._status import TERMINAL_STATUSES, TaskStatus, TaskStatusEnum

APPLIED_EVENTS_KEPT = 64
"""How many recent event ids an instance remembers to drop redelivered events."""

Status = TaskStatusEnum

SUCCEEDED: frozenset[str] = frozenset({Status.COMPLETED, Status.SKIPPED})
"""A chain that ends with one of these lets the workflow go on."""

STOPPED_ON_PURPOSE = "Stopped"
"""The error type recorded on a part stopped by a stop request."""


def remember_event(instance: Instance, event_id: str) -> bool:
    """Record ``event_id`` as applied (one more update); return False if it was before."""
    if event_id in instance.applied_events:
        return False
    instance.applied_events.append(event_id)
    instance.update_count += 1
    if len(instance.applied_events) > APPLIED_EVENTS_KEPT:
        del instance.applied_events[: len(instance.applied_events) - APPLIED_EVENTS_KEPT]
    return True


def set_status(task: Task, status: TaskStatusEnum, now: float) -> None:
    """Give ``task`` the status ``status`` at ``now``, recording the transition."""
    if task.status.code != status:
        task.record_transition(task.status.code, status.name)
    task.status = TaskStatus.of(status)
    task.lastupdated = now


def start_task(instance: Instance, task_id: str, now: float) -> list[Effect]:
    """Start a task that has not started, by the rules of its kind."""
    task = instance.get_task(task_id)
    if task.status.code != Status.NOT_STARTED:
        return []
    set_status(task, Status.EXECUTING, now)
    task.time_submitted = now
    return rules_for(task).start(instance, task, now)


def start_next(instance: Instance, task_id: str, now: float) -> list[Effect]:
    """Start the next task, or move past it when it was already skipped."""
    task = instance.get_task(task_id)
    if task.status.code == Status.SKIPPED:
        return move_on(instance, task, Status.SKIPPED, now)
    if task.status.code == Status.NOT_STARTED:
        return start_task(instance, task_id, now)
    return []


def finish_task(
    instance: Instance,
    task_id: str,
    status: str,
    now: float,
    *,
    iterate: bool = True,
    error: tuple[str, str] | None = None,
) -> list[Effect]:
    """Give a task its final status and, when ``iterate``, move the workflow on from it."""
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"a task finishes with one of {sorted(TERMINAL_STATUSES)}, not {status!r}")
    task = instance.get_task(task_id)
    if task.is_terminal():
        return []
    final = Status(status)
    status = final.name  # plain text from here on: it reaches logs and InstanceFinished
    was_executing = task.status.code == Status.EXECUTING
    rules = rules_for(task)
    set_status(task, final, now)
    task.time_completed = now
    if error is not None:
        task.error_type, task.error_message = error
    effects: list[Effect] = []
    if status == Status.STOPPED and was_executing and not rules.container:
        effects.append(RunStopHook(task.id))
    effects.extend(cancel_timer(task))
    effects.extend(rules.on_finish(instance, task, status, now))
    if not iterate or not rules.moves_on:
        return effects
    if task is instance:
        return effects + _finish_instance(instance, status, now)
    return effects + move_on(instance, task, status, now)


def _finish_instance(instance: Instance, status: str, now: float) -> list[Effect]:
    """Nothing runs on in a finished workflow: what is executing is STOPPED.

    A stopped workflow stops every unfinished task; after a failure, tasks that were
    never reached stay NOT_STARTED. Every listener and timer is released.
    """
    effects: list[Effect] = []
    for child in graph.descendants(instance, instance):
        if child.status.code == Status.EXECUTING or (
            status == Status.STOPPED and not child.is_terminal()
        ):
            effects.extend(finish_task(instance, child.id, Status.STOPPED, now, iterate=False))
    for child in instance.tasks.values():
        effects.extend(rules_for(child).release(child))
        effects.extend(cancel_timer(child))
    return [*effects, InstanceFinished(status)]


def move_on(instance: Instance, task: Task, status: str, now: float) -> list[Effect]:
    """Start what follows ``task``, which ended with ``status``, or end its chain."""
    special = rules_for(task).ended_unrun(instance, task, status, now)
    if special is not None:
        return special
    if status in SUCCEEDED and task.next_dags:
        return start_next(instance, task.next_dags[0], now)
    return chain_ended(instance, task, status, now)


def chain_ended(instance: Instance, last: Task, status: str, now: float) -> list[Effect]:
    """The chain ``last`` belongs to ended with ``status``: its container's rules decide."""
    parent = graph.parent_of(instance, last)
    return rules_for(parent).chain_ended(instance, parent, last, status, now)


def finish_chain(instance: Instance, head: str, status: str, now: float) -> list[Effect]:
    """Give every unfinished task of the chain from ``head`` (and under it) ``status``."""
    return _finish_unfinished(instance, graph.chain_and_below(instance, head), status, now)


def error_of(task: Task) -> tuple[str, str]:
    """The error a container records when the chain that ended with ``task`` failed it."""
    if not rules_for(task).names_errors:
        return (task.error_type or task.status.code, task.error_message or task.status.code)
    return (
        task.error_type or task.status.code,
        f"{task.task_name}: {task.error_message or task.status.code}",
    )


def can_stop(instance: Instance, task_id: str) -> bool:
    """True when ``task_id`` (or the instance) exists and has not finished."""
    if instance.is_terminal() or (task_id != instance.id and task_id not in instance.tasks):
        return False
    return not instance.get_task(task_id).is_terminal()


def stop_task(instance: Instance, task_id: str, now: float) -> list[Effect]:
    """Stop ``task_id`` (the instance, a process, a composite or a task) and all under it.

    Unfinished tasks become STOPPED and the ``stop`` hooks of executing ones run. A
    stopped part ends its chain like a failure: it stops the workflow, unless it is in a
    branch of a parallel composite, whose operator decides. Stopping what has finished
    changes nothing.
    """
    if not can_stop(instance, task_id):
        return []
    node = instance.get_task(task_id)
    effects = [] if node is instance else finish_children(instance, node, Status.STOPPED, now)
    return effects + finish_task(
        instance,
        node.id,
        Status.STOPPED,
        now,
        error=(STOPPED_ON_PURPOSE, f"{node.task_name} was stopped"),
    )


def cancel_timer(task: Task) -> list[Effect]:
    """Drop ``task``'s timer, if it has one."""
    if task.timer_due is None:
        return []
    task.timer_due = None
    return [CancelTimer(task.id)]


def finish_children(instance: Instance, node: Task, status: str, now: float) -> list[Effect]:
    """Give every unfinished task under ``node`` ``status``, without moving on."""
    return _finish_unfinished(instance, graph.descendants(instance, node), status, now)


def _finish_unfinished(
    instance: Instance, tasks: list[Task], status: str, now: float
) -> list[Effect]:
    """Give each unfinished task of ``tasks`` ``status``, without moving on from any."""
    effects: list[Effect] = []
    for task in tasks:
        if not task.is_terminal():
            effects.extend(finish_task(instance, task.id, status, now, iterate=False))
    return effects
