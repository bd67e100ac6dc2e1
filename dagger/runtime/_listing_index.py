"""The listing index: a summary of each instance of the owned partitions, in listing order.

A page of ``GET /tasks/instances`` used to read the root fields of every stored instance
(about 15 µs each: 15 s a page at a million). The index keeps, per owned partition, the
few fields a listing filters and sorts on, in sorted runs per (status, template), so a
page is a bisection to the cursor and a merge of the runs it selects, and the per-status
counts are the runs' lengths.

It is derived state, never stored, so it cannot disagree with the instances after a
crash: a partition's index is built by one scan of the instance table the first time a
listing needs it after the worker owns the partition, kept up to date by the owner's
writes (fed the fields the owner has in hand, not a parse of the JSON it stores), and
dropped when the partition goes (the listing compares the worker's rebalance generation
on each page). It mirrors what the listing reads, the owner's store with its staged
writes: a write updates it when it is staged, and a batch discarded before its commit
reloads its instances from the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from sortedcontainers import SortedList

from dagger.core import _codec as codec
from dagger.exceptions.exceptions import DaggerError
from dagger.runtime._owner import TOMBSTONE
from dagger.tasks._base import ITemplateDAGInstance

logger = logging.getLogger(__name__)

BUILD_CHUNK = 500
"""Instances read between two yields to the event loop while an index is built."""

_FIELDS = (
    "status",
    "template_name",
    "owner_partition",
    "lastupdated",
    "time_created",
    "partition_key_lookup",
    "runtime_parameters",
)
_READ_ERRORS = (ValueError, KeyError, TypeError, DaggerError)
"""What reading a stored instance's root fields raises when it cannot be read."""
_SCALARS = (str, int, bool, type(None))
"""Parameter types whose ``str()`` is the same before and after a JSON round trip."""


class Summary(NamedTuple):
    """What the listing reads of one stored instance, as the table's scan would read it."""

    partition: int
    status: str
    template: str | None
    """The template name; None when it is not a string (no template filter matches it)."""
    lastupdated: Any
    time_created: Any
    partition_key: str | None
    """The partition-key value as text (the id when it names no parameter)."""


def time_key(value: Any) -> float:
    """A time as the listing sorts it: the number, 0.0 when unset (``sort_key``'s rule)."""
    return float(value) if isinstance(value, int | float) else 0.0


def partition_key_of(instance_id: str, lookup: Any, parameters: Any) -> str | None:
    """An instance's partition-key value as text (its id when it names no parameter)."""
    if not lookup:
        return instance_id
    parameters = parameters or {}
    return str(parameters[lookup]) if lookup in parameters else None


def summary_of_stored(instance_id: str, raw: bytes) -> Summary | None:
    """The summary of stored bytes; None when they are not a listable instance."""
    try:
        fields = codec.root_fields(raw, _FIELDS)
        partition = fields["owner_partition"]
        if not isinstance(partition, int | float) or partition != int(partition):
            return None  # not equal to any partition number: the scan lists it nowhere
        status = str(fields["status"])
    except (*_READ_ERRORS, OverflowError) as exc:
        logger.warning("stored instance %r cannot be read, not indexed: %s", instance_id, exc)
        return None
    try:
        key = partition_key_of(
            instance_id, fields["partition_key_lookup"], fields["runtime_parameters"]
        )
    except TypeError:
        key = None  # parameters that are no mapping: no partition-key value matches
    template = fields["template_name"]
    return Summary(
        int(partition),
        status,
        template if isinstance(template, str) else None,
        fields["lastupdated"],
        fields["time_created"],
        key,
    )


def summary_of(instance: ITemplateDAGInstance[Any, Any], raw: bytes) -> Summary:
    """The summary of ``instance``, whose stored form is ``raw``, from its attributes.

    The same as :func:`summary_of_stored` of ``raw`` without parsing it, but for a
    partition-key parameter whose text a JSON round trip may change (a tuple, a float,
    an enum): that one is read from ``raw``.
    """
    lookup = instance.partition_key_lookup
    if not lookup:
        key: str | None = instance.id
    else:
        parameters = instance.runtime_parameters or {}
        value = parameters.get(lookup, parameters)  # the mapping itself: not there
        if value is parameters:
            key = None
        elif type(value) in _SCALARS:
            key = str(value)
        else:
            stored = summary_of_stored(instance.id, raw)
            key = None if stored is None else stored.partition_key
    return Summary(
        instance.owner_partition,
        instance.status.code,
        instance.template_name,
        instance.lastupdated,
        instance.time_created,
        key,
    )


