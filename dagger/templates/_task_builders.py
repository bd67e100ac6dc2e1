"""Builders of task templates."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from dagger.tasks._base import (
    DecisionTask,
    ExecutorTask,
    IntervalTask,
    ITask,
    SensorTask,
    TriggerTask,
)
from dagger.tasks._retry_policy import RetryPolicy
from dagger.templates._needs_builder import NeedsBuilder
from dagger.templates._task_templates import (
    DefaultIntervalTaskTemplate,
    DefaultKafkaTaskTemplate,
    DefaultTaskTemplate,
    DefaultTriggerTaskTemplate,
    TaskTemplate,
    check_task_class,
    topic_name_of,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.service._dagger import Dagger


class TaskTemplateBuilder(NeedsBuilder, abc.ABC):
    """Builds the definition of one task in a process."""

    def __init__(self, app: Dagger) -> None:
        self.app = app
        self._name: str | None = None
        self._type: type[ITask[Any, Any]] | None = None
        self._next: list[TaskTemplate] = []
        self._allow_skip_to = False
        self._reprocess_on_message = False
        self._retry_policy: RetryPolicy | None = None

    @abc.abstractmethod
    def set_name(self, name: str) -> Self:
        """Set the task's name."""

    @abc.abstractmethod
    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the class instantiated for this task."""

    def build(self) -> TaskTemplate:
        """Build the task template (with the retry policy, needs and trigger rule set here)."""
        template = self._build()
        if self._retry_policy is not None:
            template.retry_policy = self._retry_policy
        return self._mark(template)

    @abc.abstractmethod
    def _build(self) -> TaskTemplate:
        """Build the template of this builder's kind of task."""

    def set_next(self, task_template: TaskTemplate) -> Self:
        """Set the task that runs after this one."""
        if not isinstance(task_template, TaskTemplate):
            raise TypeError(
                f"set_next takes a built TaskTemplate, got {type(task_template).__name__}; "
                "call .build() on the builder first"
            )
        self._next.append(task_template)
        return self

    def set_retry_policy(self, policy: RetryPolicy) -> Self:
        """Run the task again when its hook raises, as ``policy`` says (see RetryPolicy).

        It replaces the engine's default (``Dagger(retry_policy=...)``) for this task.
        """
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"set_retry_policy takes a RetryPolicy, got {policy!r}")
        self._retry_policy = policy
        return self

    def set_allow_skip_to(self, allow_skip_to: bool) -> Self:
        """Allow the workflow to skip ahead to this task when its message arrives early."""
        self._allow_skip_to = bool(allow_skip_to)
        return self


class DefaultTaskTemplateBuilder(TaskTemplateBuilder):
    """Builds executor task templates.

    Examples:
        >>> task = (
        ...     DefaultTaskTemplateBuilder(engine)
        ...     .set_name("reserve_stock")
        ...     .set_type(ReserveStockTask)
        ...     .build()
        ... )  # doctest: +SKIP
    """

    def set_name(self, name: str) -> Self:
        """Set the task's name."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a task name must be a non-empty string, got {name!r}")
        self._name = name
        return self

    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the class instantiated for this task."""
        check_task_class(task_type)
        self._type = task_type
        return self

    def _build(self) -> TaskTemplate:
        """Build the task template."""
        if self._name is None or self._type is None:
            raise ValueError("a task needs set_name() and set_type() before build()")
        return DefaultTaskTemplate(
            app=self.app,
            type=self._type,
            name=self._name,
            task_dag_template=self._next,
            allow_skip_to=self._allow_skip_to,
            reprocess_on_message=self._reprocess_on_message,
        )


class DecisionTaskTemplateBuilder(DefaultTaskTemplateBuilder):
    """Builds a decision task: one ``set_next`` per branch, ``evaluate`` picks one.

    Examples:
        >>> route = (
        ...     DecisionTaskTemplateBuilder(engine)
        ...     .set_name("route")
        ...     .set_type(Route)
        ...     .set_next(express_delivery)
        ...     .set_next(standard_delivery)
        ...     .build()
        ... )  # doctest: +SKIP
    """

    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the DecisionTask class instantiated for this task."""
        check_task_class(task_type, DecisionTask)
        self._type = task_type
        return self

    def _build(self) -> TaskTemplate:
        """Build the decision's template; its branches need distinct first-task names."""
        if not self._next:
            raise ValueError(f"decision {self._name!r} needs at least one branch: set_next()")
        names = [template.name for template in self._next]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"decision {self._name!r} has branches that start with the same task name "
                f"{duplicates}: give each branch's first task its own name"
            )
        return super()._build()


