"""Every use the engine makes of faust's, aiokafka's and mode's private or undocumented parts.

faust (and the aiokafka consumer under it) offers no public way to know which partitions a
worker owns, whether its tables have recovered, or to correct its consumer; the engine
needs all three. Each such use is here, with the reason it is needed, so that an upgrade
is checked in one module; ``tests/unit/test_faust_internals.py`` fails when an
installed version no longer has what this module relies on.

Every function and class below was checked against faust-streaming 0.15.3 / aiokafka
0.14.0 / mode-streaming 0.7.1 (:data:`CHECKED_AGAINST`, the pins in ``pyproject.toml``).

It sits outside the layers (``dagger/_faust_internals.py``, importing no other dagger
module, which the import contract checks), so the core's instance codec, the serializers
and the runtime all reach faust's private parts through it.

The engine's faust app, :class:`EngineFaustApp`, is here too, because its three
corrections to faust's Kafka consumer are made of faust internals:

1. faust hard-codes aiokafka's ``fetch_max_wait_ms`` to 1,500 ms. A broker answers a
   long-poll fetch when data arrives or the wait ends, and a workflow step crosses several
   hops, so the engine sets the wait from its settings instead.
2. While partitions are being assigned, faust drops records it already fetched and counts
   on "seek to committed offsets" to read them again; aiokafka skips that seek for a
   partition with no committed offset (or offset 0), so a group that never committed (a
   worker killed before its first commit) lost those records for good. With
   ``consumer_auto_offset_reset="earliest"`` such partitions are rewound to the beginning.
3. After a table recovery faust resumes the stream partitions, seeks them to their
   committed offsets, then clears the agents' queues (``flow_control.resume()``) and
   resumes the flow. The flow is already running then (faust resumed it to read the
   changelogs), so while the seek waits, the consumer hands out records it fetched before
   the seek and sets its read offsets past them. The records still queued are cleared, and
   when the partition is read again from the committed offset faust skips them as already
   read: they were lost (the recovery benchmark lost a few dozen engine events per
   restart). The engine's consumer stops the flow before it seeks and hands out nothing
   fetched before the seek; faust resumes the flow right after clearing the queues.

The engine's app also recovers its tables with two corrections of faust's recovery:

4. At the end of a recovery faust resumes the standby changelog partitions and then, in
   ``on_recovery_completed``, seeks the stream partitions and clears the queues: the
   standby records fetched in between were dropped (by the stopped flow, or with the
   changelog queue faust clears on resume) while the consumer's position moved past them,
   and faust seeks a standby partition only at the next rebalance, from its persisted
   offset. Standby reading went on after the gap and persisted the offsets beyond it, so
   when that partition later became active here, recovery started at the persisted offset
   (the highwater) and read nothing: the records in the gap were lost for good (in a
   two-worker takeover, instances written before the second worker joined). The
   engine's recovery pauses the standby partitions for the end of the recovery, skips
   what the consumer still hands out for them, then seeks them back to the last record it
   took and resumes them.
5. The recovery checks itself: a changelog partition whose records it took jump over
   offsets across a stop of the consumer's flow (when fetched records are dropped) may
   have lost the records in between. Its persisted offset is then held at the last
   record before the jump, so the next recovery (a rebalance, a takeover, a restart)
   reads again from there instead of trusting an offset that covers records never
   applied. A jump without a stop in between (a compacted changelog) is left alone.

Two more cut a worker's start, which the chaos suite's kill loop measures
(``bench/chaos.py``): faust's table manager sleeps 1 s at start so that tables defined
late are registered (the engine defines its tables with the app), and faust's rocksdb
store runs a full ``gc.collect()`` for each table at each assignment, even when it closed
no database (a few tenths of a second each in a worker's heap, 4 tables: 1-2 s before
recovery starts). :class:`EngineTableManager` starts without the sleep and
:func:`collect_only_after_closing` makes the store collect only when it closed one (what
the collection is for: releasing the closed databases' locks).

Not here: the Tansu end-offset correction, a patch of aiokafka's ``Fetcher`` that is all
its module :mod:`dagger.broker._tansu_compat` does (a development and test aid for the
embedded broker's bug); the test of this module checks what it relies on too.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import faust
from aiokafka.protocol.metadata import MetadataRequest
from faust.models.fields import FieldDescriptor
from faust.serializers import codecs
from faust.streams import _current_event, current_event
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.tables.table import Table
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import ThrowableQueue

__all__ = [
    "CHECKED_AGAINST",
    "PRODUCER_BUFFER_LOGGER",
    "EngineFaustApp",
    "EngineTableManager",
    "as_current_event",
    "bare_record",
    "broker_cluster_id",
    "codec_registered",
    "collect_only_after_closing",
    "current_event",
    "fetched_queue",
    "group_member_urls",
    "owned_partitions",
    "partitions_settling",
    "plain_record_fields",
    "producer_buffer_full_size",
    "rebalance_generation",
    "record_defaults",
    "record_fields",
    "record_optional_fields",
    "record_validates",
    "recovery_completed",
    "without_spinner",
]

logger = logging.getLogger(__name__)

# How long the worker waits for the broker to say its cluster id, once, at connect time.
_CLUSTER_ID_TIMEOUT = 5.0

CHECKED_AGAINST = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}
"""The versions every use below was checked against (and pinned in ``pyproject.toml``)."""


# -- what this worker owns, and whether it is settled ----------------------------------
def record_fields(cls: type[faust.Record]) -> Mapping[str, Any]:
    """The fields of a record class, by name.

    Why: the instance codec stores only the fields that differ from their defaults and
    faust lists a record's fields in the private ``_options.fields``. Checked against
    faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    fields: Mapping[str, Any] = cls._options.fields
    return fields


