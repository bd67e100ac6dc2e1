"""Interval tasks: from ``time_to_execute``, check ``interval_execute`` every period until it
says done or ``time_to_force_complete`` passes, then run ``execute``."""

from __future__ import annotations

from dagger.core._effects import Effect, RunInterval, RunTask, SetTimer
from dagger.core._kinds.trigger import wait_until
from dagger.core._rules import Instance, KindRules, Task, register
from dagger.tasks._base import IntervalTask
from dagger.tasks._status import TaskStatusEnum

DEFAULT_PERIOD = 1.0
"""Seconds between checks when the task gives no ``interval_execute_period``."""


class IntervalRules(KindRules):
    """An interval task's timer runs its check; the check's answer sets the next timer."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        assert isinstance(task, IntervalTask)
        due = now if task.time_to_execute is None else float(task.time_to_execute)
        return wait_until(task, due, now, [RunInterval(task.id)])

    def fire_timer(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        return [RunInterval(task.id)]


def interval_checked(instance: Instance, task_id: str, done: bool, now: float) -> list[Effect]:
    """``interval_execute`` of ``task_id`` returned ``done``: run it, or check again later."""
    task = instance.get_task(task_id)
    if not isinstance(task, IntervalTask) or task.status.code != TaskStatusEnum.EXECUTING:
        return []
    deadline = task.time_to_force_complete
    if done or (deadline is not None and now >= deadline):
        return [RunTask(task.id)]
    due = now + (task.interval_execute_period or DEFAULT_PERIOD)
    if deadline is not None:
        due = min(due, deadline)
    task.timer_due = due
    return [SetTimer(task.id, due)]


register(IntervalTask, IntervalRules())
