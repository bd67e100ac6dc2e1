"""Retrying a FAILURE workflow instance from its failed task(s): a pure step, no I/O.

A retry puts the instance back where it stood when it failed and goes on from there. The
failed tasks run again, and so does what the failure stopped beside them (the other
branches of a parallel composite it ended); what had completed stays completed and does
not run again. From the root down, each chain is followed past its COMPLETED and SKIPPED
tasks to the task where it stood:

- a failed or stopped container (the workflow, a process, a parallel composite) becomes
  EXECUTING again and each of its chains is resumed the same way;
- a failed or stopped task becomes NOT_STARTED and starts again;
- what follows that point in the chain and was stopped with it becomes NOT_STARTED, so the
  chain reaches it; the branches a failed decision skipped become NOT_STARTED, so the
  decision can choose one of them when it runs again.

A part stopped on purpose (its error type is ``Stopped``) stays stopped. Only a FAILURE
instance with a failed task on the way down from its root can be retried; :func:`refusal`
says why any other cannot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from dagger.core import _machine as machine
from dagger.core._effects import Effect
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.tasks._base import (
    DecisionTask,
    INonLeafNodeTask,
    ITask,
    ITemplateDAGInstance,
    ParallelCompositeTask,
    SensorTask,
)
from dagger.tasks._status import TaskStatus, TaskStatusEnum

_NOT_STARTED = TaskStatusEnum.NOT_STARTED.name
_COMPLETED = TaskStatusEnum.COMPLETED.name
_FAILURE = TaskStatusEnum.FAILURE.name
_SKIPPED = TaskStatusEnum.SKIPPED.name
_STOPPED = TaskStatusEnum.STOPPED.name
STOPPED_ON_PURPOSE = "Stopped"
"""The error type the machine records on a part stopped by a stop request."""

Instance = ITemplateDAGInstance[Any, Any]


@dataclass
class _Plan:
    """What a retry changes, computed before anything is changed."""

    resumed: list[ITask[Any, Any]] = field(default_factory=list)
    """Containers that become EXECUTING again (the root first)."""
    reset: list[ITask[Any, Any]] = field(default_factory=list)
    """Tasks that become NOT_STARTED again."""
    started: list[ITask[Any, Any]] = field(default_factory=list)
    """Tasks started again, in the order they are started."""
    failed: list[ITask[Any, Any]] = field(default_factory=list)
    """The failed tasks among ``started``."""


def refusal(instance: Instance) -> str | None:
    """Why ``instance`` cannot be retried, or None when it can."""
    if instance.status.code != _FAILURE:
        return (
            f"instance {instance.id} is {instance.status.code}; only a FAILURE instance can be "
            "retried"
        )
    if not _plan(instance).failed:
        return (
            f"instance {instance.id} failed with no failed task to run again "
            f"({instance.error_type}: {instance.error_message}); create a new instance instead"
        )
    return None


def retry(instance: Instance, now: float | None = None) -> list[Effect]:
    """Put a FAILURE instance back to running from its failed task(s); return the effects.

    Raises:
        TaskInvalidState: the instance is not FAILURE, or no failed task can run again
            (:func:`refusal` gives the same message without raising).
    """
    now = time.time() if now is None else now
    reason = refusal(instance)
    if reason is not None:
        raise TaskInvalidState(reason, task_id=instance.id)
    plan = _plan(instance)
    for task in plan.reset:
        _back_to_not_started(task, now)
    for container in plan.resumed:
        container.status = TaskStatus.of(TaskStatusEnum.EXECUTING)
        container.lastupdated = now
        container.time_completed = 0.0
        container.error_type = container.error_message = None
    effects: list[Effect] = []
    for task in instance.tasks.values():
        # As on submit: a listener that may be skipped to waits from the start.
        if isinstance(task, SensorTask) and task.allow_skip_to and _code(task) == _NOT_STARTED:
            effects.extend(machine.listen(instance, task))
    for container in plan.resumed:
        if container is not instance:
            # A process's deadline and monitor start again with its new attempt.
            effects.extend(machine._watch_process(instance, container, now))
    for task in plan.started:
        effects.extend(machine.start_task(instance, task.id, now))
    return effects


def _plan(instance: Instance) -> _Plan:
    plan = _Plan()
    if _code(instance) == _FAILURE:
        _resume(instance, instance, plan)
    return plan


def _resume(instance: Instance, node: ITask[Any, Any], plan: _Plan) -> None:
    """Plan to run ``node`` (failed, or stopped by the failure) again."""
    if isinstance(node, INonLeafNodeTask | ParallelCompositeTask):
        plan.resumed.append(node)
        for head in _heads(node):
            _resume_chain(instance, head, plan)
        return
    plan.reset.append(node)
    plan.started.append(node)
    if _code(node) == _FAILURE:
        plan.failed.append(node)
        if isinstance(node, DecisionTask):
            # Its failure skipped every branch; running again, it chooses one of them.
            for head in node.next_dags:
                plan.reset.extend(
                    task for task in _chain_and_below(instance, head) if _code(task) == _SKIPPED
                )


def _resume_chain(instance: Instance, head: str, plan: _Plan) -> None:
    """Follow the chain from ``head`` to where it stood and plan to go on from there."""
    task: ITask[Any, Any] | None = instance.get_task(head)
    while task is not None and _code(task) in (_COMPLETED, _SKIPPED):
        task = _next_in_chain(instance, task)
    if task is None:
        return  # the chain had ended well
    if _code(task) == _NOT_STARTED:
        plan.started.append(task)
    elif _code(task) == _FAILURE or _stopped_by_failure(task):
        _resume(instance, task, plan)
        for follower in _chain_and_below(instance, head=task.id)[1:]:
            if _stopped_by_failure(follower) and follower.parent_id == task.parent_id:
                _reset_stopped(instance, follower, plan)


def _reset_stopped(instance: Instance, node: ITask[Any, Any], plan: _Plan) -> None:
    """Plan ``node`` and what the failure stopped under it back to NOT_STARTED."""
    if not _stopped_by_failure(node):
        return
    plan.reset.append(node)
    for child in _children(instance, node):
        _reset_stopped(instance, child, plan)


def _stopped_by_failure(task: ITask[Any, Any]) -> bool:
    # The machine records no error on what a failure stops around it, and records
    # STOPPED_ON_PURPOSE on what a stop request stops (and on what that ends).
    return _code(task) == _STOPPED and task.error_type is None


def _back_to_not_started(task: ITask[Any, Any], now: float) -> None:
    task.status = TaskStatus.of(TaskStatusEnum.NOT_STARTED)
    task.lastupdated = now
    task.time_submitted = task.time_completed = 0.0
    task.error_type = task.error_message = None
    task.timer_due = None


def _next_in_chain(instance: Instance, task: ITask[Any, Any]) -> ITask[Any, Any] | None:
    """The task the chain went on to after ``task`` (a COMPLETED or SKIPPED one)."""
    if isinstance(task, DecisionTask):
        if _code(task) != _COMPLETED:
            return None  # a skipped decision skipped all its branches
        chosen = [head for head in task.next_dags if _code(instance.get_task(head)) != _SKIPPED]
        return instance.get_task(chosen[0]) if chosen else None
    return instance.get_task(task.next_dags[0]) if task.next_dags else None


def _heads(node: ITask[Any, Any]) -> list[str]:
    if isinstance(node, ParallelCompositeTask):
        return list(node.parallel_child_task_list)
    root_dag = getattr(node, "root_dag", None)
    return [root_dag] if root_dag else []


def _children(instance: Instance, node: ITask[Any, Any]) -> list[ITask[Any, Any]]:
    return [task for task in instance.tasks.values() if task.parent_id == node.id]


def _chain_and_below(instance: Instance, head: str) -> list[ITask[Any, Any]]:
    """The chain from ``head`` (every branch of its decisions), each task before those under it."""
    found: list[ITask[Any, Any]] = []
    children = machine.children_by_parent(instance)
    pending = [head]
    while pending:
        task = instance.get_task(pending.pop())
        found.append(task)
        below = [task]
        while below:
            under = children.get(below.pop().id, [])
            found.extend(under)
            below.extend(under)
        pending.extend(reversed(task.next_dags))
    return found


def _code(task: ITask[Any, Any]) -> str:
    return task.status.code
