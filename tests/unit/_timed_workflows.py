"""Timed task classes and template helpers shared by the timer unit tests.

Every task records what it did in the runtime parameters, so the stored instance tells
what ran: ``fired`` (triggers), ``tries``/``executed`` (interval tasks), ``late``
(monitors), ``ran`` (executors, see :class:`tests.unit._workflows.RecordingTask`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.tasks.task import (
    IntervalTask,
    ITask,
    ITemplateDAGInstance,
    MonitoredProcessTemplateDAGInstance,
    MonitoringTask,
    TriggerTask,
)
from dagger.templates.template import (
    IntervalTaskTemplateBuilder,
    IProcessTemplateDAGBuilder,
    ITemplateDAG,
    TaskTemplateBuilder,
    TriggerTaskTemplateBuilder,
)
from tests.unit._listener_workflows import OrderStatusListener, unique
from tests.unit._workflows import RecordingTask

START = 1_000_000.0
"""The epoch second every LocalEngine of these tests starts at."""


class Alarm(TriggerTask[str, Any]):
    """Appends its name to ``runtime_parameters['fired']`` when it runs."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("fired", []).append(self.task_name)


class Poll(IntervalTask[str, Any]):
    """Counts its tries in ``tries``; done once ``tries > fail_times``.

    A try raises ``RuntimeError`` while ``tries <= raise_times``. ``execute`` stores the
    number of tries it saw in ``executed``.
    """

    async def interval_execute(self, runtime_parameters: dict[str, Any]) -> bool:
        tries = runtime_parameters.get("tries", 0) + 1
        runtime_parameters["tries"] = tries
        if tries <= runtime_parameters.get("raise_times", 0):
            raise RuntimeError(f"try {tries} failed")
        return bool(tries > runtime_parameters.get("fail_times", 0))

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["executed"] = runtime_parameters.get("tries", 0)


class LateRecorder(MonitoringTask[str, Any]):
    """Appends ``[name, status]`` of each late task to ``runtime_parameters['late']``."""

    async def process_monitored_task(
        self,
        monitored_task: ITask[Any, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None,
    ) -> None:
        assert workflow_instance is not None
        workflow_instance.runtime_parameters.setdefault("late", []).append(
            [monitored_task.task_name, monitored_task.status.code]
        )


class WatchedProcess(MonitoredProcessTemplateDAGInstance):
    """A monitored process whose monitor is a :class:`LateRecorder`."""

    def get_monitoring_task_type(self) -> type[MonitoringTask[Any, Any]]:
        return LateRecorder


ALARM = "alarm_trigger_task"
POLL = "poll_interval_task"


def alarm(helper: DAGBuilderHelper, name: str = "alarm") -> TriggerTaskTemplateBuilder:
    """An :class:`Alarm` due at ``runtime_parameters['at']``."""
    return helper.generic_trigger_task_builder(task_type=Alarm, name=name, time_to_execute_key="at")


def poll(helper: DAGBuilderHelper, *, starts_at: bool = True) -> IntervalTaskTemplateBuilder:
    """A :class:`Poll` every ``every`` seconds until ``until`` (from ``at`` if asked)."""
    return helper.generic_interval_task_builder(
        task_type=Poll,
        name="poll",
        interval_execute_period_key="every",
        time_to_force_complete_key="until",
        time_to_execute_key="at" if starts_at else None,
    )


def step(helper: DAGBuilderHelper, name: str) -> TaskTemplateBuilder:
    """An executor that appends ``name`` to ``runtime_parameters['ran']``."""
    return helper.generic_executor_task_builder(task_type=RecordingTask, name=name)


def listener(
    helper: DAGBuilderHelper, topic: str, process: str, *, allow_skip_to: bool = False
) -> TaskTemplateBuilder:
    """An order-status listener on ``order_id``, named ``<process>_listener_task``."""
    return helper.generic_listener_task_builder(
        topic=topic,
        task_type=OrderStatusListener,
        process_name=process,
        allow_skip_to=allow_skip_to,
        value_serializer="json",
    )


def process(
    helper: DAGBuilderHelper,
    name: str,
    tasks: Sequence[TaskTemplateBuilder],
    *,
    process_type: type[ITask[Any, Any]] | None = None,
    max_run_duration: float = 0,
) -> IProcessTemplateDAGBuilder:
    """A process of ``tasks`` in order."""
    options: dict[str, Any] = {"max_run_duration": max_run_duration}
    if process_type is not None:
        options["process_type"] = process_type
    return helper.generic_process_builder(
        process_name=name, root_task=helper.build_and_link_tasks(list(tasks)), **options
    )


def template(helper: DAGBuilderHelper, *processes: IProcessTemplateDAGBuilder) -> ITemplateDAG:
    """A workflow of ``processes`` in order, under a name no other test uses."""
    return helper.generic_template(
        template_name=unique("timed"),
        root_process=helper.build_and_link_processes(list(processes)),
    )