def record_defaults(cls: type[faust.Record]) -> Mapping[str, Any]:
    """The default of each field of a record class that has one.

    Why: the codec leaves defaults out of a stored instance; faust keeps them in
    ``_options.defaults``. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    defaults: Mapping[str, Any] = cls._options.defaults
    return defaults


def record_optional_fields(cls: type[faust.Record]) -> frozenset[str]:
    """The fields with a default, which faust's ``__init__`` gives that default for None.

    Why: building a task without ``__init__`` must do the same; faust keeps them in
    ``_options.optionalset``. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    return frozenset(cls._options.optionalset)


def record_validates(cls: type[faust.Record]) -> bool:
    """True when the record class was declared with ``validation=True``.

    Why: such records must go through ``__init__``; faust keeps the flag in
    ``_options.validation``. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return bool(cls._options.validation)


def plain_record_fields(cls: type[faust.Record]) -> frozenset[str]:
    """The fields whose descriptor stores a value as given: no tag and no coercion on set.

    Why: decoding is on the path of every engine event, so the codec sets such fields in
    the record's ``__dict__`` instead of a descriptor call per field; faust's
    ``FieldDescriptor.__set__`` changes a value only through ``prepare_value``, for a
    tagged or coercing descriptor (``_options.descriptors``). Checked against
    faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return frozenset(
        name
        for name, descriptor in cls._options.descriptors.items()
        if not getattr(descriptor, "tag", None)
        and (
            type(descriptor).prepare_value is FieldDescriptor.prepare_value
            or not getattr(descriptor, "coerce", True)
        )
    )


RecordT = TypeVar("RecordT", bound=faust.Record)


def bare_record(cls: type[RecordT]) -> tuple[RecordT, dict[str, Any]]:
    """A record of ``cls`` made without ``__init__``, and the dict its fields live in.

    Why: see :func:`plain_record_fields`; faust's generated ``__init__`` keeps the lazily
    coerced fields it evaluated in ``__evaluated_fields__``, empty for a new record.
    Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    record = cls.__new__(cls)
    values: dict[str, Any] = record.__dict__
    values["__evaluated_fields__"] = set()
    return record, values


def codec_registered(name: str) -> bool:
    """True when faust's codec registry has a codec named ``name``.

    Why: the raw-value codec is registered once, and faust's ``codecs.register`` does not
    say whether a name is taken; the registry is the module's ``codecs`` dict. Checked
    against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return name in codecs.codecs


# -- what this worker owns, and whether it is settled ----------------------------------


def owned_partitions(app: Any, topic: str) -> frozenset[int]:
    """The partitions of ``topic`` assigned (actively, not as standby) to this worker.

    Why: faust has no public "what do I own"; its assignor's ``assigned_actives()`` is
    what its own agents and tables use. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


def group_member_urls(app: Any) -> list[str]:
    """The ``canonical_url`` of every member of the app's consumer group (this one too).

    Why: the assignor's ``tables_metadata()`` is where faust keeps the members' URLs it
    exchanged in the group assignment; there is no public accessor. Checked against
    faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return [str(url) for url in app.assignor.tables_metadata()]


