"""Rerunning a finished workflow instance from a chosen node: a pure step, no I/O.

A rerun from node N (a task, a process, a parallel composite or a graph of needs) runs N
again and everything that depends on it; the rest keeps its results. What depends on N:

- every task under N (a process's tasks, a composite's branches);
- what follows N in its chain (the later tasks of its process, every branch of a
  decision after it), and what is under those;
- in a graph of needs (docs/needs.md), every node that needs N's node, directly or
  through other nodes, and what is under those;
- the same, a level up, for each container above N: N running again means its process
  runs again, so what follows that process, or needs it, runs again too.

The containers above N become EXECUTING again. Completed nodes beside that path (an
earlier task of N's chain, another branch of a composite, a node of a graph that N's
node does not lead to) keep their results and do not run again.

It is built on the retry (:mod:`dagger.core._retry`): the instance is rewound to the state
a failure of N would have left, had it happened before anything that depends on N ran (N
and its containers FAILURE, what depends on N NOT_STARTED), and then resumed as a retry
resumes a failure. So what failed elsewhere in a FAILURE instance runs again as well,
and what a stop request stopped runs again too (a retry keeps that stopped; a rerun is
asked for explicitly). In a graph of needs N starts at once; the nodes that need it wait
for their needs again.

An instance that is still running cannot be rerun (stop it first, or let it end), nor can
a node the workflow never reached or did not take (a task after the one that failed, a
branch its decision did not choose): :func:`refusal` says why. Edited runtime parameters
are merged into the instance's before it runs again; the partition key cannot change,
since the instance's owner is chosen by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagger.core import _codec as codec
from dagger.core import _flow as flow
from dagger.core import _graph as graph
from dagger.core import _retry as retry
from dagger.core._effects import Effect
from dagger.core._rules import Instance, Task
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.tasks._needs import NeedsGraphTask
from dagger.tasks._status import TaskStatus
from dagger.tasks._status import TaskStatusEnum as Status

REWOUND = "Rerun"
"""The error type the rewind gives the chosen node and its containers; the resume that
follows at once clears it, so no stored state ever carries it."""


def find_node(instance: Instance, node: str) -> Task | None:
    """The node ``node`` names: a task id, the instance's id, or a unique task name."""
    if node == instance.id:
        return instance
    found = instance.tasks.get(node)
    if found is not None:
        return found
    named = [task for task in instance.tasks.values() if task.task_name == node]
    return named[0] if len(named) == 1 else None


def refusal(
    instance: Instance, node: str, parameters: Mapping[str, Any] | None = None
) -> str | None:
    """Why ``instance`` cannot be rerun from ``node`` with ``parameters``; None when it can.

    It rewinds a copy of the instance, so the instance itself is left as it is.
    """
    if not instance.is_terminal():
        return (
            f"instance {instance.id} is {instance.status.code}; only a finished instance "
            "(COMPLETED, FAILURE, STOPPED or SKIPPED) can be rerun: stop it first, or wait "
            "until it ends"
        )
    if find_node(instance, node) is None:
        named = [task.id for task in instance.tasks.values() if task.task_name == node]
        if named:
            return (
                f"instance {instance.id} has {len(named)} tasks named {node!r}; give the id "
                f"of one of them: {', '.join(sorted(named))}"
            )
        return f"instance {instance.id} has no task with the id or name {node!r}"
    key = instance.partition_key_lookup
    changed = dict(parameters or {})
    if key and key in changed and changed[key] != instance.runtime_parameters.get(key):
        return (
            f"parameter {key!r} is the partition key of instance {instance.id}, which "
            "chose its owner; it cannot change in a rerun"
        )
    copy = codec.from_document(codec.to_document(instance))
    target, plan = _rewind(copy, node, copy.lastupdated)
    if any(task is target for task in [*plan.started, *plan.resumed]):
        return None
    return (
        f"task {target.task_name!r} ({target.id}) of instance {instance.id} was never "
        "reached, or is in a branch its decision did not choose; rerun from a task the "
        "workflow ran (or from its decision), or retry the instance"
    )


def rerun(
    instance: Instance, node: str, parameters: Mapping[str, Any] | None, now: float
) -> list[Effect]:
    """Run ``instance`` again from ``node``, with ``parameters`` merged in; return the effects.

    Raises:
        TaskInvalidState: the rerun is refused (:func:`refusal` gives the same message).
    """
    reason = refusal(instance, node, parameters)
    if reason is not None:
        raise TaskInvalidState(reason, task_id=instance.id)
    instance.runtime_parameters.update(parameters or {})
    _, plan = _rewind(instance, node, now)
    return retry.run_plan(instance, plan, now)


def depends_on(instance: Instance, node: Task) -> list[Task]:
    """``node`` and every task that depends on it, below the containers above it."""
    if node is instance:
        return list(instance.tasks.values())
    found = graph.chain_and_below(instance, node.id)
    current = node
    while current.parent_id is not None:
        parent = graph.parent_of(instance, current)
        if isinstance(parent, NeedsGraphTask):
            for dependent in _needing(instance, parent, current):
                found.extend(graph.chain_and_below(instance, dependent))
        if parent is instance:
            break
        children = graph.children_by_parent(instance)
        for follower in graph.chain(instance, parent.id)[1:]:
            found.append(follower)
            found.extend(graph.descendants(instance, follower, children))
        current = parent
    return found


def _needing(instance: Instance, group: NeedsGraphTask[Any, Any], member: Task) -> list[str]:
    """The nodes of ``group`` that need the node ``member`` belongs to, transitively."""
    head = next(
        (h for h in group.graph_nodes if member.id in graph.ids(graph.chain(instance, h))),
        None,
    )
    if head is None:
        return []
    found: list[str] = []
    pending = [head]
    while pending:
        need = pending.pop()
        for candidate, needs in group.graph_needs.items():
            if need in needs and candidate not in found:
                found.append(candidate)
                pending.append(candidate)
    return found


def _rewind(instance: Instance, node: str, now: float) -> tuple[Task, retry.Plan]:
    """Rewind ``instance`` to a failure of ``node``: return that node and the retry's plan."""
    target = find_node(instance, node)
    if target is None:
        raise TaskInvalidState(f"instance {instance.id} has no node {node!r}", task_id=instance.id)
    for task in depends_on(instance, target):
        retry.back_to_not_started(task, now)
    for container in [target, *map(instance.get_task, graph.ancestors(instance, target))]:
        container.status = TaskStatus.of(Status.FAILURE)
        container.error_type, container.error_message = REWOUND, f"rerun from {node}"
    for task in instance.tasks.values():
        if task.status.code == Status.STOPPED and task.error_type == flow.STOPPED_ON_PURPOSE:
            task.error_type = task.error_message = None  # it runs again as well
    return target, retry.plan_of(instance)
