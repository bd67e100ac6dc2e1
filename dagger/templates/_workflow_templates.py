"""Workflow templates: a named chain of processes that creates workflow instances."""

from __future__ import annotations

import abc
import random
import time
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.tasks._base import DefaultTemplateDAGInstance, ITemplateDAGInstance
from dagger.tasks._status import TaskType
from dagger.templates._ids import new_id
from dagger.templates._process_templates import IProcessTemplateDAG
from dagger.templates._task_templates import check_task_class

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
        partition_key_lookup: str,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        submit_task: bool = False,
        **kwargs: Any,
    ) -> ITemplateDAGInstance[Any, Any]:
        """Create a workflow instance with ``kwargs`` as its runtime parameters."""


class TemplateDAG(ITemplateDAG):
    """The default workflow template.

    Example:
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

    async def create_instance(
        self,
        id: Any,
        partition_key_lookup: str,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        submit_task: bool = False,
        **kwargs: Any,
    ) -> ITemplateDAGInstance[Any, Any]:
        """Create a workflow instance and hand it to the worker that owns its partition.

        Args:
            id: The instance id (a UUID or string).
            partition_key_lookup: The name of the runtime parameter whose value picks the
                owning partition; it must be among ``kwargs``.
            repartition: Route the instance to the owner of its key's partition (True) or
                create it on a partition this worker owns (False).
            seed: A ``random.Random`` from which the ids of the instance's tasks are drawn.
            submit_task: Start the instance as soon as its owner stores it.
            **kwargs: The runtime parameters.

        Returns:
            The created instance, as sent to its owner.
        """
        if partition_key_lookup not in kwargs:
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

    Example:
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
        self._type: type[ITemplateDAGInstance[Any, Any]] = DefaultTemplateDAGInstance

    def set_name(self, name: str) -> Self:
        """Set the template's name."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a template name must be a non-empty string, got {name!r}")
        self._name = name
        return self

    def set_root(self, template: IProcessTemplateDAG) -> Self:
        """Set the first process of the workflow."""
        if not isinstance(template, IProcessTemplateDAG):
            raise TypeError(
                f"set_root takes a built process template, got {type(template).__name__}; "
                "call .build() on the process builder first"
            )
        self._root = template
        return self

    def set_type(self, template_type: type[ITemplateDAGInstance[Any, Any]]) -> Self:
        """Set the class instantiated for workflow instances."""
        check_task_class(template_type, ITemplateDAGInstance, "template")
        self._type = template_type
        return self

    def build(self) -> ITemplateDAG:
        """Build the template."""
        if self._name is None or self._root is None:
            raise ValueError("a template needs set_name() and set_root() before build()")
        return TemplateDAG(dag=self._root, name=self._name, app=self.app, template_type=self._type)
