"""The faust side of the engine: its tables, the engine topic's agent and listener agents.

One agent consumes the engine topic in batches: the records the consumer has fetched, up
to ``max_events_per_batch`` or ``MAX_BATCH_SECONDS``. Each record is applied by the owner
of its partition: instance events by the :class:`InstanceOwner`, correlation events by
the :class:`KeysOwner`. The owners' stores are :class:`StagedStore` views of faust
tables: at the end of a batch the producer is flushed (the commands, index events and
dead letters the batch sent are on the broker), then the batch's writes reach the tables,
then the updates are published. Each listener topic has an agent that routes its
messages' keys to their owners. Records that cannot be applied go to the dead-letter
topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagger import _faust_internals as faust_internals
from dagger.core._events import HeldMessagesSwept, LogEvent
from dagger.core._wire import MalformedEvent, encode_event
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.runtime._assembly import COMMIT_RANKS, assemble_owners
from dagger.runtime._dead_letter_writer import (
    ENGINE_ERROR,
    MALFORMED_ENGINE_EVENT,
    UNDECODABLE_INSTANCE,
    DeadLetterWriter,
)
from dagger.runtime._intake import InstanceIntake
from dagger.runtime._logged_table import LoggedTable
from dagger.runtime._records import RecordSender
from dagger.runtime._schedules import Schedule
from dagger.runtime._staging import StagedStore, StagingArea
from dagger.runtime._telemetry import report_commit_failure
from dagger.runtime._tick import TickSchedule
from dagger.runtime._updates import UpdatePublisher
from dagger.stores._aerospike import AerospikeConnection
from dagger.tasks._base import SensorTask

if TYPE_CHECKING:
    from dagger.runtime._settings import EngineSettings
    from dagger.runtime._starts import InstanceStarter

logger = logging.getLogger(__name__)

__all__ = ["MAX_BATCH_SECONDS", "EngineRuntime"]

MAX_BATCH_SECONDS = 0.2
"""A batch running longer than this ends after its current record, so it gets stored."""

PARTITIONS_SETTLING_POLL = 0.5
"""How often the timer tick looks again while partitions are rebalanced or recovered."""

SCHEDULE_TICK_GAP = 0.1
"""The shortest pause of the schedule tick (a fire is released at most this late)."""

IDLE_BATCH_SECONDS = 0.1
"""How often an open batch whose agent waits for no record is looked at (and ended)."""

COMMIT_RETRY_FIRST_SECONDS = 0.1
COMMIT_RETRY_MAX_SECONDS = 5.0
"""A failed batch commit is tried again after 0.1 s, doubling up to 5 s."""


class EngineRuntime:
    """Owns the engine's tables and agents inside its faust app."""

    def __init__(
        self,
        *,
        faust_app: Any,
        tasks_topic: Any,
        settings: EngineSettings,
        publisher: UpdatePublisher,
        starter: InstanceStarter | None = None,
    ) -> None:
        self._app = faust_app
        self._records = RecordSender(faust_app, settings.tasks_topic)
        self.schedules: dict[str, Schedule] = {}
        """The workflows' schedules, by workflow (:meth:`add_schedule` fills it)."""
        self.released_after: dict[str, list[str]] = {}
        """Upstream workflow -> the workflows its completed instances start (on.release)."""
        self._partitions = settings.kafka_partitions
        # aerospike://: shared sets written by the owners, no faust table nor changelog.
        self._aerospike = AerospikeConnection(settings.aerospike) if settings.aerospike else None
        partitions = settings.kafka_partitions
        self._rocksdb_options = settings.rocksdb_options
        self._staging = StagingArea(self._flush_producer)
        self._max_events_per_batch = settings.max_events_per_batch
        self.instances = self._table(
            "dagger_instances", partitions, "Workflow instances by id.", "instances"
        )
        self._clock = settings.clock
        self._max_timers_per_tick = settings.max_tasks_per_trigger
        self._timers_generation = -1
        # Dead letters go straight to the producer, as the engine's own records do: they
        # are bytes already, and faust's Topic layer costs more than the letter under a
        # flood of bad input. faust flushes the producer before it commits an offset, so
        # a letter is on the broker before the offset of its input is committed.
        self._dead_letter_records = RecordSender(faust_app, settings.dead_letter_topic)
        self.dead_letters = DeadLetterWriter(self._send_dead_letter)
        owners = assemble_owners(
            settings=settings,
            instances=self.instances,
            index=self._table(
                "dagger_correlation", partitions, "Waiting listeners by key.", "index"
            ),
            held=self._table(
                "dagger_early_messages", partitions, "Messages held for listeners.", "held"
            ),
            timers=self._table("dagger_timers", partitions, "Due timers by task.", "timers"),
            send=self._append,
            publisher=publisher,
            dead_letters=self.dead_letters,
            serializers=faust_app.serializers,
            clock=settings.clock,
            schedules=self.schedules,
            starter=starter,
            released_after=self.released_after,
        )
        self.owner = owners.instance_owner
        self.keys = owners.keys
        self.listeners = owners.listeners
        self.dispatcher = owners.dispatcher
        self._turns = owners.instance_owner.turns
        self.timers = owners.timers
        self.schedule_owner = owners.schedules
        self._open_batch: OpenBatch | None = None
        self._decoded_generation = -1  # the rebalance the owner's decoded instances are from
        self._batch_applied = asyncio.Event()  # the open batch's last record is applied
        faust_app.agent(tasks_topic, name="dagger_owner")(self._consume)
        faust_app.task(self._end_idle_batches)
        if settings.early_message_window > 0:
            sweep_every = max(1.0, settings.early_message_window / 4)
            faust_app.timer(sweep_every, name="dagger_sweep_early_messages")(self._sweep_held)
        self._tasks_topic_name = settings.tasks_topic
        self._tick = TickSchedule(settings.trigger_interval, settings.clock)
        self.commit_error: str | None = None
        """Why the last batch commit failed while it is being tried again, else None."""
        self._telemetry = settings.telemetry
        self.commit_failures = 0
        """How many batch commits failed (and were tried again) since the worker started."""
        faust_app.task(self._tick_timers)
        faust_app.task(self._tick_schedules)
        if settings.intake_topic and starter is not None:
            self._add_intake(settings, starter)

    async def _tick_timers(self) -> None:
        """Fire the due timers as they fall due (see :mod:`dagger.runtime._tick`)."""
        while not self._app.should_stop:
            await self.fire_due()
            if faust_internals.partitions_settling(self._app):
                # The timers load once the partitions are settled: look again soon.
                await self._tick.sleep(self._clock() + PARTITIONS_SETTLING_POLL)
            else:
                await self._tick.sleep(self.timers.earliest_due())

    async def fire_due(self) -> int:
        """Fire the due timers of the partitions this worker owns; return how many."""
        app = self._app
        if faust_internals.partitions_settling(app):
            return 0
        owned = self.owned_partitions()
        generation = faust_internals.rebalance_generation(app)
        if generation != self._timers_generation or owned != self.timers.partitions():
            for partition in self.timers.partitions() - owned:
                self.timers.drop(partition)
            loaded = self.timers.load(owned)
            self._timers_generation = generation
            logger.info(
                "Partitions owned of the engine topic %s: %s (%s timers loaded)",
                self._tasks_topic_name,
                ", ".join(map(str, sorted(owned))) or "none",
                loaded,
            )
        due = self.timers.pop_due_across(owned, self._clock(), self._max_timers_per_tick)
        for partition, timer in due:
            await self._append(timer.fired(), timer.instance_id, partition)
        return len(due)

    def add_schedule(self, schedule: Schedule) -> None:
        """Release ``schedule``'s workflow on its cron (before the worker starts).

        The schedules' tables are made with the first schedule: an engine without one
        opens no database for them.
        """
        if not self.schedules:
            self.schedule_owner.use_stores(
                self._table(
                    "dagger_schedules", self._partitions, "Schedules' last release.", "schedules"
                ),
                self._table(
                    "dagger_releases", self._partitions, "The release audit by key.", "releases"
                ),
            )
        self.schedules[schedule.workflow] = schedule

    async def _tick_schedules(self) -> None:
        """Ask the owner of each due schedule to release it (see ``_schedules``)."""
        if not self.schedules:
            return  # schedules are added before the worker starts
        while not self._app.should_stop:
            delay = PARTITIONS_SETTLING_POLL
            if not faust_internals.partitions_settling(self._app):
                try:
                    delay = await self._ask_due_schedules()
                except Exception:
                    # One bad look (a store read failing) must not end the schedules.
                    logger.exception("could not look at the schedules; trying again")
            await asyncio.sleep(delay)

    async def _ask_due_schedules(self) -> float:
        """Append the events of the due schedules; how long to sleep until the next look."""
        owned = self.owned_partitions()
        now = self._clock()
        for partition, event in self.schedule_owner.due(owned, now):
            await self._append(event, event.workflow, partition)
        next_due = self.schedule_owner.next_due(owned, now)
        # An overdue schedule waits for its event: look again soon, not at once.
        return max(SCHEDULE_TICK_GAP, self._tick.delay(next_due))

    async def _sweep_held(self) -> None:
        """Ask each owned partition to drop its expired early messages."""
        for partition in sorted(self.owned_partitions()):
            sweep = HeldMessagesSwept(str(uuid.uuid4()), self._clock())
            await self._append(sweep, "sweep", partition)

    def owned_partitions(self) -> frozenset[int]:
        """The engine-topic partitions this worker owns now (actively, not as standby)."""
        return faust_internals.owned_partitions(self._app, self._tasks_topic_name)

    def _table(self, name: str, partitions: int, help_text: str, role: str) -> StagedStore:
        rank = COMMIT_RANKS[role]
        if self._aerospike is not None:
            return self._staging.stage(self._aerospike.store(name), rank=rank)
        table = self._app.Table(
            name,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            help=help_text,
            options=dict(self._rocksdb_options),
        )
        return self._staging.stage(
            LoggedTable(self._app, table),
            capture=faust_internals.current_event,
            within=faust_internals.as_current_event,
            rank=rank,
        )

    # -- sending -----------------------------------------------------------------------
    async def send(self, event: LogEvent, *, key: str, partition: int, wait: bool = True) -> None:
        """Append ``event`` to ``partition``; with ``wait``, until the broker has it.

        Without ``wait`` the record is only buffered, for a caller that handles a consumed
        record: faust flushes the producer before it commits that record's offset, so the
        event is on the broker before its cause counts as done, and a crash before then
        reads the cause again. A record the broker then refuses is logged at ERROR.
        """
        sent = await self._produce(event, key, partition)
        if wait:
            await sent
        else:
            asyncio.ensure_future(sent).add_done_callback(
                functools.partial(_log_refused, event, partition)
            )

    async def _append(self, event: LogEvent, key: str, partition: int) -> None:
        # Buffered: faust flushes the producer before it commits the consumed offset.
        await self._produce(event, key, partition)

    async def _produce(self, event: LogEvent, key: str, partition: int) -> Any:
        return await self._records.send(
            key=key.encode(), value=encode_event(event), partition=partition
        )

    async def _flush_producer(self) -> None:
        await self._app.producer.flush()

    async def _send_dead_letter(self, key: bytes, value: bytes) -> None:
        await self._dead_letter_records.send(key=key, value=value)

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

    def _add_intake(self, settings: EngineSettings, starter: InstanceStarter) -> None:
        """The intake topic's agent: each JSON record starts an instance."""
        intake = InstanceIntake(
            starter=starter,
            lookup=self.owner.load,
            dead_letters=self.dead_letters,
            message_id_header=settings.message_id_header,
        )
        topic = self._app.topic(
            settings.intake_topic,
            partitions=settings.kafka_partitions,
            internal=True,
            key_serializer="raw",
            value_serializer="raw",
        )

        async def take_records(stream: Any) -> None:
            async for event in stream.events():
                await intake.take(event.value, _origin(event.message), event.message.headers)

        self._app.agent(topic, name="dagger_intake")(take_records)

    # -- the engine topic ----------------------------------------------------------------
    async def _consume(self, stream: Any) -> None:
        # Records are acked by hand, once the batch they belong to is committed. A record
        # that waits (a hook that awaits, see _turns) goes on in a task of its own, beside
        # the next records; the others are applied before start returns. A batch ends
        # when the consumer has nothing more fetched and no hook awaits, at
        # max_events_per_batch, or after MAX_BATCH_SECONDS (slow hooks must not hold
        # every result back), once all its records are applied: a busy
        # engine commits big batches and an idle one answers at once. A batch left open
        # while no record comes (faust empties the agents' queues when partitions are
        # revoked) is ended by _end_idle_batches, so nothing unacked holds a rebalance
        # or a stop.
        manual = stream.noack()
        fetched = faust_internals.fetched_queue(stream)
        self._open_batch = OpenBatch(manual, on_applied=self._batch_applied.set)
        batch = self._open_batch
        try:
            async for event in manual.events():
                async with batch.lock:
                    if not batch.events:
                        batch.started = time.monotonic()
                        self._forget_decoded_after_rebalance()
                    batch.events.append(event)
                    with faust_internals.as_current_event(event):
                        waiting = await self._turns.start(self._apply(event))
                    if waiting is not None:
                        batch.track(waiting)
                    if (
                        (fetched.empty() and not batch.busy())
                        or len(batch.events) >= self._max_events_per_batch
                        or batch.age() >= MAX_BATCH_SECONDS
                    ):
                        await self._close(batch)
        except BaseException:
            # The batch was not acked: whoever owns its partitions next applies it again.
            await batch.cancel()
            batch.events.clear()
            self._staging.discard()
            self.owner.abandon_batch()
            raise
        finally:
            if self._open_batch is batch:
                self._open_batch = None

    def _forget_decoded_after_rebalance(self) -> None:
        """Drop the owner's decoded instances if a rebalance came since the last batch.

        A partition this worker lost and got back may have been changed by another owner
        meanwhile, and its table recovered from the changelog: only the store says what
        it holds now.
        """
        generation = faust_internals.rebalance_generation(self._app)
        if generation != self._decoded_generation:
            self._decoded_generation = generation
            self.owner.forget_decoded()

    async def _close(self, batch: OpenBatch) -> None:
        """Commit ``batch`` and ack its records (its lock held), once all are applied."""
        await batch.applied()
        await self._end_batch()
        for done in batch.events:
            await batch.stream.ack(done)
        batch.events.clear()

    async def _end_idle_batches(self) -> None:
        """End a batch whose agent waits for a record that does not come."""
        while not self._app.should_stop:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_applied.wait(), IDLE_BATCH_SECONDS)
            self._batch_applied.clear()
            await self.end_idle_batch()

    async def end_idle_batch(self) -> bool:
        """Commit and ack the open batch unless its agent is starting a record.

        A batch whose hooks still await is left to them until it is MAX_BATCH_SECONDS
        old, so the records that come meanwhile join it.
        """
        batch = self._open_batch
        if batch is None or not batch.events or batch.lock.locked():
            return False
        if batch.busy() and batch.age() < MAX_BATCH_SECONDS:
            return False
        async with batch.lock:
            if not batch.events:
                return False
            await self._close(batch)
        return True

    async def _apply(self, event: Any) -> None:
        message = event.message
        try:
            await self.dispatcher.handle(event.value, message.partition)
        except MalformedEvent as exc:
            await self.dead_letters.publish(
                MALFORMED_ENGINE_EVENT, exc, _origin(message), event.value
            )
        except UndecodableInstanceError as exc:
            # Reinjected (dagger dlq reinject) once the class is back or aliased, the event
            # is applied then: the instance was left as stored.
            await self.dead_letters.publish(
                UNDECODABLE_INSTANCE, exc, _origin(message), event.value, message.key
            )
        except Exception as exc:
            # One record must not stop the partition's agent.
            logger.exception("could not apply the record at %s", _origin(message))
            await self.dead_letters.publish(ENGINE_ERROR, exc, _origin(message), event.value)

    async def _end_batch(self) -> None:
        """Put the batch's sends on the broker, then its writes in the tables.

        A commit that fails (a store write raising, the producer refusing a record) is
        tried again, backing off up to ``COMMIT_RETRY_MAX_SECONDS``, until it succeeds or
        the worker stops: the batch is never skipped nor acked before it is stored. While
        it fails, :attr:`commit_error` says why and the worker is not ready.
        """
        delay = COMMIT_RETRY_FIRST_SECONDS
        # The updates go out with the batch's other sends, in the flush before the writes.
        await self.owner.send_updates()
        while True:
            try:
                await self._staging.commit()
                break
            except Exception as exc:
                if self._app.should_stop:
                    raise
                self.commit_failures += 1
                self.commit_error = f"{type(exc).__name__}: {exc}"
                report_commit_failure(self._telemetry, type(exc).__name__)
                logger.error(
                    "could not commit a batch (%s); trying again in %.1f s",
                    self.commit_error,
                    delay,
                    exc_info=self.commit_failures == 1,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, COMMIT_RETRY_MAX_SECONDS)
        self.commit_error = None
        await self.owner.end_batch()
        self._tick.timer_scheduled(self.timers.earliest_due())


