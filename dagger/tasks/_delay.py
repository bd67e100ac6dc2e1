"""Delay tasks: wait a number of seconds, read from a runtime parameter as they start."""

from __future__ import annotations

from typing import Any

from dagger.tasks._base import ITemplateDAGInstance, TriggerTask


class DelayTask(TriggerTask[str, Any]):
    """Runs ``execute`` ``runtime_parameters[delay_key]`` seconds after it starts.

    A trigger task's time is fixed when its instance is created; a delay's is counted
    from its start, so a step before it may choose the duration (a declarative ``sleep``
    or a ``wait`` timeout). The default ``execute`` does nothing.
    """

    delay_key: str | None = None

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        """Nothing to do once the delay is over."""
