"""Delay tasks: a timer counted from the task's start, for seconds found in a parameter."""

from __future__ import annotations

import math

from dagger.core import _flow as flow
from dagger.core._effects import Effect, RunTask
from dagger.core._kinds.trigger import TriggerRules, wait_until
from dagger.core._rules import Instance, Task, register
from dagger.tasks._delay import DelayTask
from dagger.tasks._status import TaskStatusEnum as Status


class DelayRules(TriggerRules):
    """Set the timer for ``now`` plus the seconds in ``runtime_parameters[delay_key]``."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        assert isinstance(task, DelayTask)
        value = instance.runtime_parameters.get(task.delay_key or "")
        seconds = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            return flow.finish_task(
                instance,
                task.id,
                Status.FAILURE,
                now,
                error=(
                    "InvalidDelay",
                    f"{task.task_name} waits runtime_parameters[{task.delay_key!r}] seconds, "
                    f"which is {value!r}, not a number >= 0",
                ),
            )
        task.time_to_execute = now + float(seconds)
        return wait_until(task, task.time_to_execute, now, [RunTask(task.id)])


register(DelayTask, DelayRules())
