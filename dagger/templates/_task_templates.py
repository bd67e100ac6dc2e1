"""Task templates: the definition of one task, which makes its instances."""

from __future__ import annotations

import abc
import inspect
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.exceptions.exceptions import InvalidTriggerTimeForTask
from dagger.tasks._base import (
    DecisionTask,
    IntervalTask,
    ITask,
    ITemplateDAGInstance,
    SensorTask,
    TriggerTask,
)
from dagger.tasks._needs import TriggerRule
from dagger.tasks._retry_policy import NO_RETRY_ATTEMPTS, RetryPolicy
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
    retry_policy: RetryPolicy | None = None
    """Set by the builder's ``set_retry_policy``; None: the engine's default policy."""
    needs: tuple[str, ...] = ()
    """The names of the sibling nodes this one waits for (the builder's ``set_needs``)."""
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    """When it runs, judged on how its needs ended (the builder's ``set_trigger_rule``)."""

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


async def create_linked(
    templates: Sequence[TaskTemplate],
    ids: list[str],
    parent_id: str,
    parent_name: str,
    partition_key_lookup: str,
    *,
    repartition: bool,
    seed: random.Random | None,
    workflow_instance: ITemplateDAGInstance[Any, Any],
    **kwargs: Any,
) -> None:
    """Create an instance of each template, each with a new id, and append its id to ``ids``."""
    for template in templates:
        created = await template.create_instance(
            new_id(seed),
            parent_id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        ids.append(created.id)


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
        self._check_parameters(workflow_instance.runtime_parameters)
        fields: dict[str, Any] = {
            "id": str(id),
            "task_name": self.name,
            "parent_id": str(parent_id),
            "root_id": workflow_instance.id,
            "time_created": time.time(),
            "task_type": TaskType.LEAF.name,
            "process_name": parent_name,
            "allow_skip_to": self.allow_skip_to,
            "reprocess_on_message": self.reprocess_on_message,
        }
        fields.update(self._task_fields(workflow_instance.runtime_parameters))
        policy = self.retry_policy or getattr(self.app, "default_retry_policy", None)
        if policy is not None and policy.max_attempts > NO_RETRY_ATTEMPTS:
            fields["retry_policy"] = policy.to_document()
        task = self._type(**fields)
        workflow_instance.add_task(task)
        await create_linked(
            self.task_dag_template,
            task.next_dags,
            parent_id,
            parent_name,
            partition_key_lookup,
            repartition=repartition,
            seed=seed,
            workflow_instance=workflow_instance,
            **kwargs,
        )
        if isinstance(task, DecisionTask):
            task.branch_names = {
                workflow_instance.get_task(head).task_name: head for head in task.next_dags
            }
        return task

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        """Extra fields this template gives its task instances."""
        return {}

    def _check_parameters(self, runtime_parameters: dict[str, Any]) -> None:
        """Raise ValueError when the runtime parameters cannot run this task."""


class DefaultKafkaTaskTemplate(DefaultTaskTemplate):
    """A command or listener task bound to a Kafka topic."""

    def __init__(
        self,
        app: Dagger,
        type: type[ITask[Any, Any]],
        name: str,
        topic: Any,
        task_dag_templates: list[TaskTemplate],
        allow_skip_to: bool,
        reprocess_on_message: bool = False,
    ) -> None:
        super().__init__(app, type, name, task_dag_templates, allow_skip_to, reprocess_on_message)
        self.topic = topic
        self.topic_name = topic_name_of(topic)
        if issubclass(type, SensorTask):
            if not correlation_parameter(type):
                raise TypeError(
                    f"{type.__name__} must name the runtime parameter it correlates on: "
                    "set the class attribute correlatable_key = '<parameter name>'"
                )
            app.register_listener(self.topic_name, type)

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        return {"topic": self.topic_name}

    def _check_parameters(self, runtime_parameters: dict[str, Any]) -> None:
        key = correlation_parameter(self._type)
        if issubclass(self._type, SensorTask) and runtime_parameters.get(str(key)) is None:
            raise ValueError(
                f"listener {self.name!r} correlates on the runtime parameter {key!r}: "
                f"pass {key}=<value> to create_instance()"
            )


def correlation_parameter(task_type: type[ITask[Any, Any]]) -> str | None:
    """Return the ``correlatable_key`` a task class declares (a field default on records)."""
    value = task_type._options.defaults.get("correlatable_key")
    return value if isinstance(value, str) and value else None


def topic_name_of(topic: Any) -> str:
    """Return the name of a faust topic, or ``topic`` itself when it is a name."""
    if isinstance(topic, str) and topic:
        return topic
    get_name = getattr(topic, "get_topic_name", None)
    if get_name is None:
        raise TypeError(f"a topic must be a topic name or a faust topic, got {topic!r}")
    name: str = get_name()
    return name


def trigger_time(
    runtime_parameters: dict[str, Any], key: str | None, task: str, *, required: bool
) -> float | None:
    """Read a time (epoch seconds) or a duration (seconds) from the runtime parameters."""
    value = runtime_parameters.get(key) if key else None
    if value is None:
        if required:
            raise InvalidTriggerTimeForTask(
                f"task {task!r} needs the runtime parameter {key!r} (epoch seconds)"
            )
        return None
    if isinstance(value, bool):
        raise InvalidTriggerTimeForTask(
            f"{key}={value!r} for task {task!r} is not a number of seconds"
        )
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidTriggerTimeForTask(
            f"{key}={value!r} for task {task!r} is not a number of seconds"
        ) from None
    if seconds != seconds or seconds < 0:
        raise InvalidTriggerTimeForTask(f"{key}={value!r} for task {task!r} must be >= 0")
    return seconds


class DefaultTriggerTaskTemplate(DefaultTaskTemplate):
    """A trigger task: runs at the time found in ``runtime_parameters[time_to_execute_key]``."""

    def __init__(
        self,
        app: Dagger,
        type: type[ITask[Any, Any]],
        name: str,
        time_to_execute_key: str,
        task_dag_templates: list[TaskTemplate],
        allow_skip_to: bool,
    ) -> None:
        check_task_class(type, TriggerTask)
        super().__init__(app, type, name, task_dag_templates, allow_skip_to)
        self.time_to_execute_key = time_to_execute_key

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "time_to_execute": trigger_time(
                runtime_parameters, self.time_to_execute_key, self.name, required=True
            )
        }


