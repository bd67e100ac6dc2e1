"""The engine's table recovery: corrections 4 and 5, and fewer garbage collections at start.

Part of :mod:`dagger._faust_internals`; see its docstring for why each use is needed.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from faust.streams import current_event
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.tables.table import Table
from faust.types import TP
from mode.utils.queues import ThrowableQueue

logger = logging.getLogger("dagger._faust_internals")


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

    It also lets the engine write its store and send its changelog records itself
    (:meth:`write_store`, :meth:`changelog_sent`; see :mod:`dagger.runtime._logged_table`).

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

    def write_store(self, key: bytes, value: bytes | None) -> int:
        """Write (None: delete) ``key`` in the store alone; return its changelog partition.

        The engine sends the changelog record itself (:meth:`changelog_sent` then keeps
        the persisted offset), one per key per batch, with the producer: faust's
        ``__setitem__`` sends one through its ``Topic`` layer per write, and writes the
        persisted offset to the store for each. The partition is the current event's,
        as faust's ``partition_for_key`` gives it. Why: ``data`` (the store) and the
        changelog partition are faust's undocumented table internals. Checked against
        faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
        """
        event = current_event()
        if event is None:
            raise RuntimeError(f"table {self.name} written outside an event")
        if value is None:
            del self.data[key]
        else:
            self.data[key] = value
        return int(event.message.partition)

    def changelog_sent(self, partition: int, offset: int) -> None:
        """The broker has the changelog records of ``partition`` up to ``offset``.

        What faust's ``_on_changelog_sent`` does for one record: keep the persisted
        offset (held back where correction 5 says so).
        """
        tp = TP(self.changelog_topic_name, partition)
        if self.app.in_transaction:
            self.app.tables.persist_offset_on_commit(self.data, tp, offset)
        else:
            self.data.set_persisted_offset(tp, offset)
        self._hold_back({tp})

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
    """faust's table manager, with the engine's :class:`_Recovery` and changelog queue.

    Why: the manager builds its recovery service in its ``recovery`` property and its
    changelog queue in ``changelog_queue``, caching them in the private ``_recovery`` and
    ``_changelog_queue``. Its ``on_start`` (with the 1 s sleep that lets tables defined
    while the app starts register) is faust's. Checked against faust-streaming 0.15.3 /
    aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

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
