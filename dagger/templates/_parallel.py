"""Parallel composites: branches of tasks, or of processes, run side by side and joined."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.tasks._base import ITask, ITemplateDAGInstance, ParallelCompositeTask
from dagger.tasks._retry_policy import RetryPolicy
from dagger.tasks._status import TaskOperator, TaskType
from dagger.templates._process_templates import (
    IProcessTemplateDAG,
    IProcessTemplateDAGBuilder,
    NamedProcessBuilder,
    build_each,
)
from dagger.templates._shapes import processes_for
from dagger.templates._task_builders import DefaultTaskTemplateBuilder
from dagger.templates._task_templates import (
    DefaultTaskTemplate,
    TaskTemplate,
    check_task_class,
    create_linked,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.service._dagger import Dagger


ProcessOrBuilder = IProcessTemplateDAG | IProcessTemplateDAGBuilder
"""A built process template, or a builder that is built when it is given."""


def check_operator(operator: Any) -> TaskOperator:
    """Validate a join operator."""
    if not isinstance(operator, TaskOperator):
        raise TypeError(
            f"the join operator must be TaskOperator.JOIN_ALL or TaskOperator.ATLEAST_ONE, "
            f"got {operator!r}"
        )
    return operator


class ParallelCompositeTaskTemplate(DefaultTaskTemplate):
    """Tasks run side by side inside a process, joined by ``parallel_operator_type``."""

    def __init__(
        self,
        app: Dagger,
        type: type[ITask[Any, Any]],
        name: str,
        task_dag_templates: list[TaskTemplate],
        child_task_templates: list[TaskTemplate],
        allow_skip_to: bool,
        reprocess_on_message: bool = False,
        parallel_operator_type: TaskOperator = TaskOperator.JOIN_ALL,
    ) -> None:
        check_task_class(type, ParallelCompositeTask, "parallel composite")
        super().__init__(app, type, name, task_dag_templates, allow_skip_to, reprocess_on_message)
        self.child_task_templates = list(child_task_templates)
        self.parallel_operator_type = check_operator(parallel_operator_type)

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "task_type": TaskType.PARALLEL_COMPOSITE.name,
            "operator_type": self.parallel_operator_type.name,
        }

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
        """Create the composite, the tasks after it, and its branches."""
        composite = await super().create_instance(
            id,
            parent_id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        assert isinstance(composite, ParallelCompositeTask) and workflow_instance is not None
        await create_linked(
            self.child_task_templates,
            composite.parallel_child_task_list,
            composite.id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        return composite


class ParallelCompositeTaskTemplateBuilder(DefaultTaskTemplateBuilder):
    """Builds a parallel composite of tasks.

    ``no_of_parallel_tasks`` copies of ``task_template`` are its first branches;
    :meth:`add_parallel_task` adds more. Each branch is a task template and the tasks
    linked after it with ``set_next``.

    Examples:
        >>> quotes = (
        ...     ParallelCompositeTaskTemplateBuilder(engine)
        ...     .set_name("quotes")
        ...     .add_parallel_task(quote_from_dhl)
        ...     .add_parallel_task(quote_from_ups)
        ...     .set_task_operator(TaskOperator.ATLEAST_ONE)
        ...     .build()
        ... )  # doctest: +SKIP
    """

    def __init__(
        self, app: Dagger, no_of_parallel_tasks: int = 0, task_template: TaskTemplate | None = None
    ) -> None:
        super().__init__(app)
        if isinstance(no_of_parallel_tasks, bool) or not isinstance(no_of_parallel_tasks, int):
            raise TypeError(f"no_of_parallel_tasks must be an int, got {no_of_parallel_tasks!r}")
        if no_of_parallel_tasks < 0:
            raise ValueError(f"no_of_parallel_tasks must be >= 0, got {no_of_parallel_tasks}")
        if no_of_parallel_tasks and not isinstance(task_template, TaskTemplate):
            raise TypeError(
                "no_of_parallel_tasks copies need a built task_template, got "
                f"{type(task_template).__name__}"
            )
        self._type = ParallelCompositeTask
        self._branches: list[TaskTemplate] = (
            [task_template] * no_of_parallel_tasks if task_template is not None else []
        )
        self._operator = TaskOperator.JOIN_ALL

    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the ParallelCompositeTask class instantiated for the composite."""
        check_task_class(task_type, ParallelCompositeTask, "parallel composite")
        self._type = task_type
        return self

    def add_parallel_task(self, task_template: TaskTemplate) -> Self:
        """Add a branch that starts with ``task_template``."""
        if not isinstance(task_template, TaskTemplate):
            raise TypeError(
                f"add_parallel_task takes a built TaskTemplate, got "
                f"{type(task_template).__name__}; call .build() on the builder first"
            )
        self._branches.append(task_template)
        return self

    def set_task_operator(self, operator: TaskOperator) -> Self:
        """Join the branches with JOIN_ALL (every branch) or ATLEAST_ONE (the first)."""
        self._operator = check_operator(operator)
        return self

    def set_retry_policy(self, policy: RetryPolicy) -> Self:
        """Refused: a composite runs no hook of its own to retry; its branches' tasks do."""
        raise TypeError(
            "a parallel composite has no hook of its own to retry: "
            "set_retry_policy on the tasks of its branches"
        )

    def _build(self) -> TaskTemplate:
        """Build the composite's template."""
        if self._name is None:
            raise ValueError("a parallel composite needs set_name() before build()")
        if not self._branches:
            raise ValueError(
                f"parallel composite {self._name!r} has no branches: add_parallel_task()"
            )
        assert self._type is not None
        return ParallelCompositeTaskTemplate(
            app=self.app,
            type=self._type,
            name=self._name,
            task_dag_templates=self._next,
            child_task_templates=self._branches,
            allow_skip_to=self._allow_skip_to,
            reprocess_on_message=self._reprocess_on_message,
            parallel_operator_type=self._operator,
        )