class Run:
    """The instances of one partition with one status and template, sorted three ways."""

    __slots__ = ("by_created", "by_id", "by_updated")

    def __init__(self) -> None:
        self.by_id: SortedList = SortedList()
        """Ids: the default order, ``(partition, id)``, within the partition."""
        self.by_updated: SortedList = SortedList()
        """``(-lastupdated, id)``: ``order=updated`` within the partition."""
        self.by_created: SortedList = SortedList()
        """``(time_created, id)``: where a creation-time range starts and ends."""

    def __len__(self) -> int:
        return len(self.by_id)

    def add(self, instance_id: str, summary: Summary) -> None:
        self.by_id.add(instance_id)
        self.by_updated.add((-time_key(summary.lastupdated), instance_id))
        self.by_created.add((time_key(summary.time_created), instance_id))

    def remove(self, instance_id: str, summary: Summary) -> None:
        self.by_id.remove(instance_id)
        self.by_updated.remove((-time_key(summary.lastupdated), instance_id))
        self.by_created.remove((time_key(summary.time_created), instance_id))


RunName = tuple[str, str | None]
"""A run's status and template."""


class PartitionIndex:
    """The summaries of one partition's stored instances, their runs and partition keys."""

    __slots__ = ("keyed", "runs", "sorting", "summaries")

    def __init__(self, *, sorting: bool = True) -> None:
        self.summaries: dict[str, Summary] = {}
        self.runs: dict[RunName, Run] = {}
        self.keyed: dict[str, str | set[str]] = {}
        """Partition-key value -> the id (or ids) of the instances that name a parameter;
        an instance that names none has its id as its key, found in ``summaries``."""
        self.sorting = sorting
        """False while it is built: the runs are sorted once, by :meth:`sort`."""

    def sort(self) -> None:
        """Make the runs of the summaries at once (sorting each run once is far cheaper
        than inserting into it one by one), and keep them sorted from now on."""
        grouped: dict[RunName, list[str]] = {}
        for instance_id, summary in self.summaries.items():
            grouped.setdefault((summary.status, summary.template), []).append(instance_id)
        summaries = self.summaries
        for name, ids in grouped.items():
            run = self.runs[name] = Run()
            run.by_id = SortedList(ids)
            run.by_updated = SortedList(
                (-time_key(summaries[instance_id].lastupdated), instance_id) for instance_id in ids
            )
            run.by_created = SortedList(
                (time_key(summaries[instance_id].time_created), instance_id) for instance_id in ids
            )
        self.sorting = True

    def put(self, instance_id: str, summary: Summary) -> None:
        """Index ``summary`` as what is stored under ``instance_id`` now."""
        old = self.summaries.get(instance_id)
        if old == summary:
            return
        self.summaries[instance_id] = summary
        if not self.sorting:
            if old is not None:
                self._unkey(instance_id, old.partition_key)
            self._key(instance_id, summary.partition_key)
            return
        if old is None:
            self._run(summary).add(instance_id, summary)
            self._key(instance_id, summary.partition_key)
            return
        if (old.status, old.template) != (summary.status, summary.template):
            self._unrun(instance_id, old)
            self._run(summary).add(instance_id, summary)
        else:  # the common write: a new update time in the same run
            run = self.runs[(summary.status, summary.template)]
            before, after = time_key(old.lastupdated), time_key(summary.lastupdated)
            if before != after:
                run.by_updated.remove((-before, instance_id))
                run.by_updated.add((-after, instance_id))
            before, after = time_key(old.time_created), time_key(summary.time_created)
            if before != after:
                run.by_created.remove((before, instance_id))
                run.by_created.add((after, instance_id))
        if old.partition_key != summary.partition_key:
            self._unkey(instance_id, old.partition_key)
            self._key(instance_id, summary.partition_key)

    def remove(self, instance_id: str) -> None:
        """Forget ``instance_id`` (deleted, or no longer listable)."""
        old = self.summaries.pop(instance_id, None)
        if old is not None:
            if self.sorting:
                self._unrun(instance_id, old)
            self._unkey(instance_id, old.partition_key)

    def with_key(self, value: str) -> Iterator[str]:
        """The ids whose partition-key value may be ``value``, once each (check their
        summaries: an instance whose id is ``value`` may name a parameter)."""
        ids = self.keyed.get(value)
        if isinstance(ids, str):
            yield ids
        elif ids is not None:
            yield from ids
        if value in self.summaries:
            yield value  # its key is its id if it names no parameter; never in ``keyed``

    def _run(self, summary: Summary) -> Run:
        name = (summary.status, summary.template)
        run = self.runs.get(name)
        if run is None:
            run = self.runs[name] = Run()
        return run

    def _unrun(self, instance_id: str, summary: Summary) -> None:
        name = (summary.status, summary.template)
        run = self.runs[name]
        run.remove(instance_id, summary)
        if not run:
            del self.runs[name]

    def _key(self, instance_id: str, value: str | None) -> None:
        if value is None or value == instance_id:
            return  # found by its id
        ids = self.keyed.get(value)
        if ids is None:
            self.keyed[value] = instance_id
        elif isinstance(ids, str):
            self.keyed[value] = {ids, instance_id}
        else:
            ids.add(instance_id)

    def _unkey(self, instance_id: str, value: str | None) -> None:
        if value is None or value == instance_id:
            return
        ids = self.keyed.get(value)
        if ids == instance_id:
            del self.keyed[value]
        elif isinstance(ids, set):
            ids.discard(instance_id)
            if len(ids) == 1:
                self.keyed[value] = next(iter(ids))


