"""Parallel composite tasks: their branches run side by side, joined ALL or AT-LEAST-ONE."""

from __future__ import annotations

from dagger.core import _flow as flow
from dagger.core import _graph as graph
from dagger.core._effects import Effect
from dagger.core._rules import Instance, KindRules, Task, container_hook, register
from dagger.tasks._base import ParallelCompositeTask
from dagger.tasks._status import TaskOperator
from dagger.tasks._status import TaskStatusEnum as Status


class ParallelRules(KindRules):
    """A composite starts every branch at once and ends by its operator."""

    container = True

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        assert isinstance(task, ParallelCompositeTask)
        effects = container_hook(task, ParallelCompositeTask)
        if not task.parallel_child_task_list:
            return effects + flow.finish_task(instance, task.id, Status.COMPLETED, now)
        for head in task.parallel_child_task_list:
            effects.extend(flow.start_next(instance, head, now))
        return effects

    def heads(self, task: Task) -> list[str]:
        assert isinstance(task, ParallelCompositeTask)
        return list(task.parallel_child_task_list)

    def chain_ended(
        self, instance: Instance, container: Task, last: Task, status: str, now: float
    ) -> list[Effect]:
        """Join a branch that ended with ``status``.

        ``JOIN_ALL``: a FAILURE (or STOP) ends the composite with it at once; it completes
        when every branch succeeded. ``ATLEAST_ONE``: the first branch that succeeds
        completes it; it fails only when every branch ended without success (STOPPED if
        none of them failed). Branches still running when the composite ends are STOPPED.
        """
        assert isinstance(container, ParallelCompositeTask)
        if container.is_terminal():
            return []
        heads = container.parallel_child_task_list
        outcomes = {head: graph.chain_outcome(instance, head) for head in heads}
        ended = all(outcome is not None for outcome in outcomes.values())
        final: str | None = None
        if container.operator_type == TaskOperator.ATLEAST_ONE.name:
            if status in flow.SUCCEEDED:
                final = Status.COMPLETED
            elif ended:
                failed = any(outcome == Status.FAILURE for outcome in outcomes.values())
                final = Status.FAILURE if failed else Status.STOPPED
        elif status not in flow.SUCCEEDED:
            final = status
        elif ended:
            final = Status.COMPLETED
        if final is None:
            return []
        effects: list[Effect] = []
        for head, outcome in outcomes.items():
            if outcome is None:
                effects.extend(flow.finish_chain(instance, head, Status.STOPPED, now))
        error = None if final == Status.COMPLETED else flow.error_of(last)
        return effects + flow.finish_task(instance, container.id, final, now, error=error)


register(ParallelCompositeTask, ParallelRules())
