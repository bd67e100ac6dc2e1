"""Processes (and the workflow instance itself): a chain of tasks run in order.

A process may have a deadline (``max_run_duration``: it is SKIPPED when it outlives it)
and, when monitored, a monitoring task set for the instance's ``complete_by_time``.
"""

from __future__ import annotations

from dagger.core import _flow as flow
from dagger.core._effects import Effect, SetTimer
from dagger.core._rules import Instance, KindRules, Task, container_hook, register
from dagger.tasks._base import (
    COMPLETE_BY_KEY,
    IMonitoredTask,
    INonLeafNodeTask,
    IProcessTemplateDAGInstance,
)
from dagger.tasks._status import TaskStatusEnum as Status


class ProcessRules(KindRules):
    """A process runs its chain from ``root_dag``; the chain's end is the process's."""

    container = True

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        assert isinstance(task, INonLeafNodeTask)
        effects = container_hook(task, INonLeafNodeTask) + watch_process(instance, task, now)
        if task.root_dag is None:
            return effects + flow.finish_task(instance, task.id, Status.COMPLETED, now)
        return effects + flow.start_task(instance, task.root_dag, now)

    def fire_timer(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        """The process outlived ``max_run_duration``: it and its unfinished tasks are SKIPPED."""
        effects = flow.finish_children(instance, task, Status.SKIPPED, now)
        return effects + flow.finish_task(instance, task.id, Status.SKIPPED, now)

    def heads(self, task: Task) -> list[str]:
        root_dag = getattr(task, "root_dag", None)
        return [root_dag] if root_dag else []

    def on_finish(self, instance: Instance, task: Task, status: str, now: float) -> list[Effect]:
        if not isinstance(task, IProcessTemplateDAGInstance):
            return []
        monitor = instance.tasks.get(monitor_id(task.id))
        if monitor is None or monitor.is_terminal():
            return []
        return flow.finish_task(instance, monitor.id, Status.COMPLETED, now, iterate=False)

    def chain_ended(
        self, instance: Instance, container: Task, last: Task, status: str, now: float
    ) -> list[Effect]:
        if status in flow.SUCCEEDED:
            return flow.finish_task(instance, container.id, Status.COMPLETED, now)
        return flow.finish_task(instance, container.id, status, now, error=flow.error_of(last))


def watch_process(instance: Instance, process: Task, now: float) -> list[Effect]:
    """Set a process's deadline timer and start its monitoring task, if it has them."""
    effects: list[Effect] = []
    duration = getattr(process, "max_run_duration", 0) or 0
    if isinstance(process, IProcessTemplateDAGInstance) and duration > 0:
        process.timer_due = now + duration
        effects.append(SetTimer(process.id, process.timer_due))
    if isinstance(process, IMonitoredTask):
        complete_by = instance.runtime_parameters.get(COMPLETE_BY_KEY)
        if complete_by is not None:
            monitor_type = process.get_monitoring_task_type()
            monitor = monitor_type(
                id=monitor_id(process.id),
                task_name=f"{process.task_name}_monitor",
                parent_id=process.id,
                root_id=instance.id,
                process_name=process.task_name,
                time_created=now,
                time_to_execute=float(complete_by),
                monitored_task_id=process.id,
            )
            instance.add_task(monitor)
            effects.extend(flow.start_task(instance, monitor.id, now))
    return effects


def monitor_id(process_id: str) -> str:
    """The id of the monitoring task of a monitored process."""
    return f"{process_id}:monitor"


register(INonLeafNodeTask, ProcessRules())
