"""The faust side of the engine: its tables, the engine topic's agent and listener agents.

One agent consumes the engine topic; each record is applied by the owner of its
partition: instance events by the :class:`InstanceOwner`, correlation events by the
:class:`KeysOwner`. Each listener topic has an agent that routes its messages' keys to
their owners. Records that cannot be applied go to the dead-letter topic.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from dagger.core._events import AnyLogEvent, HeldMessagesSwept
from dagger.core._wire import MalformedEvent, encode_event
from dagger.runtime._assembly import assemble_owners
from dagger.runtime._dead_letters import ENGINE_ERROR, MALFORMED_ENGINE_EVENT, DeadLetters
from dagger.runtime._updates import UpdatePublisher
from dagger.tasks._base import SensorTask

if TYPE_CHECKING:
    from dagger.service._settings import EngineSettings

logger = logging.getLogger(__name__)

__all__ = ["EngineRuntime"]


class EngineRuntime:
    """Owns the engine's tables and agents inside its faust app."""

    def __init__(
        self,
        *,
        faust_app: Any,
        tasks_topic: Any,
        settings: EngineSettings,
        publisher: UpdatePublisher,
    ) -> None:
        self._app = faust_app
        self._tasks_topic = tasks_topic
        partitions = settings.kafka_partitions
        self.instances = self._table("dagger_instances", partitions, "Workflow instances by id.")
        self._clock = settings.clock
        self._max_timers_per_tick = settings.max_tasks_per_trigger
        self._timers_generation = -1
        self._dead_letter_topic = faust_app.topic(
            settings.dead_letter_topic, partitions=partitions, internal=True
        )
        self.dead_letters = DeadLetters(self._send_dead_letter)
        owners = assemble_owners(
            settings=settings,
            instances=self.instances,
            index=self._table("dagger_correlation", partitions, "Waiting listeners by key."),
            held=self._table("dagger_early_messages", partitions, "Messages held for listeners."),
            timers=self._table("dagger_timers", partitions, "Due timers by task."),
            send=self._append,
            publisher=publisher,
            dead_letters=self.dead_letters,
            serializers=faust_app.serializers,
            clock=settings.clock,
        )
        self.owner = owners.instances
        self.keys = owners.keys
        self.listeners = owners.listeners
        self.router = owners.router
        self.timers = owners.timers
        faust_app.agent(tasks_topic, name="dagger_owner")(self._consume)
        if settings.early_message_window > 0:
            sweep_every = max(1.0, settings.early_message_window / 4)
            faust_app.timer(sweep_every, name="dagger_sweep_early_messages")(self._sweep_held)
        self._tasks_topic_name = settings.tasks_topic
        faust_app.timer(settings.trigger_interval, name="dagger_timer_tick")(self.fire_due)

    async def fire_due(self) -> int:
        """Fire the due timers of the partitions this worker owns; return how many."""
        app = self._app
        if app.rebalancing or app.in_recovery:
            return 0
        owned = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic == self._tasks_topic_name
        }
        if app.rebalancing_count != self._timers_generation or owned != self.timers.partitions():
            for partition in self.timers.partitions() - owned:
                self.timers.drop(partition)
            loaded = self.timers.load(owned)
            self._timers_generation = app.rebalancing_count
            logger.info("timer index loaded: %s timers on partitions %s", loaded, sorted(owned))
        due = self.timers.pop_due_across(owned, self._clock(), self._max_timers_per_tick)
        for partition, timer in due:
            await self._append(timer.fired(), timer.instance_id, partition)
        return len(due)

    async def _sweep_held(self) -> None:
        """Ask each owned partition to drop its expired early messages."""
        for tp in self._app.assignor.assigned_actives():
            if tp.topic == self._tasks_topic_name:
                await self._append(HeldMessagesSwept(str(uuid.uuid4())), "sweep", tp.partition)

    def _table(self, name: str, partitions: int, help_text: str) -> Any:
        return self._app.Table(
            name, partitions=partitions, key_type=bytes, value_type=bytes, help=help_text
        )

    # -- sending -----------------------------------------------------------------------
    async def send(self, event: AnyLogEvent, *, key: str, partition: int) -> None:
        """Append ``event`` to ``partition`` and wait until the broker has it."""
        await (await self._produce(event, key, partition))

    async def _append(self, event: AnyLogEvent, key: str, partition: int) -> None:
        # Buffered: faust flushes the producer before it commits the consumed offset.
        await self._produce(event, key, partition)

    async def _produce(self, event: AnyLogEvent, key: str, partition: int) -> Any:
        return await self._tasks_topic.send(
            key=key.encode(), value=encode_event(event), partition=partition
        )

    async def _send_dead_letter(self, key: bytes, value: bytes) -> None:
        await self._dead_letter_topic.send(key=key, value=value)

    # -- listener topics ---------------------------------------------------------------
    def add_listener(
        self, name: str, topic: Any, task_type: type[SensorTask[Any, Any]], concurrency: int
    ) -> None:
        """Route the messages of topic ``name`` to the listeners of ``task_type``."""
        if not self.listeners.register(name, topic, task_type):
            if concurrency > self.listeners.topics[name].concurrency:
                logger.warning(
                    "listener topic %s already routes with concurrency %s; %s is ignored",
                    name,
                    self.listeners.topics[name].concurrency,
                    concurrency,
                )
            return
        self.listeners.topics[name].concurrency = concurrency
        raw_topic = self._app.topic(name, key_serializer="raw", value_serializer="raw")

        async def route_messages(stream: Any) -> None:
            async for event in stream.events():
                message = event.message
                origin = _origin(message)
                try:
                    await self.listeners.route(name, event.value, origin, message.headers)
                except Exception as exc:
                    await self.dead_letters.publish(ENGINE_ERROR, exc, origin, event.value)

        self._app.agent(raw_topic, name=f"dagger_listener_{name}", concurrency=concurrency)(
            route_messages
        )

    # -- the engine topic ----------------------------------------------------------------
    async def _consume(self, stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            origin = _origin(message)
            try:
                await self.router.handle(event.value, message.partition)
            except MalformedEvent as exc:
                await self.dead_letters.publish(MALFORMED_ENGINE_EVENT, exc, origin, event.value)
            except Exception as exc:
                # One record must not stop the partition's agent.
                logger.exception("could not apply the record at %s", origin)
                await self.dead_letters.publish(ENGINE_ERROR, exc, origin, event.value)


def _origin(message: Any) -> dict[str, Any]:
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}
