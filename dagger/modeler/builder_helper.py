"""Helpers that build and link task, process and template definitions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagger.tasks._base import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    ITask,
    ITemplateDAGInstance,
)
from dagger.templates._dynamic import DynamicProcessTemplateDagBuilder
from dagger.templates._process_builder import ProcessTemplateDagBuilder
from dagger.templates._process_templates import IProcessTemplateDAG, IProcessTemplateDAGBuilder
from dagger.templates._task_builders import (
    DefaultTaskTemplateBuilder,
    IntervalTaskTemplateBuilder,
    KafkaCommandTaskTemplateBuilder,
    KafkaListenerTaskTemplateBuilder,
    TaskTemplateBuilder,
    TriggerTaskTemplateBuilder,
)
from dagger.templates._task_templates import TaskTemplate
from dagger.templates._workflow_templates import DefaultTemplateBuilder, ITemplateDAG

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger

__all__ = ["DAGBuilderHelper"]


class DAGBuilderHelper:
    """Shortcuts to define tasks and processes and link them into a workflow.

    Examples:
        >>> helper = DAGBuilderHelper(dagger_app=engine)  # doctest: +SKIP
        >>> tasks = helper.build_and_link_tasks([  # doctest: +SKIP
        ...     helper.generic_executor_task_builder(task_type=Reserve, name="reserve"),
        ...     helper.generic_executor_task_builder(task_type=Charge, name="charge"),
        ... ])
        >>> process = helper.generic_process_builder(  # doctest: +SKIP
        ...     process_name="payment", root_task=tasks
        ... )
        >>> template = helper.generic_template(  # doctest: +SKIP
        ...     template_name="orders", root_process=helper.build_and_link_processes([process])
        ... )
    """

    def __init__(self, dagger_app: Dagger) -> None:
        self.app = dagger_app

    def generic_executor_task_builder(
        self, *, task_type: type[ITask[Any, Any]], name: str, allow_skip_to: bool = False
    ) -> DefaultTaskTemplateBuilder:
        """Return a builder for an executor task of ``task_type``."""
        builder = DefaultTaskTemplateBuilder(self.app)
        builder.set_name(f"{name}_executor_task").set_type(task_type)
        return builder.set_allow_skip_to(allow_skip_to)

    def generic_command_task_builder(
        self,
        *,
        topic: str,
        task_type: type[ITask[Any, Any]],
        process_name: str,
        key_type: Any = None,
        value_type: Any = None,
        key_serializer: Any = None,
        value_serializer: Any = None,
        key_schema: Any = None,
        value_schema: Any = None,
    ) -> KafkaCommandTaskTemplateBuilder:
        """Return a builder for a command task that sends on ``topic``.

        ``key_schema``/``value_schema`` make the topic Avro (see ``Dagger.create_topic``).
        """
        command_topic = self.app.create_topic(
            topic,
            key_type=key_type,
            value_type=value_type,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
            key_schema=key_schema,
            value_schema=value_schema,
        )
        builder = KafkaCommandTaskTemplateBuilder(self.app)
        builder.set_topic(command_topic).set_type(task_type)
        return builder.set_name(f"{process_name}_command_task")

    def generic_listener_task_builder(
        self,
        *,
        topic: str,
        task_type: type[ITask[Any, Any]],
        process_name: str,
        allow_skip_to: bool = False,
        concurrency: int = 1,
        reprocess_on_message: bool = False,
        key_type: Any = None,
        value_type: Any = None,
        key_serializer: Any = None,
        value_serializer: Any = None,
        key_schema: Any = None,
        value_schema: Any = None,
    ) -> KafkaListenerTaskTemplateBuilder:
        """Return a builder for a listener task that waits for a message on ``topic``.

        ``key_schema``/``value_schema`` make the topic Avro (see ``Dagger.create_topic``):
        its messages are decoded before ``get_correlatable_keys_from_payload``.
        """
        listener_topic = self.app.create_topic(
            topic,
            key_type=key_type,
            value_type=value_type,
            key_serializer=key_serializer,
            value_serializer=value_serializer,
            key_schema=key_schema,
            value_schema=value_schema,
        )
        builder = KafkaListenerTaskTemplateBuilder(self.app)
        builder.set_topic(listener_topic).set_concurrency(concurrency).set_type(task_type)
        builder.set_name(f"{process_name}_listener_task").set_allow_skip_to(allow_skip_to)
        return builder.set_reprocess_on_message(reprocess_on_message)

    def generic_trigger_task_builder(
        self,
        *,
        task_type: type[ITask[Any, Any]],
        name: str,
        time_to_execute_key: str,
        allow_skip_to: bool = False,
    ) -> TriggerTaskTemplateBuilder:
        """Return a builder for a trigger task that runs at ``time_to_execute_key``'s time."""
        builder = TriggerTaskTemplateBuilder(self.app)
        builder.set_name(f"{name}_trigger_task").set_type(task_type)
        builder.set_time_to_execute_lookup_key(time_to_execute_key)
        return builder.set_allow_skip_to(allow_skip_to)

    def generic_interval_task_builder(
        self,
        *,
        task_type: type[ITask[Any, Any]],
        name: str,
        interval_execute_period_key: str,
        time_to_force_complete_key: str,
        time_to_execute_key: str | None = None,
        allow_skip_to: bool = False,
    ) -> IntervalTaskTemplateBuilder:
        """Return a builder for an interval task (see :class:`IntervalTaskTemplateBuilder`)."""
        builder = IntervalTaskTemplateBuilder(self.app)
        builder.set_name(f"{name}_interval_task").set_type(task_type)
        builder.set_interval_execute_period_lookup_key(interval_execute_period_key)
        builder.set_time_to_force_complete_lookup_key(time_to_force_complete_key)
        if time_to_execute_key is not None:
            builder.set_time_to_execute_lookup_key(time_to_execute_key)
        return builder.set_allow_skip_to(allow_skip_to)

    def generic_process_builder(
        self,
        *,
        process_name: str,
        root_task: TaskTemplate,
        process_type: type[ITask[Any, Any]] = DefaultProcessTemplateDAGInstance,
        max_run_duration: int = 0,
    ) -> ProcessTemplateDagBuilder:
        """Return a builder for a process that starts with ``root_task``."""
        builder = ProcessTemplateDagBuilder(self.app)
        builder.set_name(process_name).set_root_task(root_task).set_type(process_type)
        return builder.set_max_run_duration(max_run_duration)

    def generic_dynamic_process_builder(
        self, *, name: str, max_run_duration: int = 0
    ) -> DynamicProcessTemplateDagBuilder:
        """Return a builder for a dynamic process, filled with processes at runtime."""
        builder = DynamicProcessTemplateDagBuilder(self.app).set_name(name)
        return builder.set_max_run_duration(max_run_duration)

    def build_and_link_tasks(self, tasks_builder_list: list[TaskTemplateBuilder]) -> TaskTemplate:
        """Build the task builders as one chain, in list order, and return its first task."""
        if not tasks_builder_list:
            raise ValueError("build_and_link_tasks needs at least one task builder")
        next_template: TaskTemplate | None = None
        for builder in reversed(tasks_builder_list):
            if next_template is not None:
                builder.set_next(next_template)
            next_template = builder.build()
        assert next_template is not None
        return next_template

    def build_and_link_processes(
        self, process_builder_list: list[IProcessTemplateDAGBuilder]
    ) -> IProcessTemplateDAG:
        """Build the process builders as one chain, in list order, and return the first."""
        if not process_builder_list:
            raise ValueError("build_and_link_processes needs at least one process builder")
        next_process: IProcessTemplateDAG | None = None
        for builder in reversed(process_builder_list):
            if next_process is not None:
                builder.set_next_process(next_process)
            next_process = builder.build()
        assert next_process is not None
        return next_process

    def generic_template(
        self,
        *,
        template_name: str,
        root_process: IProcessTemplateDAG,
        template_type: type[ITemplateDAGInstance[Any, Any]] = DefaultTemplateDAGInstance,
    ) -> ITemplateDAG:
        """Build a workflow template that starts with ``root_process``."""
        builder = DefaultTemplateBuilder(self.app)
        return (
            builder.set_name(template_name).set_root(root_process).set_type(template_type).build()
        )
