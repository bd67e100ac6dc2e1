"""Process templates: a named chain of tasks, followed by the next process."""

from __future__ import annotations

import abc
import copy as _copy
import random
import time
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.tasks._base import (
    COMPLETE_BY_KEY,
    DefaultProcessTemplateDAGInstance,
    IMonitoredTask,
    IProcessTemplateDAGInstance,
    ITask,
    ITemplateDAGInstance,
)
from dagger.tasks._status import TaskType
from dagger.templates._ids import new_id
from dagger.templates._needs_builder import NeedsBuilder
from dagger.templates._task_templates import (
    TaskTemplate,
    check_task_class,
    create_linked,
    trigger_time,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.service._dagger import Dagger


def check_max_run_duration(max_run_duration: int) -> int:
    """Validate a process timeout in seconds (0: no limit)."""
    if isinstance(max_run_duration, bool) or not isinstance(max_run_duration, (int, float)):
        raise ValueError(f"max_run_duration must be a number of seconds, got {max_run_duration!r}")
    if max_run_duration < 0:
        raise ValueError(f"max_run_duration must be >= 0, got {max_run_duration!r}")
    return max_run_duration


def build_each(processes: list[Any] | tuple[Any, ...], role: str) -> list[IProcessTemplateDAG]:
    """Build the builders among ``processes``; every item must end up a process template."""
    built: list[IProcessTemplateDAG] = []
    for process in processes:
        if isinstance(process, IProcessTemplateDAGBuilder):
            process = process.build()
        if not isinstance(process, IProcessTemplateDAG):
            raise TypeError(
                f"{role} processes are process templates or their builders, got {process!r}"
            )
        built.append(process)
    return built


def as_process(template: Any, method: str, app: Dagger) -> IProcessTemplateDAG:
    """``template`` as a process: a task template becomes a process whose root it is.

    The original's builders took any template where a process goes, and its own
    integration app chains a parallel composite of tasks after a process; wrapped in a
    process of its own, it runs with the meaning it had there.
    """
    if isinstance(template, IProcessTemplateDAG):
        return template
    if isinstance(template, TaskTemplate):
        process = ProcessTemplateDAG(
            next_process_dag=[],
            app=app,
            name=template.name,
            process_type=DefaultProcessTemplateDAGInstance,
            root_task_dag=template,
            max_run_duration=0,
        )
        # Its needs are the process's: it is a node among the template's processes.
        process.needs, process.trigger_rule = template.needs, template.trigger_rule
        return process
    hint = "; call .build() on the builder first" if hasattr(template, "build") else ""
    raise TypeError(
        f"{method} takes a built process template (or task template), "
        f"got {type(template).__name__}{hint}"
    )


class IProcessTemplateDAG(TaskTemplate, abc.ABC):
    """The definition of a process within a workflow."""

    def __init__(
        self,
        next_process_dag: list[IProcessTemplateDAG],
        app: Dagger,
        name: str,
        process_type: type[ITask[Any, Any]],
        root_task_dag: TaskTemplate | None,
        max_run_duration: int,
    ) -> None:
        self.next_process_dag = list(next_process_dag)
        self.app = app
        self.name = name
        self.process_type = process_type
        self.root_task_dag = root_task_dag
        self.max_run_duration = max_run_duration

    def set_dynamic_process_builders(self, process_template_builders: list[Any]) -> None:
        """Only dynamic processes take builders chosen at runtime."""
        raise TypeError(
            f"process {self.name!r} is not dynamic: build it with "
            "DynamicProcessTemplateDagBuilder to choose its processes at runtime"
        )

    def set_parallel_process_template_dags(self, parallel_process_templates: list[Any]) -> None:
        """Only parallel composite processes take parallel processes."""
        raise TypeError(
            f"process {self.name!r} is not a parallel composite: build it with "
            "ParallelCompositeProcessTemplateDagBuilder"
        )

    def followed_by(self, next_process_dag: list[IProcessTemplateDAG]) -> Self:
        """A copy of this template followed by ``next_process_dag`` instead of its own next."""
        copy = _copy.copy(self)
        copy.next_process_dag = list(next_process_dag)
        return copy


class ProcessTemplateDAG(IProcessTemplateDAG):
    """A process: its first task, its type, and the process that follows it."""

    def __init__(
        self,
        next_process_dag: list[IProcessTemplateDAG],
        app: Dagger,
        name: str,
        process_type: type[ITask[Any, Any]],
        root_task_dag: TaskTemplate | None,
        max_run_duration: int,
    ) -> None:
        check_task_class(process_type, IProcessTemplateDAGInstance, "process")
        check_max_run_duration(max_run_duration)
        super().__init__(next_process_dag, app, name, process_type, root_task_dag, max_run_duration)
        task_classes.register(process_type)
        if issubclass(process_type, IMonitoredTask):
            prototype = process_type(id="prototype", task_name=name)
            task_classes.register(prototype.get_monitoring_task_type())

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
        """Create this process, its tasks and the processes after it."""
        if workflow_instance is None:
            raise TypeError("a process instance is created inside a workflow_instance")
        if issubclass(self.process_type, IMonitoredTask):
            trigger_time(
                workflow_instance.runtime_parameters, COMPLETE_BY_KEY, self.name, required=False
            )
        process = self.process_type(
            id=str(id),
            task_name=self.name,
            parent_id=str(parent_id),
            root_id=workflow_instance.id,
            time_created=time.time(),
            task_type=TaskType.SUB_DAG.name,
            process_name=self.name,
            max_run_duration=self.max_run_duration,
        )
        workflow_instance.add_task(process)
        if self.root_task_dag is not None:
            root_task = await self.root_task_dag.create_instance(
                new_id(seed),
                process.id,
                self.name,
                partition_key_lookup,
                repartition=repartition,
                seed=seed,
                workflow_instance=workflow_instance,
                **kwargs,
            )
            process.root_dag = root_task.id
        await create_linked(
            self.next_process_dag,
            process.next_dags,
            parent_id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        return process


class IProcessTemplateDAGBuilder(abc.ABC):
    """Builds the definition of a process."""

    def __init__(self, app: Dagger) -> None:
        self.app = app

    @abc.abstractmethod
    def set_name(self, process_name: str) -> Self:
        """Set the process name."""

    @abc.abstractmethod
    def set_root_task(self, task: TaskTemplate) -> Self:
        """Set the first task of the process."""

    @abc.abstractmethod
    def set_next_process(self, task: IProcessTemplateDAG) -> Self:
        """Set the process that runs after this one."""

    @abc.abstractmethod
    def set_type(self, process_type: type[ITask[Any, Any]]) -> Self:
        """Set the class instantiated for this process."""

    @abc.abstractmethod
    def build(self) -> IProcessTemplateDAG:
        """Build the process template."""


class NamedProcessBuilder(NeedsBuilder, IProcessTemplateDAGBuilder):
    """What every process builder shares: a name, the processes after it, its needs."""

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._name: str | None = None
        self._next: list[IProcessTemplateDAG] = []

    def set_name(self, process_name: str) -> Self:
        """Set the process name."""
        if not isinstance(process_name, str) or not process_name:
            raise ValueError(f"a process name must be a non-empty string, got {process_name!r}")
        self._name = process_name
        return self

    def set_next_process(self, task: IProcessTemplateDAG | TaskTemplate) -> Self:
        """Add a process that runs after this one (each call adds one).

        A built task template (such as a ``ParallelCompositeTaskTemplate``) is accepted
        too, as the original accepted it: it runs as a process of its own, named after it.
        """
        self._next.append(as_process(task, "set_next_process", self.app))
        return self

    def build(self) -> IProcessTemplateDAG:
        """Build the process template (with the needs and trigger rule set on this builder)."""
        built = self._mark(self._build())
        assert isinstance(built, IProcessTemplateDAG)
        return built

    @abc.abstractmethod
    def _build(self) -> IProcessTemplateDAG:
        """Build the template of this builder's kind of process."""
