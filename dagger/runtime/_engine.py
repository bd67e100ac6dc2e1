"""The faust side of the owner loop: the instance table, the engine topic and its agent."""

from __future__ import annotations

import logging
from typing import Any

from dagger.core._events import LogEvent
from dagger.core._wire import MalformedEvent, encode_event
from dagger.runtime._owner import TOMBSTONE, InstanceOwner
from dagger.runtime._updates import UpdatePublisher
from dagger.tasks._base import ITemplateDAGInstance

logger = logging.getLogger(__name__)

__all__ = ["TOMBSTONE", "InstanceRuntime"]


class InstanceRuntime:
    """Owns the instance table and the agent that applies the engine topic's events to it."""

    def __init__(
        self,
        *,
        faust_app: Any,
        tasks_topic: Any,
        partitions: int,
        publisher: UpdatePublisher,
        delete_on_complete: bool,
    ) -> None:
        self._tasks_topic = tasks_topic
        self.instances = faust_app.Table(
            "dagger_instances",
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            help="Workflow instances, keyed by id, one JSON document each.",
        )
        self.owner = InstanceOwner(
            self.instances, publisher=publisher, delete_on_complete=delete_on_complete
        )
        faust_app.agent(tasks_topic, name="dagger_owner")(self._consume)

    async def send(self, event: LogEvent, *, key: str, partition: int) -> None:
        """Append ``event`` to the owner's partition and wait until the broker has it."""
        pending = await self._tasks_topic.send(
            key=key.encode(), value=encode_event(event), partition=partition
        )
        await pending

    def load(self, instance_id: str) -> ITemplateDAGInstance[Any, Any] | None:
        """Return the stored instance, or None if this worker does not hold it."""
        return self.owner.load(instance_id)

    async def handle(self, raw: bytes, partition: int) -> None:
        """Apply one engine-topic record owned by ``partition``."""
        await self.owner.handle(raw, partition)

    async def _consume(self, stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                await self.owner.handle(event.value, message.partition)
            except MalformedEvent as exc:
                logger.error(
                    "dropped malformed record at %s[%s]@%s: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc,
                )
            except Exception:
                # One record must not stop the partition's agent; issue 3 routes these
                # to a dead-letter topic.
                logger.exception(
                    "could not apply the record at %s[%s]@%s",
                    message.topic,
                    message.partition,
                    message.offset,
                )
