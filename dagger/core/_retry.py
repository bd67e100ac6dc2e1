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
  decision can choose one of them when it runs again;
- in a graph of needs, the nodes that failed or were stopped by the failure are resumed,
  and the nodes skipped because of them become NOT_STARTED and wait for their needs again.

A part stopped on purpose (its error type is ``Stopped``) stays stopped. Only a FAILURE
instance with a failed task on the way down from its root can be retried; :func:`refusal`
says why any other cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagger.core import _attempts as attempts
from dagger.core import _flow as flow
from dagger.core import _graph as graph
from dagger.core._effects import Effect
from dagger.core._kinds import listener, process
from dagger.core._rules import Instance, rules_for
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.tasks._base import ITask
from dagger.tasks._status import TaskStatus
from dagger.tasks._status import TaskStatusEnum as Status


@dataclass
class Plan:
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
    if instance.status.code != Status.FAILURE:
        return (
            f"instance {instance.id} is {instance.status.code}; only a FAILURE instance can be "
            "retried"
        )
    if not plan_of(instance).failed:
        return (
            f"instance {instance.id} failed with no failed task to run again "
            f"({instance.error_type}: {instance.error_message}); create a new instance instead"
        )
    return None


def retry(instance: Instance, now: float) -> list[Effect]:
    """Put a FAILURE instance back to running from its failed task(s); return the effects.

    Raises:
        TaskInvalidState: the instance is not FAILURE, or no failed task can run again
            (:func:`refusal` gives the same message without raising).
    """
    reason = refusal(instance)
    if reason is not None:
        raise TaskInvalidState(reason, task_id=instance.id)
    return run_plan(instance, plan_of(instance), now)


def run_plan(instance: Instance, plan: Plan, now: float) -> list[Effect]:
    """Carry out ``plan`` (from :func:`plan_of`): reset, resume and start; return the effects.

    A rerun (:mod:`dagger.core._rerun`) shares it: it rewinds the instance to a failure
    of the chosen node and then goes on as a retry does.
    """
    for task in plan.reset:
        back_to_not_started(task, now)
    for container in plan.resumed:
        container.status = TaskStatus.of(Status.EXECUTING)
        container.lastupdated = now
        container.time_completed = 0.0
        container.error_type = container.error_message = None
    # As on submit: a listener that may be skipped to waits from the start.
    effects = listener.listen_early(instance)
    for container in plan.resumed:
        if container is not instance:
            # A process's deadline and monitor start again with its new attempt.
            effects.extend(process.watch_process(instance, container, now))
    for task in plan.started:
        effects.extend(flow.start_task(instance, task.id, now))
    return effects


def plan_of(instance: Instance) -> Plan:
    """What a retry of ``instance`` would change, without changing anything."""
    plan = Plan()
    if _code(instance) == Status.FAILURE:
        _resume(instance, instance, plan)
    return plan


def _resume(instance: Instance, node: ITask[Any, Any], plan: Plan) -> None:
    """Plan to run ``node`` (failed, or stopped by the failure) again."""
    rules = rules_for(node)
    if rules.container:
        plan.resumed.append(node)
        heads, reset = rules.retry_chains(instance, node)
        for head in heads:
            _resume_chain(instance, head, plan)
        plan.reset.extend(reset)
        return
    plan.reset.append(node)
    plan.started.append(node)
    if _code(node) == Status.FAILURE:
        plan.failed.append(node)
        plan.reset.extend(rules.retry_resets(instance, node))


def _resume_chain(instance: Instance, head: str, plan: Plan) -> None:
    """Follow the chain from ``head`` to where it stood and plan to go on from there."""
    task: ITask[Any, Any] | None = instance.get_task(head)
    while task is not None and _code(task) in flow.SUCCEEDED:
        task = rules_for(task).next_in_chain(instance, task)
    if task is None:
        return  # the chain had ended well
    if _code(task) == Status.NOT_STARTED:
        plan.started.append(task)
    elif _code(task) == Status.FAILURE or _stopped_by_failure(task):
        _resume(instance, task, plan)
        children = graph.children_by_parent(instance)
        for follower in graph.chain_and_below(instance, task.id)[1:]:
            if _stopped_by_failure(follower) and follower.parent_id == task.parent_id:
                _reset_stopped(follower, plan, children)


def _reset_stopped(
    node: ITask[Any, Any], plan: Plan, children: dict[str, list[ITask[Any, Any]]]
) -> None:
    """Plan ``node`` and what the failure stopped under it back to NOT_STARTED."""
    if not _stopped_by_failure(node):
        return
    plan.reset.append(node)
    for child in children.get(node.id, ()):
        _reset_stopped(child, plan, children)


def _stopped_by_failure(task: ITask[Any, Any]) -> bool:
    # The flow records no error on what a failure stops around it, and records
    # flow.STOPPED_ON_PURPOSE on what a stop request stops (and on what that ends).
    return _code(task) == Status.STOPPED and task.error_type is None


def back_to_not_started(task: ITask[Any, Any], now: float) -> None:
    """Make ``task`` as it was before it ran: NOT_STARTED, no times, error or attempts."""
    task.status = TaskStatus.of(Status.NOT_STARTED)
    task.lastupdated = now
    task.time_submitted = task.time_completed = 0.0
    task.error_type = task.error_message = None
    task.timer_due = None
    task.parameter_changes = {}
    attempts.forget(task)


def _code(task: ITask[Any, Any]) -> str:
    return task.status.code
