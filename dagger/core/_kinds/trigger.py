"""Trigger tasks: run ``execute`` at ``time_to_execute`` (at once when it has passed)."""

from __future__ import annotations

from typing import Any

from dagger.core import _flow as flow
from dagger.core._effects import Effect, RunTask, SetTimer
from dagger.core._rules import Instance, KindRules, Task, register
from dagger.tasks._base import TriggerTask
from dagger.tasks._status import TaskStatusEnum


class TriggerRules(KindRules):
    """A trigger waits on a timer for its time, then runs like an executor."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        assert isinstance(task, TriggerTask)
        due = task.time_to_execute
        if due is None:
            return flow.finish_task(
                instance,
                task.id,
                TaskStatusEnum.FAILURE,
                now,
                error=("InvalidTriggerTimeForTask", f"{task.task_name} has no time to execute"),
            )
        return wait_until(task, float(due), now, [RunTask(task.id)])


def wait_until(
    task: TriggerTask[Any, Any], due: float, now: float, then: list[Effect]
) -> list[Effect]:
    """Set ``task``'s timer for ``due``, or do ``then`` at once when ``due`` has come."""
    if due > now:
        task.timer_due = due
        return [SetTimer(task.id, due)]
    return then


register(TriggerTask, TriggerRules())
