"""Monitoring tasks: at a monitored process's ``complete_by_time``, run
``process_monitored_task``; their end never moves the workflow on."""

from __future__ import annotations

from dagger.core._kinds.trigger import TriggerRules
from dagger.core._rules import register
from dagger.tasks._base import MonitoringTask


class MonitoringRules(TriggerRules):
    """A monitoring task is a trigger beside the workflow, not a step in it."""

    moves_on = False


register(MonitoringTask, MonitoringRules())
