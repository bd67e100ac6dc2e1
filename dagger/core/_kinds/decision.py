"""Decision tasks: ``evaluate`` chooses one branch; the others are SKIPPED."""

from __future__ import annotations

from dagger.core import _flow as flow
from dagger.core import _graph as graph
from dagger.core._effects import Effect, RunDecision
from dagger.core._rules import Instance, KindRules, Task, register
from dagger.tasks._base import DecisionTask
from dagger.tasks._status import TaskStatusEnum as Status


class DecisionRules(KindRules):
    """A decision runs ``evaluate`` as it starts; :func:`decided` applies its choice."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        return [RunDecision(task.id)]

    def ended_unrun(
        self, instance: Instance, task: Task, status: str, now: float
    ) -> list[Effect] | None:
        # Reached only when the decision did not evaluate (it was skipped, stopped or
        # failed): none of its branches runs.
        effects: list[Effect] = []
        for head in task.next_dags:
            effects.extend(flow.finish_chain(instance, head, Status.SKIPPED, now))
        return effects + flow.chain_ended(instance, task, status, now)

    def next_in_chain(self, instance: Instance, task: Task) -> Task | None:
        if task.status.code != Status.COMPLETED:
            return None  # a skipped decision skipped all its branches
        chosen = [
            head for head in task.next_dags if instance.get_task(head).status.code != Status.SKIPPED
        ]
        return instance.get_task(chosen[0]) if chosen else None

    def retry_resets(self, instance: Instance, task: Task) -> list[Task]:
        # Its failure skipped every branch; running again, it chooses one of them.
        return [
            skipped
            for head in task.next_dags
            for skipped in graph.chain_and_below(instance, head)
            if skipped.status.code == Status.SKIPPED
        ]


def decided(instance: Instance, task_id: str, chosen: str | None, now: float) -> list[Effect]:
    """Run the branch a decision chose and SKIP the others."""
    task = instance.get_task(task_id)
    if not isinstance(task, DecisionTask) or task.status.code != Status.EXECUTING:
        return []
    if chosen is not None and chosen not in task.next_dags:
        names = {instance.get_task(head).task_name: head for head in task.next_dags}
        hint = f"; use self.branch({chosen!r})" if chosen in names else ""
        return flow.finish_task(
            instance,
            task.id,
            Status.FAILURE,
            now,
            error=(
                "InvalidDecision",
                f"evaluate() returned {chosen!r}, which is not the id of one of its branches "
                f"{sorted(names)}{hint}",
            ),
        )
    effects = flow.finish_task(instance, task.id, Status.COMPLETED, now, iterate=False)
    for head in task.next_dags:
        if head != chosen:
            effects.extend(flow.finish_chain(instance, head, Status.SKIPPED, now))
    if chosen is None:
        return effects + flow.chain_ended(instance, task, Status.COMPLETED, now)
    return effects + flow.start_next(instance, chosen, now)


register(DecisionTask, DecisionRules())