@dataclass
class OpenBatch:
    """The engine topic's records applied and not yet acked, and who may close them."""

    stream: Any
    events: list[Any] = field(default_factory=list)
    started: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    on_applied: Callable[[], None] = lambda: None
    """Called when the last record being applied is done."""
    applying: list[asyncio.Task[None]] = field(default_factory=list)
    """The tasks applying the records (their hooks may still await)."""
    _pending: int = 0

    def track(self, applying: asyncio.Task[None]) -> None:
        """Count ``applying`` in the batch until it is done."""
        self.applying.append(applying)
        self._pending += 1
        applying.add_done_callback(self._done)

    def _done(self, applied: asyncio.Task[None]) -> None:
        self._pending -= 1
        if not self._pending:
            self.on_applied()

    def busy(self) -> bool:
        """True while a record's hook still awaits."""
        return self._pending > 0

    def age(self) -> float:
        """Seconds since the batch's first record."""
        return time.monotonic() - self.started

    async def applied(self) -> None:
        """Wait until every record is applied; raise what the first that failed raised."""
        applying, self.applying = self.applying, []
        outcomes = await asyncio.gather(*applying, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def cancel(self) -> None:
        """Stop applying the records: the batch is abandoned."""
        applying, self.applying = self.applying, []
        for task in applying:
            task.cancel()
        await asyncio.gather(*applying, return_exceptions=True)


def _origin(message: Any) -> dict[str, Any]:
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}


def _log_refused(event: LogEvent, partition: int, sent: asyncio.Future[Any]) -> None:
    """Log a buffered engine record the broker refused (nothing else would see it)."""
    if sent.cancelled() or sent.exception() is None:
        return
    logger.error(
        "the broker refused %s for instance %s on partition %s: %r",
        type(event).__name__,
        getattr(event, "instance_id", "?"),
        partition,
        sent.exception(),
    )