def partitions_settling(app: Any) -> bool:
    """True while the app's partitions are being rebalanced or its tables recovered.

    Why: ``App.rebalancing`` and ``App.in_recovery`` are plain attributes faust sets, not
    a documented API. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    return bool(app.rebalancing or app.in_recovery)


def rebalance_generation(app: Any) -> int:
    """A number that changes at each rebalance of the app's group.

    Why: faust counts rebalances in the undocumented ``App.rebalancing_count``, for its
    sensors; the timer index reloads when it changes. Checked against faust-streaming
    0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return int(app.rebalancing_count)


def recovery_completed(app: Any) -> bool:
    """True once the app's tables have recovered from their changelogs the first time.

    Why: only the private ``app.tables.recovery.completed`` event says so. Checked
    against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return bool(app.tables.recovery.completed.is_set())


# -- streams and events ----------------------------------------------------------------
def fetched_queue(stream: Any) -> Any:
    """The queue of records fetched for ``stream``'s agent and not yet handed to it.

    Why: a batch ends when nothing more is fetched, and only the stream's channel queue
    (``stream.channel.queue``, undocumented) tells. Checked against faust-streaming
    0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    return stream.channel.queue


@contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make ``event`` faust's current event: a table write goes to its partition.

    Why: faust sets its private ``_current_event`` context variable only while an agent
    iterates a stream; the engine applies records (and commits a batch's writes) outside
    that iteration. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    token = _current_event.set(None if event is None else weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


# -- the broker ------------------------------------------------------------------------
async def broker_cluster_id(consumer: Any) -> str | None:
    """The cluster id of the broker ``consumer`` (a started ``AIOKafkaConsumer``) talks to.

    None when the broker does not say (a Metadata version before 2) or does not answer.

    Why: the embedded broker is recognised by its cluster id, and aiokafka reads it in
    every Metadata response but keeps none of it: ``ClusterMetadata`` drops it. One more
    Metadata request (no topics) through the consumer's private ``_client``, to a node
    from ``get_random_node()``, asks for it with the consumer's own connection settings.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    client = consumer._client
    try:
        node_id = client.get_random_node()
        if node_id is None:
            return None
        response = await asyncio.wait_for(
            client.send(node_id, MetadataRequest([])), _CLUSTER_ID_TIMEOUT
        )
    except Exception as exc:
        logger.debug("The broker's cluster id could not be read: %r", exc)
        return None
    cluster_id = getattr(response, "cluster_id", None)
    return cluster_id if isinstance(cluster_id, str) else None


PRODUCER_BUFFER_LOGGER = "faust.transport.producer"
"""The logger faust's ``ProducerBuffer`` says it is full on."""

_BUFFER_FULL = re.compile(r"producer buffer full size (\d+)")


def producer_buffer_full_size(record: logging.LogRecord) -> int | None:
    """The size in faust's "producer buffer full" warning ``record``, or None for another.

    Why: faust says its producer buffer is full only in a terse warning,
    ``f"producer buffer full size {size}"`` from ``ProducerBuffer.wait_until_ebb``, on the
    ``faust.transport.producer`` logger; the worker rewrites it into a line that says what
    it means. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """
    if record.name != PRODUCER_BUFFER_LOGGER or record.levelno < logging.WARNING:
        return None
    matched = _BUFFER_FULL.fullmatch(str(record.msg))
    return int(matched.group(1)) if matched else None


# -- the worker ------------------------------------------------------------------------
def without_spinner(worker: Any) -> None:
    """Keep ``worker`` (a ``faust.Worker``) from starting its start-up spinner.

    Why: faust's spinner lowers the root logger to DEBUG so that every record can turn
    it; each debug call of faust, aiokafka and the engine then builds a record that no
    handler wants, which cost about a tenth of a busy worker's CPU. Only the worker's
    ``spinner`` attribute turns it off. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    worker.spinner = None


# -- the engine's faust app and its consumer -------------------------------------------
class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread with corrections 1 and 2 (see the module).

    It also reads the broker's cluster id once it has connected (see
    :func:`broker_cluster_id`), for the app's ``broker_identified`` listeners.

    Why: ``_create_worker_consumer``, ``_ensure_consumer``, ``call_thread``, the thread's
    ``on_start`` and aiokafka's ``_fetch_max_wait_ms`` are private; they are where faust
    builds and drives the consumer. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        app = self.app
        if isinstance(app, EngineFaustApp):
            consumer._fetch_max_wait_ms = app.consumer_fetch_max_wait_ms
        return consumer

    async def on_start(self) -> None:
        """Start the consumer, then tell the app's ``broker_identified`` the cluster id.

        faust's consumer waits for this before it subscribes, so a listener acts before
        the consumer first asks for an offset.
        """
        await super().on_start()
        app = self.app
        if isinstance(app, EngineFaustApp) and app.broker_identified:
            cluster_id = await broker_cluster_id(self._ensure_consumer())
            for listener in app.broker_identified:
                listener(cluster_id)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        result: Mapping[Any, int] = await self.call_thread(self._seek_to_committed_or_start)
        return result

    async def _seek_to_committed_or_start(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[Any, int] = await consumer.seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset != "earliest":
            return committed
        acks_enabled_for = self.app.topics.acks_enabled_for
        uncommitted = [
            tp
            for tp, offset in committed.items()
            if (offset is None or offset <= 0) and acks_enabled_for(tp.topic)
        ]
        if uncommitted:
            await consumer.seek_to_beginning(*uncommitted)
        return committed


class _Consumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer with correction 3 (see the module), telling correction 5
    when its flow stops.

    Why: ``_new_consumer_thread``, ``getmany``, ``perform_seek`` and ``stop_flow`` are
    faust's undocumented consumer internals; the lost records happen between them.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Cleared while a record handed out by getmany is being put in the agents' queues.
        self._handed_back = asyncio.Event()
        self._handed_back.set()

    def stop_flow(self) -> None:
        """faust's stop of the flow, which drops fetched records: tell the recovery's check."""
        continuity = _continuity(self.app)
        if continuity is not None:
            continuity.flow_stopped()
        super().stop_flow()

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """faust's getmany, noting while a record it handed out is being queued."""
        async for tp, message in super().getmany(timeout):
            self._handed_back.clear()
            try:
                yield tp, message
            finally:
                # The caller has queued the record and set its read offset.
                self._handed_back.set()

    async def perform_seek(self) -> None:
        """Seek to the committed offsets with the flow stopped, and leave it stopped.

        Stopping the flow makes getmany drop the rest of what it fetched; the record being
        queued is waited for, so its read offset is set before the seek resets the read
        offsets. Every caller resumes the flow itself: faust's recovery clears the queues
        and resumes it right after the seek, and getmany seeks only while it is stopped.
        """
        self.stop_flow()
        await self._handed_back.wait()
        await super().perform_seek()


class _Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with the engine's consumer.

    Why: the transport's ``Consumer`` class attribute is how faust picks its consumer.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    Consumer = _Consumer


# A standby's "last offset taken" while its partitions are held: faust's recovery takes a
# changelog record only when its offset is above that, so every record is skipped.
_SKIP_EVERY_RECORD = sys.maxsize


class _ChangelogContinuity:
    """Which changelog partitions may have records skipped, and from where to read them again.

    Correction 5. The recovery takes a partition's records in offset order. Between two
    records it takes with no seek in between, offsets jump over records only where the
    broker has none (compaction) or where the consumer dropped fetched records, which it
    does only while its flow is stopped. A jump across such a stop makes the partition
    *suspect*: every record up to the one before the jump was applied, not necessarily
    those after (:meth:`applied_up_to`). A seek back to there or below clears it.
    """

    def __init__(self) -> None:
        self._last: dict[Any, int] = {}
        self._stopped_since: set[Any] = set()
        self._suspect: dict[Any, int] = {}

    def flow_stopped(self) -> None:
        """Records fetched for any partition may have been dropped just now."""
        self._stopped_since.update(self._last)

    def sought(self, tp: Any, offset: int) -> None:
        """``tp`` is read again after ``offset``, the last offset taken (-1: none)."""
        self._last[tp] = offset
        self._stopped_since.discard(tp)
        suspect_from = self._suspect.get(tp)
        if suspect_from is not None and offset <= suspect_from:
            del self._suspect[tp]

    def taken(self, tp: Any, offset: int) -> None:
        """The recovery took the record of ``tp`` at ``offset`` (to apply it)."""
        last = self._last.get(tp)
        if (
            last is not None
            and offset > last + 1
            and tp in self._stopped_since
            and tp not in self._suspect
        ):
            self._suspect[tp] = last
            logger.error(
                "Changelog %s[%s]: the recovery took offset %s after %s across a stop of "
                "the consumer's flow; records in between may be missing, so they will be "
                "read again from offset %s at the next recovery",
                tp.topic, tp.partition, offset, last, last,
            )  # fmt: skip
        self._last[tp] = offset
        self._stopped_since.discard(tp)

    def applied_up_to(self, tp: Any) -> int | None:
        """For a suspect ``tp``, the last offset known applied (to persist); else None."""
        return self._suspect.get(tp)

    @property
    def suspect(self) -> Mapping[Any, int]:
        """The suspect partitions, each with the last offset known applied."""
        return dict(self._suspect)


class _Recovery(Recovery):
    """faust's table recovery with correction 4, and the seeks correction 5 hears of.

    Why: ``on_recovery_completed``, ``_seek_offsets``, ``standby_tps`` and
    ``standby_offsets`` (the offset of the last record taken per standby partition, above
    which the recovery takes records) are faust's undocumented recovery internals; the
    consumer's ``pause_partitions``, ``resume_partitions`` and ``seek_wait`` are what
    faust's own recovery seeks with.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.continuity = _ChangelogContinuity()

    async def _seek_offsets(self, consumer: Any, tps: Any, offsets: Any, title: str) -> None:
        await super()._seek_offsets(consumer, tps, offsets, title)
        for tp in tps:
            self.continuity.sought(tp, offsets[tp])

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """faust's end of recovery, with the standby partitions read on from where they were."""
        standbys = frozenset(self.standby_tps)
        if not standbys:
            await super().on_recovery_completed(generation_id)
            return
        consumer = self.app.consumer
        offsets = self.standby_offsets
        consumer.pause_partitions(standbys)
        taken = {tp: offsets.get(tp) for tp in standbys}
        # Records of these partitions still on their way are dropped or cleared below,
        # perhaps after later ones were taken: take none of them, and read them all again.
        for tp in standbys:  # (a Counter: its update() would add)
            offsets[tp] = _SKIP_EVERY_RECORD
        try:
            await super().on_recovery_completed(generation_id)
        finally:
            for tp in standbys:
                if offsets.get(tp) == _SKIP_EVERY_RECORD:  # not reset by a new rebalance
                    offsets[tp] = taken[tp]  # type: ignore[assignment]
        if self.app.consumer_generation_id != generation_id:
            return  # the recovery of the next rebalance seeks them
        # As faust's own seek of the standbys: to the last record taken (-1: none yet).
        await consumer.seek_wait({tp: max(offset or 0, 0) for tp, offset in taken.items()})
        for tp, offset in taken.items():
            self.continuity.sought(tp, -1 if offset is None else offset)
        consumer.resume_partitions(standbys)
        logger.debug("Standby changelog partitions read on from %s", taken)


def _continuity(app: Any) -> _ChangelogContinuity | None:
    recovery = getattr(app.tables, "_recovery", None)
    return recovery.continuity if isinstance(recovery, _Recovery) else None


class _Table(Table):  # type: ignore[type-arg]
    """faust's table, telling the recovery's continuity check what it applies (correction 5).

    Why: the recovery calls the table's ``on_changelog_event`` for each changelog record
    it takes, and the store's ``set_persisted_offset`` is written by the table's
    ``apply_changelog_batch`` (recovery) and ``_on_changelog_sent`` (own writes), all
    undocumented. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """

    async def on_changelog_event(self, event: Any) -> None:
        """Note the record the recovery took, then faust's own handling."""
        continuity = _continuity(self.app)
        if continuity is not None:
            continuity.taken(event.message.tp, event.message.offset)
        await super().on_changelog_event(event)

    def apply_changelog_batch(self, batch: Any) -> None:
        """faust's apply, with the persisted offset of a suspect partition held back."""
        batch = list(batch)
        super().apply_changelog_batch(batch)
        self._hold_back({event.message.tp for event in batch})

    def _on_changelog_sent(self, fut: Any) -> None:
        super()._on_changelog_sent(fut)
        self._hold_back({fut.result().topic_partition})

    def _hold_back(self, tps: set[Any]) -> None:
        continuity = _continuity(self.app)
        if continuity is None:
            return
        for tp in tps:
            applied = continuity.applied_up_to(tp)
            if applied is not None:
                self.data.set_persisted_offset(tp, applied)


class _ChangelogQueue(ThrowableQueue):  # type: ignore[type-arg]
    """The queue of changelog records, telling the continuity check when it is cleared.

    Why: faust clears it (``clear``, by mode's flow control on resume) and so drops the
    records in it. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, on_clear: Callable[[], None], **kwargs: Any) -> None:
        self._on_clear = on_clear
        super().__init__(*args, **kwargs)

    def clear(self) -> None:
        """Drop the queued records (after saying so)."""
        if not self.empty():
            self._on_clear()
        super().clear()


class EngineTableManager(TableManager):
    """faust's table manager, with the engine's :class:`_Recovery` and changelog queue,
    and without its 1 s sleep at start.

    Why: the manager builds its recovery service in its ``recovery`` property and its
    changelog queue in ``changelog_queue``, caching them in the private ``_recovery`` and
    ``_changelog_queue``. Its ``on_start`` sleeps 1 s before it registers the tables'
    changelog channels, so that tables defined while the app starts are in; the engine
    defines its tables with the app, and every worker start (a restart after a crash
    too) waited that second for nothing. The rest of ``on_start`` is faust's. Checked
    against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    async def on_start(self) -> None:
        """Register the changelog channels and start recovery at once."""
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()

    @property
    def recovery(self) -> Recovery:
        """The recovery service of the engine's tables (:class:`_Recovery`)."""
        if self._recovery is None:
            self._recovery = _Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery

    @property
    def changelog_queue(self) -> ThrowableQueue:  # type: ignore[type-arg]
        """faust's changelog queue, as a :class:`_ChangelogQueue`."""
        if self._changelog_queue is None:
            self._changelog_queue = _ChangelogQueue(
                maxsize=self.app.conf.stream_buffer_maxsize,
                flow_control=self.app.flow_control,
                clear_on_resume=True,
                on_clear=self._records_dropped,
            )
        return self._changelog_queue

    def _records_dropped(self) -> None:
        recovery = self._recovery
        if isinstance(recovery, _Recovery):
            recovery.continuity.flow_stopped()


def collect_only_after_closing(store_class: Any) -> None:
    """Make ``store_class.revoke_partitions`` collect garbage only when it closed a database.

    Why: faust's rocksdb ``Store.revoke_partitions`` drops the databases of the revoked
    partitions and then always runs ``gc.collect()``, so that the dropped handles release
    their locks; it is called for every table at every assignment, with nothing to
    revoke at a worker's start. This keeps faust's body (pop each revoked partition's
    database from the private ``_dbs``) and collects only when one was dropped. Idempotent.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """
    original = store_class.revoke_partitions
    if hasattr(original, "faust_original"):
        return

    def revoke_partitions(self: Any, table: Any, tps: Any) -> None:
        closed = False
        for tp in tps:
            if tp.topic in table.changelog_topic.topics:
                db = self._dbs.pop(tp.partition, None)
                if db is not None:
                    self.logger.info(f"closing db {tp.topic} partition {tp.partition}")
                    closed = True
        if closed:
            gc.collect()

    revoke_partitions.faust_original = original  # type: ignore[attr-defined]
    store_class.revoke_partitions = revoke_partitions


class EngineFaustApp(faust.App):
    """A faust app whose Kafka consumer waits at most ``consumer_fetch_max_wait`` seconds.

    ``webserver_installers`` are called with faust's web server as it starts, before it
    serves: the engine adds its HTTP API there. ``broker_identified`` are called with the
    broker's cluster id (or None) once the consumer has connected, in the consumer's
    thread, before it reads a record.

    Its tables are :class:`_Table` and recover through :class:`EngineTableManager`
    (corrections 4 and 5), through faust's documented ``Table`` and ``TableManager``
    settings, unless the caller names others.

    Why here: it chooses its transport through faust's private ``_new_transport``.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, consumer_fetch_max_wait: float, **kwargs: Any) -> None:
        self.consumer_fetch_max_wait_ms = max(1, round(consumer_fetch_max_wait * 1000))
        self.webserver_installers: list[Callable[[Any], None]] = []
        self.broker_identified: list[Callable[[str | None], None]] = []
        kwargs.setdefault("TableManager", EngineTableManager)
        kwargs.setdefault("Table", _Table)
        if str(kwargs.get("store", "")).startswith("rocksdb:"):
            from faust.stores import rocksdb  # loads rocksdict: only for a rocksdb:// app

            collect_only_after_closing(rocksdb.Store)
        super().__init__(*args, **kwargs)

    def on_webserver_init(self, web: Any) -> None:
        """Run the ``webserver_installers`` on the web server that is starting."""
        super().on_webserver_init(web)
        for install in self.webserver_installers:
            install(web)

    def _new_transport(self) -> Any:
        url = self.conf.broker_consumer[0]
        if url.scheme in ("kafka", "aiokafka"):
            return _Transport(self.conf.broker_consumer, self)
        return super()._new_transport()
