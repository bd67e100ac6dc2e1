"""A job's ``strategy.matrix``: the job's stages once per combination (see :mod:`._fanout`).

The job's process holds one container, a :class:`MatrixTask`, with a branch of the
job's stages per combination; ``${{ matrix.<key> }}`` is the combination's value in
each. What each combination did is kept with the instance at
``jobs.<job>.strategies.<index>``: its ``matrix``, its ``status`` once it ended
(COMPLETED, FAILURE, STOPPED or SKIPPED) and its stages' ``outputs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagger.core import _graph as graph
from dagger.core._effects import Effect
from dagger.core._kinds.needs import NeedsGraphRules
from dagger.core._rules import Instance, Task, register
from dagger.declarative._fanout import FanOutTemplate
from dagger.declarative._model import Job, Workflow
from dagger.declarative._runs import OUTPUTS_KEY, Item, Run, strategy_entry
from dagger.tasks._needs import NeedsGraphTask
from dagger.tasks._status import TaskStatusEnum
from dagger.tasks.task import ITemplateDAGInstance
from dagger.templates._task_templates import TaskTemplate

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


class MatrixTask(NeedsGraphTask[Any, Any]):
    """The combinations of a job with a matrix: a graph of needs that keeps their outcomes."""

    matrix_job: str = ""
    """The job, whose ``strategies`` the outcomes go to."""


class MatrixRules(NeedsGraphRules):
    """A graph of needs that records each combination's outcome as it ends."""

    def chain_ended(
        self, instance: Instance, container: Task, last: Task, status: str, now: float
    ) -> list[Effect]:
        effects = super().chain_ended(instance, container, last, status, now)
        _record_outcomes(instance, container, None)
        return effects

    def on_finish(self, instance: Instance, task: Task, status: str, now: float) -> list[Effect]:
        # Combinations stopped or skipped by fail-fast end before the container, without a
        # chain_ended; those of a job skipped by its if (or stopped) end with the container.
        _record_outcomes(instance, task, status)
        return super().on_finish(instance, task, status, now)


def _record_outcomes(instance: Instance, container: Task, ended: str | None) -> None:
    """Each ended combination's outcome; ``ended``: the container's, for those still open."""
    assert isinstance(container, MatrixTask)
    for index, head in enumerate(container.graph_nodes):
        outcome = graph.chain_outcome(instance, head) or ended
        if outcome is not None:
            item = {"matrix": container.matrix_job, "index": index, "value": {}}
            strategy_entry(instance.runtime_parameters, item)["status"] = TaskStatusEnum(
                outcome
            ).name


register(MatrixTask, MatrixRules())


class MatrixTemplate(FanOutTemplate):
    """A branch of the job's stages per combination of its matrix."""

    node_class = MatrixTask

    def __init__(self, app: Dagger, workflow: Workflow, job: Job, body: TaskTemplate) -> None:
        assert job.strategy is not None
        super().__init__(
            app,
            f"{job.name}:matrix",
            body,
            None,
            window=job.strategy.max_parallel,
            fail_fast=job.strategy.fail_fast,
        )
        self.run = Run(workflow, job.name, None)
        self.job = job

    def node_fields(self) -> dict[str, Any]:
        """The container knows its job."""
        return {"matrix_job": self.job.name}

    def items(self, workflow_instance: ITemplateDAGInstance[Any, Any]) -> list[Item]:
        """The combinations, each kept at once with the instance (with its ``matrix``).

        Raises:
            ValueError: a key's values, rendered from the params, are not a list.
        """
        assert self.job.strategy is not None
        parameters = workflow_instance.runtime_parameters
        try:
            found = self.job.strategy.combinations(self.run.context(parameters))
        except ValueError as exc:
            raise ValueError(f"job {self.job.name!r}: {exc}") from None
        # Kept even when no combination is left: later jobs read an empty mapping.
        parameters.setdefault(OUTPUTS_KEY, {}).setdefault(self.job.name, {}).setdefault(
            "strategies", {}
        )
        items: list[Item] = []
        for index, combination in enumerate(found):
            item = {"matrix": self.job.name, "index": index, "value": combination}
            strategy_entry(parameters, item)
            items.append(item)
        return items
