"""Dynamic processes: a place in a workflow whose processes are chosen at runtime."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from dagger.tasks._base import DefaultProcessTemplateDAGInstance, ITask, ITemplateDAGInstance
from dagger.templates._process_templates import (
    IProcessTemplateDAG,
    NamedProcessBuilder,
    ProcessTemplateDAG,
    build_each,
    check_max_run_duration,
)
from dagger.templates._shapes import processes_for
from dagger.templates._task_templates import TaskTemplate

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.service._dagger import Dagger


def build_processes(builders: Any) -> list[IProcessTemplateDAG]:
    """Build a list of process builders (built templates are taken as they are)."""
    if not isinstance(builders, list | tuple):
        raise TypeError(f"dynamic processes are given as a list of builders, got {builders!r}")
    return build_each(builders, "dynamic")


class IDynamicProcessTemplateDAG(IProcessTemplateDAG):
    """A process whose place in the workflow is filled by processes chosen at runtime."""

    def __init__(
        self,
        next_process_dags: list[IProcessTemplateDAG],
        app: Dagger,
        name: str,
        max_run_duration: int,
    ) -> None:
        check_max_run_duration(max_run_duration)
        super().__init__(
            next_process_dags,
            app,
            name,
            DefaultProcessTemplateDAGInstance,
            None,
            max_run_duration,
        )
        self._dynamic_processes: list[IProcessTemplateDAG] = []

    def set_dynamic_process_builders(self, process_template_builders: list[Any]) -> None:
        """Set the processes used when none were chosen for the instance being created."""
        self._dynamic_processes = build_processes(process_template_builders)

    def set_parallel_process_template_dags(self, parallel_process_templates: list[Any]) -> None:
        """Not available: a dynamic process is not a parallel composite."""
        raise NotImplementedError("IDynamicProcessTemplateDAG does not take parallel processes")


class DynamicProcessTemplateDAG(IDynamicProcessTemplateDAG):
    """Runs, in order, the processes chosen for it, then the processes that follow it.

    The processes come from the workflow template's
    ``set_dynamic_builders_for_process_template(name, builders)`` in the creating
    context, else from :meth:`set_dynamic_process_builders`. With none, the place is an
    empty process that completes at once. A chosen process without its own
    ``max_run_duration`` gets the dynamic process's.
    """

    async def create_instance(
        self,
        id: str,
        parent_id: str,
        parent_name: str,
        partition_key_lookup: str,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
        **kwargs: Any,
    ) -> ITask[Any, Any]:
        """Create the chosen processes as a chain and return its first process."""
        chosen = processes_for(self.name)
        processes = list(self._dynamic_processes if chosen is None else chosen)
        if not processes:
            processes = [ProcessTemplateDAG([], self.app, self.name, self.process_type, None, 0)]
        chain = self.next_process_dag
        for process in reversed(processes):
            copy = process.followed_by(chain)
            if not copy.max_run_duration:
                copy.max_run_duration = self.max_run_duration
            chain = [copy]
        return await chain[0].create_instance(
            id,
            parent_id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )


class DynamicProcessTemplateDagBuilder(NamedProcessBuilder):
    """Builds a dynamic process: its processes are chosen when an instance is created.

    Examples:
        >>> template = engine.get_template("orders")  # doctest: +SKIP
        >>> template.set_dynamic_builders_for_process_template(  # doctest: +SKIP
        ...     "items", [item_process_builder(item) for item in order["items"]]
        ... )
        >>> await template.create_instance(uuid4(), "order_id", order_id="o-1")  # doctest: +SKIP
    """

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._max_run_duration = 0

    def set_root_task(self, task: TaskTemplate) -> Self:
        """Not available: a dynamic process's tasks come from the processes chosen for it."""
        raise NotImplementedError("a dynamic process has no root task of its own")

    def set_type(self, process_type: type[ITask[Any, Any]]) -> Self:
        """Not available: the chosen processes have their own types."""
        raise NotImplementedError("a dynamic process has no type of its own")

    def set_max_run_duration(self, max_run_duration: int) -> Self:
        """Set the timeout of each chosen process that has none (seconds; 0: none)."""
        self._max_run_duration = check_max_run_duration(max_run_duration)
        return self

    def _build(self) -> IProcessTemplateDAG:
        """Build the dynamic process's template."""
        if self._name is None:
            raise ValueError("a dynamic process needs set_name() before build()")
        return DynamicProcessTemplateDAG(
            next_process_dags=self._next,
            app=self.app,
            name=self._name,
            max_run_duration=self._max_run_duration,
        )