class _KafkaTaskTemplateBuilder(DefaultTaskTemplateBuilder):
    """Builds task templates bound to a Kafka topic."""

    _task_base: type = ITask

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._topic: Any = None

    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the class instantiated for this task."""
        check_task_class(task_type, self._task_base)
        self._type = task_type
        return self

    def set_topic(self, topic: Any) -> Self:
        """Set the topic (a faust topic or a topic name) the task works with."""
        name = topic_name_of(topic)
        self._topic = topic if not isinstance(topic, str) else self.app.create_topic(name)
        return self

    def _build(self) -> TaskTemplate:
        """Build the task template."""
        if self._name is None or self._type is None or self._topic is None:
            raise ValueError(
                "a Kafka task needs set_name(), set_type() and set_topic() before build()"
            )
        return DefaultKafkaTaskTemplate(
            app=self.app,
            type=self._type,
            name=self._name,
            topic=self._topic,
            task_dag_templates=self._next,
            allow_skip_to=self._allow_skip_to,
            reprocess_on_message=self._reprocess_on_message,
        )


class KafkaCommandTaskTemplateBuilder(_KafkaTaskTemplateBuilder):
    """Builds a command task: ``execute`` sends on the topic set with ``set_topic``."""

    _task_base = ExecutorTask


class KafkaListenerTaskTemplateBuilder(_KafkaTaskTemplateBuilder):
    """Builds a listener task that waits for a correlated message on its topic."""

    _task_base = SensorTask

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._concurrency = 1

    def set_concurrency(self, concurrency: int) -> Self:
        """Set how many messages of the topic the engine routes at once."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
        self._concurrency = concurrency
        return self

    def set_reprocess_on_message(self, reprocess_on_message: bool) -> Self:
        """Run ``on_message`` again when a message arrives after the task completed."""
        self._reprocess_on_message = bool(reprocess_on_message)
        return self

    def _build(self) -> TaskTemplate:
        """Build the task template and let the engine route the topic's messages."""
        if self._topic is not None:
            self.app.set_listener_concurrency(topic_name_of(self._topic), self._concurrency)
        return super()._build()


class TriggerTaskTemplateBuilder(DefaultTaskTemplateBuilder):
    """Builds a trigger task: it runs at ``runtime_parameters[time_to_execute_key]``."""

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._time_to_execute_key: str | None = None

    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the TriggerTask class instantiated for this task."""
        check_task_class(task_type, TriggerTask)
        self._type = task_type
        return self

    def set_time_to_execute_lookup_key(self, key: str) -> Self:
        """Name the runtime parameter holding the time to run (epoch seconds)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"the time-to-execute key must be a parameter name, got {key!r}")
        self._time_to_execute_key = key
        return self

    def _build(self) -> TaskTemplate:
        """Build the task template."""
        if self._name is None or self._type is None or self._time_to_execute_key is None:
            raise ValueError(
                "a trigger task needs set_name(), set_type() and "
                "set_time_to_execute_lookup_key() before build()"
            )
        return DefaultTriggerTaskTemplate(
            app=self.app,
            type=self._type,
            name=self._name,
            time_to_execute_key=self._time_to_execute_key,
            task_dag_templates=self._next,
            allow_skip_to=self._allow_skip_to,
        )


class IntervalTaskTemplateBuilder(TriggerTaskTemplateBuilder):
    """Builds an interval task: ``interval_execute`` every period until done or the deadline."""

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._period_key: str | None = None
        self._force_complete_key: str | None = None

    def set_type(self, task_type: type[ITask[Any, Any]]) -> Self:
        """Set the IntervalTask class instantiated for this task."""
        check_task_class(task_type, IntervalTask)
        self._type = task_type
        return self

    def set_interval_execute_period_lookup_key(self, key: str) -> Self:
        """Name the runtime parameter holding the period between tries (seconds)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"the period key must be a parameter name, got {key!r}")
        self._period_key = key
        return self

    def set_time_to_force_complete_lookup_key(self, key: str) -> Self:
        """Name the runtime parameter holding the deadline (epoch seconds)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"the deadline key must be a parameter name, got {key!r}")
        self._force_complete_key = key
        return self

    def _build(self) -> TaskTemplate:
        """Build the task template."""
        if (
            self._name is None
            or self._type is None
            or self._period_key is None
            or self._force_complete_key is None
        ):
            raise ValueError(
                "an interval task needs set_name(), set_type(), "
                "set_interval_execute_period_lookup_key() and "
                "set_time_to_force_complete_lookup_key() before build()"
            )
        return DefaultIntervalTaskTemplate(
            app=self.app,
            type=self._type,
            name=self._name,
            time_to_execute_key=self._time_to_execute_key,
            time_to_force_complete_key=self._force_complete_key,
            interval_execute_period_key=self._period_key,
            task_dag_templates=self._next,
            allow_skip_to=self._allow_skip_to,
        )