class DefaultIntervalTaskTemplate(DefaultTriggerTaskTemplate):
    """An interval task: retries ``interval_execute`` every period until done or the deadline."""

    def __init__(
        self,
        app: Dagger,
        type: type[ITask[Any, Any]],
        name: str,
        time_to_execute_key: str | None,
        time_to_force_complete_key: str,
        interval_execute_period_key: str,
        task_dag_templates: list[TaskTemplate],
        allow_skip_to: bool,
    ) -> None:
        check_task_class(type, IntervalTask)
        DefaultTaskTemplate.__init__(self, app, type, name, task_dag_templates, allow_skip_to)
        self.time_to_execute_key = time_to_execute_key  # type: ignore[assignment]
        self.time_to_force_complete_key = time_to_force_complete_key
        self.interval_execute_period_key = interval_execute_period_key

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        period = trigger_time(
            runtime_parameters, self.interval_execute_period_key, self.name, required=True
        )
        if not period:
            raise InvalidTriggerTimeForTask(
                f"the interval period of task {self.name!r} must be > 0"
            )
        return {
            "time_to_execute": trigger_time(
                runtime_parameters, self.time_to_execute_key, self.name, required=False
            ),
            "time_to_force_complete": trigger_time(
                runtime_parameters, self.time_to_force_complete_key, self.name, required=True
            ),
            "interval_execute_period": period,
        }
