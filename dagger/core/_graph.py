"""Where a task stands in its instance's tree: parents, chains, what is under a node."""

from __future__ import annotations

from dagger.core._rules import Instance, Task, rules_for
from dagger.exceptions.exceptions import InvalidTaskType
from dagger.tasks._status import TERMINAL_STATUSES
from dagger.tasks._status import TaskStatusEnum as Status


def parent_of(instance: Instance, task: Task) -> Task:
    """The process, composite or instance ``task`` is directly under."""
    if task.parent_id is None:
        raise InvalidTaskType(f"task {task.task_name!r} ({task.id}) has no parent")
    return instance.get_task(task.parent_id)


def chain(instance: Instance, head: str) -> list[Task]:
    """The tasks of the chain from ``head``, following every branch of its decisions."""
    found: list[Task] = []
    pending = [head]
    while pending:
        task = instance.get_task(pending.pop())
        found.append(task)
        pending.extend(task.next_dags)
    return found


def children_by_parent(instance: Instance) -> dict[str, list[Task]]:
    """The tasks of ``instance`` by the id of their parent: one pass over the tasks."""
    children: dict[str, list[Task]] = {}
    for task in instance.tasks.values():
        if task.parent_id is not None:
            children.setdefault(task.parent_id, []).append(task)
    return children


def descendants(
    instance: Instance, node: Task, children: dict[str, list[Task]] | None = None
) -> list[Task]:
    """Every task under ``node`` (its children, their children, ...).

    A walk over many nodes passes ``children`` (from :func:`children_by_parent`) so the
    tasks are grouped once, not once per node.
    """
    if children is None:
        children = children_by_parent(instance)
    found: list[Task] = []
    pending = [node.id]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child.id)
    return found


def chain_and_below(instance: Instance, head: str) -> list[Task]:
    """The tasks of the chain from ``head``, each followed by every task under it."""
    found: list[Task] = []
    children = children_by_parent(instance)
    for node in chain(instance, head):
        found.append(node)
        found.extend(descendants(instance, node, children))
    return found


def ids(tasks: list[Task]) -> set[str]:
    """The ids of ``tasks``."""
    return {task.id for task in tasks}


def ancestors(instance: Instance, task: Task) -> set[str]:
    """The ids of every container above ``task``, the instance included."""
    found: set[str] = set()
    current = task
    while current.parent_id is not None:
        found.add(current.parent_id)
        current = instance.get_task(current.parent_id)
    found.add(instance.id)
    return found


def in_order(instance: Instance) -> list[Task]:
    """Every process and task in the order the workflow reaches them (depth first)."""
    ordered: list[Task] = []
    pending = [instance.root_dag] if instance.root_dag else []
    while pending:
        task = instance.get_task(pending.pop())
        ordered.append(task)
        pending.extend(reversed([*rules_for(task).heads(task), *task.next_dags]))
    return ordered


def is_leaf(task: Task) -> bool:
    """True for a task with nothing under it."""
    return not rules_for(task).container


def chain_outcome(instance: Instance, head: str) -> str | None:
    """How the chain starting at ``head`` ended; None while it runs or has not started.

    FAILURE or STOPPED when one of its tasks ended so; otherwise, once every task ended,
    COMPLETED when one completed (a decision skips the branches it did not choose) and
    SKIPPED when all were skipped.
    """
    statuses = {task.status.code for task in chain(instance, head)}
    if Status.EXECUTING in statuses:
        return None
    for final in (Status.FAILURE, Status.STOPPED):
        if final in statuses:
            return final
    if not statuses <= TERMINAL_STATUSES:
        return None
    return Status.COMPLETED if Status.COMPLETED in statuses else Status.SKIPPED