class ListingIndex:
    """The listing's summaries of the instances of the partitions this worker owns.

    A partition is *tracked* from the start of its build until it is dropped, and
    *ready* once its build has read the whole table; the owner's writes update every
    tracked partition. The listing answers from the index only when every partition it
    owns is ready, and scans the table otherwise. Only the owner writes the store while
    it is kept (recovery writes the table only while the worker settles a rebalance,
    which drops it); a write that goes round the owner, such as a test writing a
    LocalEngine's ``store`` by hand after a page was listed, is not seen.
    """

    def __init__(self) -> None:
        self.partitions: dict[int, PartitionIndex] = {}
        """The tracked partitions."""
        self.ready: set[int] = set()
        self._generation: int | None = None
        self._epoch = 0  # bumped by each drop: a build under way then stops
        self._touched: set[str] | None = None  # ids written while a build runs
        self._build: asyncio.Task[None] | None = None

    # -- the owner's writes (the hot path) ----------------------------------------------
    def stored(self, instance: ITemplateDAGInstance[Any, Any], raw: bytes) -> None:
        """``instance`` was stored as ``raw`` (staged for the batch's commit)."""
        index = self.partitions.get(instance.owner_partition)
        if index is None:
            return
        if self._touched is not None:
            self._touched.add(instance.id)
        index.put(instance.id, summary_of(instance, raw))

    def deleted(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """``instance`` was deleted (a tombstone stored in its place)."""
        index = self.partitions.get(instance.owner_partition)
        if index is None:
            return
        if self._touched is not None:
            self._touched.add(instance.id)
        index.remove(instance.id)

    def reload(self, instance_id: str, raw: bytes | None) -> None:
        """What is stored under ``instance_id`` is ``raw`` again (a discarded write)."""
        if not self.partitions:
            return
        summary = None
        if raw is not None and raw != TOMBSTONE:
            summary = summary_of_stored(instance_id, raw)
        if self._touched is not None:
            self._touched.add(instance_id)
        for partition, index in self.partitions.items():
            if summary is not None and summary.partition == partition:
                index.put(instance_id, summary)
            else:
                index.remove(instance_id)

    # -- which partitions it answers for ------------------------------------------------
    def follow(self, owned: frozenset[int], generation: int) -> None:
        """Drop what the worker may have lost: every partition when ``generation`` (its
        rebalance count) moved, else those it owns no more."""
        if generation != self._generation:
            self._generation = generation
            self.drop(set(self.partitions))
        else:
            self.drop(set(self.partitions) - owned)

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget ``partitions`` (a build of one stops)."""
        for partition in partitions:
            self.partitions.pop(partition, None)
            self.ready.discard(partition)
            self._epoch += 1

    def covers(self, owned: frozenset[int]) -> bool:
        """True when every partition in ``owned`` is ready."""
        return owned <= self.ready

    async def build(self, owned: frozenset[int], store: Mapping[bytes, bytes]) -> None:
        """Build the indexes of the partitions in ``owned`` not tracked yet, in one scan.

        A build already running is waited for instead (a page asking meanwhile would
        otherwise scan beside it). A caller cancelled while it waits does not stop it.
        """
        if self._build is None or self._build.done():
            missing = set(owned) - set(self.partitions)
            if not missing:
                return
            # Tracked from now on, so that a drop before the scan starts stops it too.
            for partition in missing:
                self.partitions[partition] = PartitionIndex(sorting=False)
            self._touched = set()
            self._build = asyncio.ensure_future(self._scan(missing, store, self._epoch))
        await asyncio.shield(self._build)

    async def _scan(self, partitions: set[int], store: Mapping[bytes, bytes], epoch: int) -> None:
        done = False
        try:
            keys = list(store.keys())  # a snapshot: the owner changes the store meanwhile
            for position, key in enumerate(keys):
                if position % BUILD_CHUNK == BUILD_CHUNK - 1:
                    await asyncio.sleep(0)
                if self._epoch != epoch:
                    return  # a partition was dropped: the next page starts again
                self._scan_one(key, store.get(key), partitions)
            done = self._epoch == epoch
        finally:
            self._touched = None
            if done:
                for partition in partitions:
                    self.partitions[partition].sort()
                self.ready |= partitions
            else:  # dropped meanwhile, or it raised: half an index answers nothing
                self.drop(partitions & set(self.partitions))

    def _scan_one(self, key: bytes, raw: bytes | None, partitions: set[int]) -> None:
        if raw is None or raw == TOMBSTONE:
            return
        try:
            instance_id = key.decode()
        except UnicodeDecodeError:
            return
        assert self._touched is not None
        if instance_id in self._touched:
            return  # the owner wrote it during the build: what it gave is newer
        summary = summary_of_stored(instance_id, raw)
        if summary is not None and summary.partition in partitions:
            self.partitions[summary.partition].put(instance_id, summary)
