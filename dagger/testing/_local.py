"""Run an engine's workflows in this process, without Kafka, to test them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dagger.core._codec import dumps, loads
from dagger.core._events import HeldMessagesSwept, LogEvent
from dagger.core._wire import encode_event
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.runtime._assembly import assemble_owners
from dagger.runtime._dead_letter_writer import UNDECODABLE_INSTANCE, DeadLetterWriter
from dagger.runtime._updates import UpdatePublisher, update_document
from dagger.tasks._base import ITemplateDAGInstance

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


class ManualClock:
    """A clock that moves only when told to: ``LocalEngine.advance(seconds)``."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time forward."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds


@dataclass
class SentMessage:
    """A message a task sent on one of the engine's topics while a LocalEngine ran."""

    topic: str
    key: Any
    value: Any
    headers: Any


class RecordingTopic:
    """Stands in for an engine topic: records what is sent instead of sending it."""

    def __init__(self, name: str, sent: list[SentMessage]) -> None:
        self.name = name
        self._sent = sent

    def get_topic_name(self) -> str:
        """Return the topic's name."""
        return self.name

    async def send(
        self, *, key: Any = None, value: Any = None, headers: Any = None, **kwargs: Any
    ) -> asyncio.Future[None]:
        """Record the message; return a resolved future like faust's ``send``."""
        self._sent.append(SentMessage(self.name, key, value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class LocalEngine:
    """Runs ``engine``'s instances in memory, through the same owners a worker runs.

    While it is active, ``create_instance``, ``submit`` and :meth:`send_message` apply
    their events at once, in the order a partition would (first in, first out), to
    in-memory stores. Every stored change is recorded in :attr:`updates` as the JSON
    document the task update topic would carry, and dead letters in
    :attr:`dead_letters`; the engine's ``task_update_callbacks`` are awaited as on a
    worker. Messages tasks send with ``engine.topics[name].send(...)`` are recorded in
    :attr:`sent` instead of going to Kafka.

    Examples:
        >>> async with LocalEngine(engine) as local:  # doctest: +SKIP
        ...     instance = await engine.get_template("orders").create_instance(
        ...         uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        ...     )
        ...     await local.send_message("order_ready", {"order_id": "o-1"})
        ...     assert local.get_instance(instance.id).status.code == "COMPLETED"
    """

    def __init__(self, engine: Dagger, *, start: float | None = None) -> None:
        self.engine = engine
        self.store: dict[bytes, bytes] = {}
        self.index: dict[bytes, bytes] = {}
        self.held: dict[bytes, bytes] = {}
        self.timers_store: dict[bytes, bytes] = {}
        self.schedule_state: dict[bytes, bytes] = {}
        self.releases_store: dict[bytes, bytes] = {}
        self.updates: list[dict[str, Any]] = []
        self.dead_letters: list[dict[str, Any]] = []
        self.sent: list[SentMessage] = []
        self._saved_topics: dict[str, Any] = {}
        self._queue: deque[tuple[bytes, int]] = deque()
        self.clock = ManualClock(start) if start is not None else ManualClock(time.time())
        self._draining = False
        self._dead_letter_writer = DeadLetterWriter(self._collect_dead_letter)
        owners = assemble_owners(
            settings=engine.settings,
            instances=self.store,
            index=self.index,
            held=self.held,
            timers=self.timers_store,
            send=self._append,
            publisher=UpdatePublisher(None, [*engine.task_update_callbacks, self._record]),
            dead_letters=self._dead_letter_writer,
            serializers=engine.faust_app.serializers,
            clock=self.clock,
            schedule_state=self.schedule_state,
            releases=self.releases_store,
            schedules=engine._runtime.schedules,
            starter=engine,
            released_after=engine._runtime.released_after,
        )
        owners.listeners.topics = engine._runtime.listeners.topics
        self._owner = owners.instance_owner
        self.keys = owners.keys
        self._listeners = owners.listeners
        self._dispatcher = owners.dispatcher
        self.timers = owners.timers
        self.schedules = owners.schedules
        self._offsets: dict[str, int] = {}

    async def __aenter__(self) -> LocalEngine:
        if self.engine._local_sink is not None:
            raise RuntimeError("a LocalEngine is already active for this engine")
        self.engine._local_sink = self._deliver
        self.engine._local_owners = (self._owner, self.keys)
        self.engine._local_timers = self.fire_due_timers
        self.engine._local_schedules = self.schedules
        self._saved_topics = dict(self.engine.topics)
        for name in self._saved_topics:
            self.engine.topics[name] = RecordingTopic(name, self.sent)  # type: ignore[assignment]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.engine._local_sink = None
        self.engine._local_owners = None
        self.engine._local_timers = None
        self.engine._local_schedules = None
        self.engine.topics.update(self._saved_topics)

    async def advance(self, seconds: float) -> int:
        """Move the clock ``seconds`` forward, fire the timers now due and drop the early
        messages whose window has passed, as a worker's ticks and sweeps do; return how
        many timers fired."""
        self.clock.advance(seconds)
        fired = 0
        while True:
            fired_now = await self.fire_due_timers()
            if not fired_now:
                await self.sweep_early_messages()
                return fired
            fired += fired_now

    async def sweep_early_messages(self) -> None:
        """Drop the held early messages whose window has passed at the clock's time.

        A worker does this every quarter of ``early_message_window``; until a sweep, a
        message past its window is still delivered to a listener that registers.
        """
        for partition in range(self.engine.settings.kafka_partitions):
            await self._append(HeldMessagesSwept(str(uuid.uuid4()), self.clock()), "", partition)

    async def fire_due_timers(self) -> int:
        """Fire the timers and the schedules due at the clock's time, as a worker's ticks do.

        Returns how many timers fired and schedules were looked at.
        """
        due = self.timers.pop_due_across(self.timers.partitions(), self.clock(), 1_000_000)
        for partition, timer in due:
            await self._append(timer.fired(), timer.instance_id, partition)
        partitions = range(self.engine.settings.kafka_partitions)
        schedules = self.schedules.due(partitions, self.clock())
        for partition, event in schedules:
            await self._append(event, event.workflow, partition)
        return len(due) + len(schedules)

    def releases(self, workflow: str) -> list[dict[str, Any]]:
        """The audit records of ``workflow``'s releases, oldest logical time first."""
        return self.schedules.releases_of(workflow)

    def get_instance(self, instance_id: Any) -> ITemplateDAGInstance[Any, Any] | None:
        """Return the stored instance ``instance_id`` (None if deleted or unknown)."""
        return self._owner.load(str(instance_id))

    async def send_message(
        self, topic: str, value: Any, *, headers: dict[str, bytes] | None = None
    ) -> None:
        """Deliver a message to listener topic ``topic`` as if it arrived from Kafka.

        ``value`` is bytes as they would be on the topic, or a value to encode with the
        topic's codec (JSON, or Avro for a topic created with a schema).
        """
        if topic not in self._listeners.topics:
            raise ValueError(f"no listener task waits on topic {topic!r}")
        raw = value if isinstance(value, bytes) else self._listeners.encode(topic, value)
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        origin = {"topic": topic, "partition": 0, "offset": offset}
        await self._listeners.route(topic, raw, origin, headers)
        await self._drain()

    async def _deliver(self, event: LogEvent, partition: int) -> None:
        await self._append(event, "", partition)

    async def _append(self, event: LogEvent, key: str, partition: int) -> None:
        self._queue.append((encode_event(event), partition))
        await self._drain()

    async def _drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue:
                raw, partition = self._queue.popleft()
                try:
                    await self._dispatcher.handle(raw, partition)
                except UndecodableInstanceError as exc:  # as a worker does
                    origin = {"topic": self.engine.settings.tasks_topic, "partition": partition}
                    await self._dead_letter_writer.publish(UNDECODABLE_INSTANCE, exc, origin, raw)
                await self._owner.end_batch()
        finally:
            self._draining = False

    async def _record(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        document = update_document(instance)
        self.updates.append(document)
        topic = self.engine.settings.task_update_topic
        if topic is not None and topic in self._listeners.topics:
            # Listeners wait on the update topic (a declarative trigger stage waits for its
            # child's end there): it carries the document to them, as the broker would.
            await self.send_message(topic, dumps(document))

    async def _collect_dead_letter(self, key: bytes, value: bytes) -> None:
        self.dead_letters.append(loads(value))
