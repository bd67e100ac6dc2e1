"""One info line per workflow instance created, finished, failed, stopped, retried or rerun.

The lines go to the ``dagger.instances`` logger, never one per task, so a worker's log
at info level tells a person what happened to each workflow and nothing more.
"""

from __future__ import annotations

import logging
from typing import Any

from dagger.core._events import RerunRequested, RetryRequested
from dagger.tasks._base import ITemplateDAGInstance
from dagger.tasks._status import TaskStatusEnum

__all__ = ["LOGGER_NAME", "log_instance_change"]

LOGGER_NAME = "dagger.instances"
"""The logger of the instance lines; set it to WARNING to keep them out."""

logger = logging.getLogger(LOGGER_NAME)

_ENDINGS = {
    TaskStatusEnum.COMPLETED: "completed",
    TaskStatusEnum.FAILURE: "failed",
    TaskStatusEnum.STOPPED: "stopped",
    TaskStatusEnum.SKIPPED: "skipped",
}


def log_instance_change(
    before: str | None, instance: ITemplateDAGInstance[Any, Any], event: object = None
) -> None:
    """Log what one applied ``event`` did to ``instance``, whose status was ``before``.

    ``before`` is None when the event created the instance.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    status = instance.status.code
    if before is None:
        logger.info("Instance %s created (%s)", instance.id, _described(instance))
    elif isinstance(event, RetryRequested):
        logger.info("Instance %s retried (%s)", instance.id, _described(instance))
    elif isinstance(event, RerunRequested):
        logger.info("Instance %s rerun from %s (%s)", instance.id, event.task, _described(instance))
    elif status == before:
        return
    ending = _ENDINGS.get(status)  # type: ignore[call-overload]
    if ending is None:
        return
    detail = _described(instance)
    took = _duration(instance)
    if took:
        detail += f", after {took}"
    if status == TaskStatusEnum.FAILURE and (instance.error_type or instance.error_message):
        error = ": ".join(part for part in (instance.error_type, instance.error_message) if part)
        logger.info("Instance %s failed (%s): %s", instance.id, detail, error)
    else:
        logger.info("Instance %s %s (%s)", instance.id, ending, detail)


def _described(instance: ITemplateDAGInstance[Any, Any]) -> str:
    parts = [f"template {instance.template_name or '?'}"]
    if instance.partition_key_lookup:
        value = instance.runtime_parameters.get(instance.partition_key_lookup)
        parts.append(f"{instance.partition_key_lookup}={value}")
    parts.append(f"partition {instance.owner_partition}")
    return ", ".join(parts)


def _duration(instance: ITemplateDAGInstance[Any, Any]) -> str:
    start = instance.time_submitted or instance.time_created
    end = instance.time_completed
    if not start or not end or end < start:
        return ""
    took = end - start
    if took < 60:
        return f"{took:.2f} s"
    if took < 3600:
        return f"{took / 60:.1f} min"
    return f"{took / 3600:.1f} h"
