"""Workflow templates: a named chain of processes that creates workflow instances."""

from __future__ import annotations

import abc
import random
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.tasks._base import DefaultTemplateDAGInstance, ITemplateDAGInstance
from dagger.tasks._status import TaskType
from dagger.templates import _shapes as shapes
from dagger.templates._dynamic import IDynamicProcessTemplateDAG, build_processes
from dagger.templates._ids import new_id
from dagger.templates._needs import needs_graph
from dagger.templates._parallel import ParallelCompositeProcessTemplateDAG, check_processes
from dagger.templates._process_templates import (
    IProcessTemplateDAG,
    IProcessTemplateDAGBuilder,
    as_process,
)
from dagger.templates._task_templates import TaskTemplate, check_task_class

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.service._dagger import Dagger


class ITemplateDAG(abc.ABC):
    """The definition of a workflow: its first process, name and instance type."""

    def __init__(
        self,
        dag: IProcessTemplateDAG,
        name: str,
        app: Dagger,
        template_type: type[ITemplateDAGInstance[Any, Any]],
    ) -> None:
        self.root_process_dag = dag
        self.name = name
        self.app = app
        self.template_type = template_type

    @abc.abstractmethod
    async def create_instance(
        self,
        id: Any,
        partition_key_lookup: str | None = None,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        submit_task: bool = False,
        **kwargs: Any,
    ) -> ITemplateDAGInstance[Any, Any]:
        """Create a workflow instance with ``kwargs`` as its runtime parameters."""

    @abc.abstractmethod
    def set_dynamic_builders_for_process_template(
        self, name: str, process_template_builders: list[Any]
    ) -> None:
        """Choose the processes of the dynamic process ``name`` for the next instances."""


class TemplateDAG(ITemplateDAG):
    """The default workflow template.

    Examples:
        >>> template = engine.get_template("orders")  # doctest: +SKIP
        >>> instance = await template.create_instance(  # doctest: +SKIP
        ...     uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        ... )
    """

    def __init__(
        self,
        dag: IProcessTemplateDAG,
        name: str,
        app: Dagger,
        template_type: type[ITemplateDAGInstance[Any, Any]],
    ) -> None:
        check_task_class(template_type, ITemplateDAGInstance, "template")
        if not isinstance(dag, IProcessTemplateDAG):
            raise TypeError(f"a template's root must be a built process template, got {dag!r}")
        super().__init__(dag, name, app, template_type)
        task_classes.register(template_type)

    def create_instance(
        self,
        id: Any,
        partition_key_lookup: str | None = None,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        submit_task: bool = False,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, ITemplateDAGInstance[Any, Any]]:
        """Create a workflow instance and hand it to the worker that owns its partition.

        Await the result. The processes chosen for dynamic and parallel processes (with
        ``set_dynamic_builders_for_process_template`` and the ``..._composite_process``
        methods) are read when this is called, so instances created side by side with
        different shapes never cross.

        Args:
            id: The instance id (a UUID or string).
            partition_key_lookup: The name of the runtime parameter whose value picks the
                owning partition; it must be among ``kwargs``. Without one (the original's
                README creates instances so), the instance id is the partition key.
            repartition: Route the instance to the owner of its key's partition (True) or
                create it on a partition this worker owns (False).
            seed: A ``random.Random`` from which the ids of the instance's tasks are drawn.
            submit_task: Start the instance as soon as its owner stores it.
            **kwargs: The runtime parameters.

        Returns:
            The created instance, as sent to its owner.
        """
        return self._create(
            shapes.chosen_for(self),
            id,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            submit_task=submit_task,
            **kwargs,
        )

    async def _create(
        self,
        shape: shapes.Shape,
        id: Any,
        partition_key_lookup: str | None,
        *,
        repartition: bool,
        seed: random.Random | None,
        submit_task: bool,
        **kwargs: Any,
    ) -> ITemplateDAGInstance[Any, Any]:
        partition_key_lookup = partition_key_lookup or ""
        if partition_key_lookup and partition_key_lookup not in kwargs:
            raise ValueError(
                f"partition_key_lookup={partition_key_lookup!r} names no runtime parameter; "
                f"pass {partition_key_lookup}=<value> to create_instance()"
            )
        instance_id = str(id)
        instance = self.template_type(
            id=instance_id,
            task_name=self.name,
            template_name=self.name,
            root_id=instance_id,
            task_type=TaskType.ROOT.name,
            time_created=time.time(),
            runtime_parameters=dict(kwargs),
            partition_key_lookup=partition_key_lookup,
        )
        with shapes.creating(shape):
            process = await self.root_process_dag.create_instance(
                new_id(seed),
                instance_id,
                self.name,
                partition_key_lookup,
                repartition=repartition,
                seed=seed,
                workflow_instance=instance,
                **kwargs,
            )
        instance.root_dag = process.id
        await self.app._send_new_instance(instance, repartition=repartition, submit=submit_task)
        return instance

    def get_given_process(self, process_name: str) -> IProcessTemplateDAG | None:
        """Return the process template named ``process_name`` in this workflow, or None."""
        pending = [self.root_process_dag]
        seen: set[int] = set()
        while pending:
            process = pending.pop()
            if id(process) in seen:
                continue
            seen.add(id(process))
            if process.name == process_name:
                return process
            pending.extend(process.next_process_dag)
            pending.extend(getattr(process, "child_process_task_templates", ()))
        return None

    def set_dynamic_builders_for_process_template(
        self, name: str, process_template_builders: list[Any]
    ) -> None:
        """Choose the processes of the dynamic process ``name`` for the next instances.

        The choice holds for the instances this asyncio task (and the tasks it starts)
        creates from now on; other tasks creating instances at the same time keep theirs.
        """
        process = self._given(name)
        if not isinstance(process, IDynamicProcessTemplateDAG):
            raise TypeError(
                f"process {name!r} of template {self.name!r} is not dynamic; build it with "
                "DynamicProcessTemplateDagBuilder"
            )
        shapes.choose(self, name, build_processes(process_template_builders))

    def set_given_num_of_parallel_processes_for_a_composite_process(
        self,
        no_of_processes: int,
        composite_process_name: str,
        parallel_template_builder: IProcessTemplateDAGBuilder,
    ) -> None:
        """Run ``no_of_processes`` copies of a process side by side in a composite process."""
        if isinstance(no_of_processes, bool) or not isinstance(no_of_processes, int):
            raise TypeError(f"no_of_processes must be an int, got {no_of_processes!r}")
        if no_of_processes < 1:
            raise ValueError(f"no_of_processes must be >= 1, got {no_of_processes}")
        if not isinstance(parallel_template_builder, IProcessTemplateDAGBuilder):
            raise TypeError(
                f"parallel_template_builder must be a process builder, "
                f"got {type(parallel_template_builder).__name__}"
            )
        self.set_parallel_process_template_dags_for_a_composite_process(
            composite_process_name,
            [parallel_template_builder.build() for _ in range(no_of_processes)],
        )

    def set_parallel_process_template_dags_for_a_composite_process(
        self, name: str, parallel_process_templates: list[Any]
    ) -> None:
        """Choose the processes the composite process ``name`` runs side by side.

        Takes process templates or builders. Like the dynamic processes, the choice
        holds for the instances this asyncio task creates from now on.
        """
        process = self._given(name)
        if not isinstance(process, ParallelCompositeProcessTemplateDAG):
            raise TypeError(
                f"process {name!r} of template {self.name!r} is not a parallel composite; "
                "build it with ParallelCompositeProcessTemplateDagBuilder"
            )
        shapes.choose(self, name, check_processes(parallel_process_templates))

    def _given(self, name: str) -> IProcessTemplateDAG:
        process = self.get_given_process(name)
        if process is None:
            raise ValueError(f"template {self.name!r} has no process named {name!r}")
        return process


