"""Publishing instance updates: plain-JSON documents and user callbacks, after each store."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dagger.core._codec import dumps
from dagger.tasks._base import ITask, ITemplateDAGInstance

logger = logging.getLogger(__name__)

UpdateCallback = Callable[[ITemplateDAGInstance[Any, Any]], Awaitable[None]]


def update_document(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, Any]:
    """Return the plain-JSON view of ``instance`` sent on the task update topic."""
    return {
        "id": instance.id,
        "template": instance.template_name or instance.task_name,
        "status": instance.status.code,
        "partition_key": (
            instance.runtime_parameters.get(instance.partition_key_lookup)
            if instance.partition_key_lookup
            else instance.id
        ),
        "time_created": instance.time_created,
        "time_submitted": instance.time_submitted,
        "time_completed": instance.time_completed,
        "time_updated": time.time(),
        "error_type": instance.error_type,
        "error_message": instance.error_message,
        "update_count": instance.update_count,
        "runtime_parameters": instance.runtime_parameters,
        "tasks": [_task_view(task) for task in instance.tasks.values()],
    }


def _task_view(task: ITask[Any, Any]) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.task_name,
        "kind": task.task_type,
        "process": task.process_name,
        "parent_id": task.parent_id,
        "status": task.status.code,
        "time_submitted": task.time_submitted,
        "time_completed": task.time_completed,
        "error_type": task.error_type,
        "error_message": task.error_message,
    }


class UpdatePublisher:
    """Sends each stored change to the update topic and the user's callbacks."""

    def __init__(self, topic: Any | None, callbacks: Sequence[UpdateCallback]) -> None:
        self._topic = topic
        self._callbacks = list(callbacks)

    @property
    def enabled(self) -> bool:
        """True when anyone listens for updates."""
        return self._topic is not None or bool(self._callbacks)

    @property
    def hands_out_instances(self) -> bool:
        """True when callbacks are given the instance objects themselves (they may keep them)."""
        return bool(self._callbacks)

    async def publish(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Publish ``instance`` as it was just stored: the topic's document, then callbacks."""
        await self.send(instance)
        await self.notify(instance)

    async def send(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Hand ``instance``'s document to the producer for the update topic (buffered)."""
        if self._topic is not None:
            await self._topic.send(key=instance.id.encode(), value=dumps(update_document(instance)))

    async def notify(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Await each ``task_update_callback`` with ``instance``; what one raises is logged."""
        for callback in self._callbacks:
            try:
                await callback(instance)
            except Exception:
                logger.exception(
                    "task_update_callback %r raised for instance %s", callback, instance.id
                )
