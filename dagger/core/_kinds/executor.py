"""Executor tasks (and Kafka command tasks): run ``execute``; done when it returns."""

from __future__ import annotations

from dagger.core._effects import Effect, RunTask
from dagger.core._rules import Instance, KindRules, Task, register
from dagger.tasks._base import ExecutorTask


class ExecutorRules(KindRules):
    """An executor runs its ``execute`` as it starts."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        return [RunTask(task.id)]


register(ExecutorTask, ExecutorRules())