class ITemplateDAGBuilder(abc.ABC):
    """Builds the definition of a workflow."""

    def __init__(self, app: Dagger) -> None:
        self.app = app

    @abc.abstractmethod
    def set_name(self, name: str) -> Self:
        """Set the template's name."""

    @abc.abstractmethod
    def set_root(self, template: IProcessTemplateDAG) -> Self:
        """Set the first process of the workflow."""

    @abc.abstractmethod
    def set_type(self, template_type: type[ITemplateDAGInstance[Any, Any]]) -> Self:
        """Set the class instantiated for workflow instances."""

    @abc.abstractmethod
    def build(self) -> ITemplateDAG:
        """Build the template."""


class DefaultTemplateBuilder(ITemplateDAGBuilder):
    """Builds a workflow template.

    Examples:
        >>> template = (
        ...     DefaultTemplateBuilder(engine)
        ...     .set_name("orders")
        ...     .set_type(DefaultTemplateDAGInstance)
        ...     .set_root(first_process)
        ...     .build()
        ... )  # doctest: +SKIP
    """

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._name: str | None = None
        self._root: IProcessTemplateDAG | None = None
        self._added: list[IProcessTemplateDAG] = []
        self._type: type[ITemplateDAGInstance[Any, Any]] = DefaultTemplateDAGInstance

    def set_name(self, name: str) -> Self:
        """Set the template's name."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a template name must be a non-empty string, got {name!r}")
        self._name = name
        return self

    def set_root(self, template: IProcessTemplateDAG | TaskTemplate) -> Self:
        """Set the first process of the workflow (a task template runs as a process)."""
        self._root = as_process(template, "set_root", self.app)
        return self

    def add_process(self, template: IProcessTemplateDAG | TaskTemplate) -> Self:
        """Add a process beside the root process; it runs by its needs (``set_needs``).

        With more than one process (the root counts), or a root that declares needs, the
        template's processes run as a graph: each starts when its trigger rule is met,
        every ready one at the same time, and the workflow ends when all have ended. The
        graph is checked by ``build()``: unknown names, cycles and processes that only a
        cycle leads to raise a ``GraphError`` naming them.
        """
        self._added.append(as_process(template, "add_process", self.app))
        return self

    def set_type(self, template_type: type[ITemplateDAGInstance[Any, Any]]) -> Self:
        """Set the class instantiated for workflow instances."""
        check_task_class(template_type, ITemplateDAGInstance, "template")
        self._type = template_type
        return self

    def build(self) -> ITemplateDAG:
        """Build the template."""
        nodes = [self._root] if self._root is not None else []
        if self._name is None or not (nodes or self._added):
            raise ValueError("a template needs set_name() and set_root() before build()")
        root = needs_graph(self.app, self._name, [*nodes, *self._added], "process")
        assert isinstance(root, IProcessTemplateDAG)
        return TemplateDAG(dag=root, name=self._name, app=self.app, template_type=self._type)