class ParallelCompositeProcessTemplateDAG(IProcessTemplateDAG):
    """Processes run side by side in a workflow, joined by ``parallel_operator_type``.

    The parallel processes can be replaced for the instances created next with the
    workflow template's ``set_parallel_process_template_dags_for_a_composite_process``
    or ``set_given_num_of_parallel_processes_for_a_composite_process``.
    """

    def __init__(
        self,
        next_process_dag: list[IProcessTemplateDAG],
        app: Dagger,
        name: str,
        process_type: type[ITask[Any, Any]],
        child_process_task_templates: list[IProcessTemplateDAG],
        parallel_operator_type: TaskOperator,
    ) -> None:
        check_task_class(process_type, ParallelCompositeTask, "parallel composite")
        super().__init__(next_process_dag, app, name, process_type, None, 0)
        self.child_process_task_templates = check_processes(
            child_process_task_templates, allow_empty=True
        )
        self.parallel_operator_type = check_operator(parallel_operator_type)
        task_classes.register(process_type)

    def set_parallel_process_template_dags(
        self, parallel_process_templates: list[ProcessOrBuilder]
    ) -> None:
        """Replace the parallel processes (of every instance created after)."""
        self.child_process_task_templates = check_processes(parallel_process_templates)

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
        """Create the composite, its parallel processes and the processes after it."""
        if workflow_instance is None:
            raise TypeError("a process instance is created inside a workflow_instance")
        composite = self.process_type(
            id=str(id),
            task_name=self.name,
            parent_id=str(parent_id),
            root_id=workflow_instance.id,
            time_created=time.time(),
            task_type=TaskType.PARALLEL_COMPOSITE.name,
            process_name=self.name,
            operator_type=self.parallel_operator_type.name,
        )
        assert isinstance(composite, ParallelCompositeTask)
        workflow_instance.add_task(composite)
        chosen = processes_for(self.name)
        await create_linked(
            self.child_process_task_templates if chosen is None else chosen,
            composite.parallel_child_task_list,
            composite.id,
            self.name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        await create_linked(
            self.next_process_dag,
            composite.next_dags,
            parent_id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        return composite


def check_processes(processes: Any, *, allow_empty: bool = False) -> list[IProcessTemplateDAG]:
    """Validate a list of built process templates (builders are built)."""
    if not isinstance(processes, list | tuple) or not (processes or allow_empty):
        raise ValueError(
            f"a parallel composite needs a non-empty list of processes, got {processes!r}"
        )
    return build_each(processes, "parallel")


class ParallelCompositeProcessTemplateDagBuilder(NamedProcessBuilder):
    """Builds processes that run side by side.

    Examples:
        >>> fulfil = (
        ...     ParallelCompositeProcessTemplateDagBuilder(engine)
        ...     .set_name("fulfil")
        ...     .set_parallel_process_templates([pack_process, invoice_process])
        ...     .set_parallel_operator_type(TaskOperator.JOIN_ALL)
        ...     .build()
        ... )  # doctest: +SKIP
    """

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._type: type[ITask[Any, Any]] = ParallelCompositeTask
        self._processes: list[IProcessTemplateDAG] = []
        self._operator = TaskOperator.JOIN_ALL

    def set_root_task(self, task: TaskTemplate) -> Self:
        """Not available: a parallel composite's branches are processes."""
        raise NotImplementedError(
            "a parallel composite process has no root task: use set_parallel_process_templates"
        )

    def set_max_run_duration(self, max_run_duration: int) -> Self:
        """Not available: set max_run_duration on the parallel processes themselves."""
        raise NotImplementedError(
            "a parallel composite has no max_run_duration; set it on its parallel processes"
        )

    def set_type(self, process_type: type[ITask[Any, Any]]) -> Self:
        """Set the ParallelCompositeTask class instantiated for the composite."""
        check_task_class(process_type, ParallelCompositeTask, "parallel composite")
        self._type = process_type
        return self

    def set_parallel_process_templates(
        self, parallel_process_templates: ProcessOrBuilder | list[ProcessOrBuilder]
    ) -> Self:
        """Add processes that run side by side: one process per call, or a list of them.

        The original added one process per call, and its apps call this once per branch.
        """
        if not isinstance(parallel_process_templates, list | tuple):
            parallel_process_templates = [parallel_process_templates]
        self._processes.extend(check_processes(parallel_process_templates, allow_empty=True))
        return self

    def set_parallel_process_template_dags(
        self, parallel_process_templates: list[ProcessOrBuilder]
    ) -> Self:
        """Replace the processes that run side by side with ``parallel_process_templates``."""
        self._processes = check_processes(parallel_process_templates)
        return self

    def set_parallel_operator_type(self, operator_type: TaskOperator) -> Self:
        """Join the processes with JOIN_ALL (every one) or ATLEAST_ONE (the first)."""
        self._operator = check_operator(operator_type)
        return self

    def _build(self) -> IProcessTemplateDAG:
        """Build the composite's template.

        It may be built without processes when each instance's are chosen before it is
        created (the workflow template's
        ``set_given_num_of_parallel_processes_for_a_composite_process``); an instance
        created with none completes the composite at once.
        """
        if self._name is None:
            raise ValueError("a parallel composite process needs set_name() before build()")
        return ParallelCompositeProcessTemplateDAG(
            next_process_dag=self._next,
            app=self.app,
            name=self._name,
            process_type=self._type,
            child_process_task_templates=self._processes,
            parallel_operator_type=self._operator,
        )
