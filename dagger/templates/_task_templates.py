"""Task templates: the definition of one task, which makes its instances."""

from __future__ import annotations

import abc
import inspect
import random
import time
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._status import TaskType
from dagger.templates._ids import new_id

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


def check_task_class(task_type: Any, base: type = ITask, role: str = "task") -> None:
    """Raise a TypeError that says how to fix ``task_type`` unless it is a usable class."""
    if not (isinstance(task_type, type) and issubclass(task_type, base)):
        raise TypeError(f"{role} type must be a subclass of {base.__name__}, got {task_type!r}")
    if inspect.isabstract(task_type):
        missing = ", ".join(sorted(getattr(task_type, "__abstractmethods__", ())))
        raise TypeError(f"{task_type.__name__} cannot be instantiated: implement {missing}")


class TaskTemplate(abc.ABC):
    """The definition of a task or process, which creates its instances."""

    name: str

    @abc.abstractmethod
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
        """Create the instance this template defines inside ``workflow_instance``."""


class DefaultTaskTemplate(TaskTemplate):
    """The definition of a leaf task and the tasks that follow it."""

    def __init__(
        self,
        app: Dagger,
        type: type[ITask[Any, Any]],
        name: str,
        task_dag_template: list[TaskTemplate],
        allow_skip_to: bool,
        reprocess_on_message: bool = False,
    ) -> None:
        check_task_class(type)
        self.app = app
        self._type = type
        self.name = name
        self.task_dag_template = list(task_dag_template)
        self.allow_skip_to = allow_skip_to
        self.reprocess_on_message = reprocess_on_message
        task_classes.register(type)

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
        """Create this task and the tasks after it inside ``workflow_instance``."""
        if workflow_instance is None:
            raise TypeError("a task instance is created inside a workflow_instance")
        task = self._type(
            id=str(id),
            task_name=self.name,
            parent_id=str(parent_id),
            root_id=workflow_instance.id,
            time_created=time.time(),
            task_type=TaskType.LEAF.name,
            process_name=parent_name,
            allow_skip_to=self.allow_skip_to,
            reprocess_on_message=self.reprocess_on_message,
        )
        workflow_instance.add_task(task)
        for next_template in self.task_dag_template:
            next_task = await next_template.create_instance(
                new_id(seed),
                parent_id,
                parent_name,
                partition_key_lookup,
                repartition=repartition,
                seed=seed,
                workflow_instance=workflow_instance,
                **kwargs,
            )
            task.next_dags.append(next_task.id)
        return task
