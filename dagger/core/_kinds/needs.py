"""Graphs of needs: nodes start once their trigger rule is met, side by side.

A :class:`~dagger.tasks._needs.NeedsGraphTask` holds the processes of a workflow, or the
tasks of a process, that declare ``needs``. Each time one of its nodes ends, every node
that has not started is judged by its trigger rule (:func:`dagger.core._needs.verdict`):
it starts, waits, or is SKIPPED, and a skip is judged again by the nodes that need it
(the skip propagates) before anything starts. A failed node does not stop the others;
the graph ends when every node has: FAILURE if one failed, STOPPED if one stopped,
otherwise COMPLETED.
"""

from __future__ import annotations

from typing import Any

from dagger.core import _flow as flow
from dagger.core import _graph as graph
from dagger.core._effects import Effect
from dagger.core._needs import Verdict, verdict
from dagger.core._rules import Instance, KindRules, Task, register
from dagger.tasks._base import ITask
from dagger.tasks._needs import NEEDS_NOT_MET, NeedsGraphTask
from dagger.tasks._status import TaskStatusEnum as Status


class NeedsGraphRules(KindRules):
    """Start what is ready, skip what can no longer run, end when every node has."""

    container = True
    names_errors = False

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        assert isinstance(task, NeedsGraphTask)
        return advance(instance, task, now)

    def heads(self, task: Task) -> list[str]:
        assert isinstance(task, NeedsGraphTask)
        return list(task.graph_nodes)

    def chain_ended(
        self, instance: Instance, container: Task, last: Task, status: str, now: float
    ) -> list[Effect]:
        assert isinstance(container, NeedsGraphTask)
        if container.is_terminal():
            return []
        return advance(instance, container, now)

    def retry_chains(
        self, instance: Instance, task: Task
    ) -> tuple[list[str], list[ITask[Any, Any]]]:
        """Resume the nodes that failed or stopped; reset the ones their failure skipped.

        A reset node waits for its needs again: the graph judges it when a resumed node
        ends. Nodes that never started are judged the same way.
        """
        assert isinstance(task, NeedsGraphTask)
        resumed: list[str] = []
        reset: list[ITask[Any, Any]] = []
        for head in task.graph_nodes:
            outcome = graph.chain_outcome(instance, head)
            if outcome in _FAILED:
                resumed.append(head)
            elif instance.get_task(head).error_type == NEEDS_NOT_MET:
                reset.extend(graph.chain_and_below(instance, head))
        return resumed, reset


def advance(instance: Instance, group: NeedsGraphTask[Any, Any], now: float) -> list[Effect]:
    """Judge every node that has not started; start the ready ones; end the graph when done."""
    outcomes = {head: graph.chain_outcome(instance, head) for head in group.graph_nodes}
    if group.graph_fail_fast and any(outcome in _FAILED for outcome in outcomes.values()):
        return _fail_fast(instance, group, outcomes, now)
    effects: list[Effect] = []
    ready: list[str] = []
    judged = True
    while judged:  # each skip is seen by the nodes that need it
        judged = False
        for head in group.graph_nodes:
            if head in ready or instance.get_task(head).status.code != Status.NOT_STARTED:
                continue
            needs = group.graph_needs.get(head, [])
            found = verdict(group.trigger_rule(head), [outcomes[need] for need in needs])
            if found is Verdict.RUN:
                ready.append(head)
            elif found is Verdict.SKIP:
                effects.extend(_skip(instance, group, head, outcomes, now))
                outcomes[head] = Status.SKIPPED
                judged = True
    for head in ready:
        # A node may end at once (an empty process) and judge the graph again itself.
        effects.extend(flow.start_next(instance, head, now))
    return effects + _end_when_done(instance, group, now)


def _skip(
    instance: Instance,
    group: NeedsGraphTask[Any, Any],
    head: str,
    outcomes: dict[str, str | None],
    now: float,
) -> list[Effect]:
    """SKIP the node ``head``, recording which of its needs ended how."""
    needs = group.graph_needs.get(head, [])
    why = ", ".join(
        f"{instance.get_task(need).task_name} {_shown(outcomes[need])}" for need in needs
    )
    effects = flow.finish_chain(instance, head, Status.SKIPPED, now)
    node = instance.get_task(head)
    node.error_type = NEEDS_NOT_MET
    node.error_message = f"trigger rule {group.trigger_rule(head).value} not met: {why}"
    return effects


_FAILED = (Status.FAILURE, Status.STOPPED)


def _fail_fast(
    instance: Instance,
    group: NeedsGraphTask[Any, Any],
    outcomes: dict[str, str | None],
    now: float,
) -> list[Effect]:
    """A node failed in a fail-fast graph: stop what runs, skip what has not started."""
    failed = next(head for head, outcome in outcomes.items() if outcome in _FAILED)
    effects: list[Effect] = []
    for head in group.graph_nodes:
        if outcomes[head] is not None:
            continue
        if instance.get_task(head).status.code == Status.NOT_STARTED:
            effects.extend(flow.finish_chain(instance, head, Status.SKIPPED, now))
            node = instance.get_task(head)
            node.error_type = NEEDS_NOT_MET
            node.error_message = f"fail-fast: {instance.get_task(failed).task_name} failed"
        else:
            effects.extend(flow.finish_chain(instance, head, Status.STOPPED, now))
    return effects + _end_when_done(instance, group, now)


def _shown(outcome: str | None) -> str:
    return "not ended" if outcome is None else Status(outcome).value


def _end_when_done(instance: Instance, group: NeedsGraphTask[Any, Any], now: float) -> list[Effect]:
    if group.is_terminal():
        return []
    outcomes = {head: graph.chain_outcome(instance, head) for head in group.graph_nodes}
    if any(outcome is None for outcome in outcomes.values()):
        return []
    for final in (Status.FAILURE, Status.STOPPED):
        failed = [head for head, outcome in outcomes.items() if outcome == final]
        if failed:
            culprit = _ended_with(instance, failed[0], final)
            return flow.finish_task(instance, group.id, final, now, error=flow.error_of(culprit))
    return flow.finish_task(instance, group.id, Status.COMPLETED, now)


def _ended_with(instance: Instance, head: str, status: str) -> Task:
    """The first task of the chain from ``head`` that ended with ``status``."""
    return next(task for task in graph.chain(instance, head) if task.status.code == status)


register(NeedsGraphTask, NeedsGraphRules())
