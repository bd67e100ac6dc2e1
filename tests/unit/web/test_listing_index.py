"""The listing index answers every page as the table's scan does (issue 19).

Random stores of instance summaries (statuses, templates, times, partition keys, ties,
deletions), random queries (orders, filters, time ranges, cursors) over random sets of
owned partitions: the page read from the index (its ids, total and counts) is the page
the scan reads, after a build and after writes, deletes and status changes.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagger.core._codec import FORMAT_VERSION
from dagger.core._registry import class_key
from dagger.runtime._listing_index import BUILD_CHUNK, ListingIndex, summary_of_stored
from dagger.runtime._owner import TOMBSTONE
from dagger.tasks._base import ITemplateDAGInstance
from dagger.web._indexed_listing import Page, indexed_page
from dagger.web._local import LocalInstances
from dagger.web._query import BY_PARTITION, BY_UPDATE, ListQuery, sort_key
from tests.unit.web._harness import SplitView

PARTITIONS = 4
IDS = [f"i{number:02d}" for number in range(24)]
STATUSES = ["COMPLETED", "FAILURE", "EXECUTING", "NOT_STARTED", "STOPPED"]
TEMPLATES = ["orders", "refunds", "audit"]
TIMES = [None, 0, 0.0, 5, 10.0, 10.5, 20, 100.25]
"""Few values, so that ties (in order=updated) and range edges come up often."""
KEYS = ["k1", "k2", "i03", "i07"]
"""Partition-key values; two are other instances' ids."""
ROOT = class_key(ITemplateDAGInstance)


def stored(
    partition: Any,
    status: str,
    template: Any,
    lastupdated: Any,
    time_created: Any,
    lookup: str,
    parameters: dict[str, Any],
    instance_id: str | None = None,
) -> bytes:
    """A stored instance document with these root fields (and no tasks)."""
    fields: dict[str, Any] = {
        "id": instance_id,
        "owner_partition": partition,
        "status": status,
        "template_name": template,
        "partition_key_lookup": lookup,
        "runtime_parameters": parameters,
    }
    for name, value in (("lastupdated", lastupdated), ("time_created", time_created)):
        if value is not None:
            fields[name] = value
    document = {"v": FORMAT_VERSION, "c": 0, "f": fields, "t": [], "classes": [ROOT]}
    return json.dumps(document).encode()


documents = st.builds(
    stored,
    partition=st.integers(0, PARTITIONS - 1) | st.sampled_from([0.0, 2.0, True]),
    status=st.sampled_from(STATUSES),
    template=st.sampled_from(TEMPLATES) | st.sampled_from([None, 7]),
    lastupdated=st.sampled_from(TIMES),
    time_created=st.sampled_from(TIMES),
    lookup=st.sampled_from(["", "key", "missing"]),
    parameters=st.fixed_dictionaries({}, optional={"key": st.sampled_from([*KEYS, 3, 2.5])}),
)
values = documents | st.just(TOMBSTONE) | st.just(b'{"v": 99}')
"""What a key may hold: an instance, a deleted one's tombstone, or unreadable bytes."""
stores = st.dictionaries(st.sampled_from(IDS).map(str.encode), values, max_size=len(IDS))
narrow = st.builds(
    stored,
    partition=st.integers(0, 1),
    status=st.sampled_from(STATUSES[:2]),
    template=st.just(TEMPLATES[0]),
    lastupdated=st.sampled_from(TIMES),
    time_created=st.sampled_from(TIMES),
    lookup=st.sampled_from(["", "key"]),
    parameters=st.fixed_dictionaries({}, optional={"key": st.sampled_from(KEYS)}),
)
"""Instances of few runs: a write often changes only the times or the key of one."""
writes = st.lists(st.tuples(st.sampled_from(IDS[:8]).map(str.encode), values | narrow), max_size=16)


def bounds() -> st.SearchStrategy[tuple[float | None, float | None]]:
    edge = st.none() | st.sampled_from([0.0, 5.0, 10.0, 10.5, 15.0, 20.0, 100.25, 1000.0])
    return st.tuples(edge, edge)


def rarely(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy`` a quarter of the time, None otherwise: most queries have few filters."""
    return st.integers(0, 3).flatmap(lambda n: strategy if n == 0 else st.none())


@st.composite
def queries(draw: st.DrawFn) -> ListQuery:
    order = draw(st.sampled_from([BY_PARTITION, BY_UPDATE]))
    after = None
    if draw(st.booleans()):
        partition = draw(st.integers(-1, PARTITIONS))
        instance_id = draw(st.sampled_from([*IDS, "", "i05x", "zzz"]))
        updated = draw(st.sampled_from([t for t in TIMES if t is not None] + [1e9, -1.0]))
        after = sort_key(order, partition, instance_id, updated)
    return ListQuery(
        limit=draw(st.integers(1, 8)),
        offset=0 if after is not None else draw(st.integers(0, 5)),
        after=after,
        statuses=draw(rarely(st.frozensets(st.sampled_from(STATUSES), min_size=1))),
        template=draw(rarely(st.sampled_from([*TEMPLATES, "none-such"]))),
        order=order,
        partition_key=draw(rarely(st.sampled_from([*KEYS, "3", "2.5", *IDS[:6]]))),
        created=draw(rarely(bounds())) or (None, None),
        updated=draw(rarely(bounds())) or (None, None),
    )


owned_sets = st.frozensets(st.integers(0, PARTITIONS - 1))


def build(store: Mapping[bytes, bytes], partitions: frozenset[int]) -> ListingIndex:
    return asyncio.run(built(store, partitions))


async def built(store: Mapping[bytes, bytes], partitions: frozenset[int]) -> ListingIndex:
    """A fresh index of ``partitions`` built from ``store``."""
    index = ListingIndex()
    index.follow(partitions, 0)
    await index.build(partitions, store)
    assert index.covers(partitions)
    return index


def scanned(store: Mapping[bytes, bytes], query: ListQuery, owned: frozenset[int]) -> Page:
    return asyncio.run(LocalInstances(SplitView(store, owned))._scanned(query))


def same_page(index: ListingIndex, store: dict[bytes, bytes], query: ListQuery, owned: Any) -> None:
    expected = scanned(store, query, owned)
    got = indexed_page(index, query, owned)
    assert (got.ids, got.total, got.counts) == (expected.ids, expected.total, expected.counts)


EXAMPLES = int(os.environ.get("DAGGER_LISTING_EXAMPLES", "60"))
"""Runs per property: about a second each in the unit suite (its tests get 10 s each on a
loaded machine); ``DAGGER_LISTING_EXAMPLES=2000`` runs many more (docs/testing.md)."""
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
LONGER = pytest.mark.timeout(10 + EXAMPLES / 10)  # more than the unit tests' 10 s: many runs


@LONGER
@SETTINGS
@given(store=stores, query=queries(), owned=owned_sets)
def test_a_page_from_the_index_is_the_page_of_the_scan(
    store: dict[bytes, bytes], query: ListQuery, owned: frozenset[int]
) -> None:
    index = build(store, frozenset(range(PARTITIONS)))

    same_page(index, store, query, owned)


@LONGER
@SETTINGS
@given(
    store=stores | st.dictionaries(st.sampled_from(IDS[:8]).map(str.encode), narrow),
    changes=writes,
    query=queries(),
    owned=owned_sets,
)
def test_writes_deletes_and_status_changes_keep_the_index_the_scan(
    store: dict[bytes, bytes],
    changes: list[tuple[bytes, bytes]],
    query: ListQuery,
    owned: frozenset[int],
) -> None:
    index = build(store, owned)
    for key, value in changes:
        store[key] = value
        index.reload(key.decode(), value)

    same_page(index, store, query, owned)
    assert_agrees(index, store, owned)


@LONGER
@SETTINGS
@given(
    store=stores,
    order=st.sampled_from([BY_PARTITION, BY_UPDATE]),
    statuses=rarely(st.frozensets(st.sampled_from(STATUSES), min_size=1)),
    template=rarely(st.sampled_from(TEMPLATES)),
    limit=st.integers(1, 4),
    owned=owned_sets,
)
def test_paging_by_cursor_walks_the_scans_pages(
    store: dict[bytes, bytes],
    order: str,
    statuses: frozenset[str] | None,
    template: str | None,
    limit: int,
    owned: frozenset[int],
) -> None:
    index = build(store, owned)
    query = ListQuery(limit=limit, statuses=statuses, template=template, order=order)
    seen: list[str] = []
    while True:
        same_page(index, store, query, owned)
        page = indexed_page(index, query, owned)
        if not page.ids:
            break
        seen.extend(page.ids)
        last = page.ids[-1]
        summary = index.partitions[_partition_of(index, last)].summaries[last]
        query = replace(query, after=sort_key(order, summary.partition, last, summary.lastupdated))
    assert len(seen) == len(set(seen)) == scanned(store, replace(query, after=None), owned).total


def _partition_of(index: ListingIndex, instance_id: str) -> int:
    [partition] = [p for p, part in index.partitions.items() if instance_id in part.summaries]
    return partition


def assert_agrees(index: ListingIndex, store: Mapping[bytes, bytes], owned: Any) -> None:
    assert_same(index, build(store, owned))


def assert_same(index: ListingIndex, fresh: ListingIndex) -> None:
    """``index`` holds what ``fresh`` (built from the store) holds, run by run."""
    assert set(index.partitions) == set(fresh.partitions)
    for partition, part in index.partitions.items():
        other = fresh.partitions[partition]
        assert part.summaries == other.summaries, partition
        assert part.keyed == other.keyed, partition
        assert set(part.runs) == set(other.runs), partition
        for name, run in part.runs.items():
            for sort in ("by_id", "by_updated", "by_created"):
                assert list(getattr(run, sort)) == list(getattr(other.runs[name], sort))


# -- which partitions the index answers for --------------------------------------------
def some_instances(partition: int, count: int, status: str = "COMPLETED") -> dict[bytes, bytes]:
    return {
        f"p{partition}-{number:05d}".encode(): stored(
            partition, status, "orders", 10.0 + number, 1.0, "", {}, f"p{partition}-{number:05d}"
        )
        for number in range(count)
    }


async def test_a_revoked_partition_leaves_and_an_assigned_one_is_built_from_the_table() -> None:
    store = {**some_instances(0, 3), **some_instances(1, 4)}
    index = ListingIndex()
    view = SplitView(store, frozenset({0}), index)
    local = LocalInstances(view)
    assert (await local.window(ListQuery())).total == 3
    assert set(index.partitions) == {0}

    # Partition 1 is assigned in a rebalance; what its previous owner wrote arrives in the
    # table by its changelog, not through this worker's owner.
    view.generation, view.owned = 1, frozenset({0, 1})
    store.update(some_instances(1, 6, "FAILURE"))
    window = await local.window(ListQuery(limit=20))

    assert (window.total, window.counts) == (9, {"COMPLETED": 3, "FAILURE": 6})
    assert index.covers(frozenset({0, 1}))
    view.generation, view.owned = 2, frozenset({1})
    assert (await local.window(ListQuery())).counts == {"FAILURE": 6}
    assert set(index.partitions) == {1}


async def test_a_worker_not_ready_scans_and_builds_nothing() -> None:
    store = some_instances(0, 3)
    index = ListingIndex()
    window = await LocalInstances(SplitView(store, frozenset({0}), index, ready=False)).window(
        ListQuery()
    )

    assert window.total == 3
    assert not index.partitions


class CountingStore(dict[bytes, bytes]):
    """Counts the values read."""

    reads = 0

    def get(self, key: bytes, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def __getitem__(self, key: bytes) -> bytes:
        self.reads += 1
        return super().__getitem__(key)


async def test_once_built_a_page_reads_only_its_own_instances() -> None:
    store = CountingStore({**some_instances(0, 2000), **some_instances(1, 2000, "FAILURE")})
    local = LocalInstances(SplitView(store, frozenset({0, 1}), ListingIndex()))
    await local.window(ListQuery(limit=25))  # builds the index: one read of each
    store.reads = 0

    window = await local.window(
        ListQuery(limit=25, order=BY_UPDATE, statuses=frozenset({"FAILURE"}))
    )

    assert window.total == 2000
    assert [document["id"] for document in window.documents][:2] == ["p1-01999", "p1-01998"]
    assert store.reads == 25


# -- a build while the owner writes ------------------------------------------------------
class LaggingStore(dict[bytes, bytes]):
    """Gives, for one key, the value it held before the last write (a stale read)."""

    def __init__(self, *args: Any, stale: bytes) -> None:
        super().__init__(*args)
        self.stale = stale
        self.old: bytes | None = None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if key == self.stale:
            self.old = self.get(key)
        super().__setitem__(key, value)

    def get(self, key: bytes, default: Any = None) -> Any:
        if key == self.stale and self.old is not None:
            return self.old
        return super().get(key, default)


class Instance:
    """What the index reads of an instance the owner stores."""

    def __init__(self, instance_id: str, partition: int, status: str, updated: float) -> None:
        self.id = instance_id
        self.owner_partition = partition
        self.status = type("Status", (), {"code": status})()
        self.template_name = "orders"
        self.lastupdated = updated
        self.time_created = 1.0
        self.partition_key_lookup = ""
        self.runtime_parameters: dict[str, Any] = {}

    def raw(self) -> bytes:
        return stored(
            self.owner_partition, self.status.code, "orders", self.lastupdated, 1.0, "", {}
        )


async def test_writes_during_a_build_are_not_overwritten_by_what_the_scan_read() -> None:
    count = BUILD_CHUNK * 6
    instances = some_instances(0, count)
    last = f"p0-{count - 1:05d}".encode()
    store = LaggingStore(instances, stale=last)
    index = ListingIndex()
    index.follow(frozenset({0}), 0)
    building = asyncio.ensure_future(index.build(frozenset({0}), store))
    await asyncio.sleep(0)  # the build has read its first chunk and yields

    changed = []
    for number, status in ((0, "FAILURE"), (count - 1, "STOPPED"), (count // 2, "EXECUTING")):
        instance = Instance(f"p0-{number:05d}", 0, status, 5000.0 + number)
        store[instance.id.encode()] = instance.raw()
        index.stored(instance, instance.raw())  # type: ignore[arg-type]
        changed.append(instance.id)
        await asyncio.sleep(0)
    gone = Instance("p0-00001", 0, "COMPLETED", 0)
    store[b"p0-00001"] = TOMBSTONE
    index.deleted(gone)  # type: ignore[arg-type]
    await building

    assert index.covers(frozenset({0}))
    summaries = index.partitions[0].summaries
    assert [summaries[instance_id].status for instance_id in changed] == [
        "FAILURE",
        "STOPPED",  # the scan read the stale value of this one after the write
        "EXECUTING",
    ]
    assert "p0-00001" not in summaries
    assert len(summaries) == count - 1


async def test_a_rebalance_during_a_build_leaves_nothing_ready() -> None:
    store = some_instances(0, BUILD_CHUNK * 4)
    index = ListingIndex()
    index.follow(frozenset({0}), 0)
    building = asyncio.ensure_future(index.build(frozenset({0}), store))
    await asyncio.sleep(0)
    index.follow(frozenset({0}), 1)  # a rebalance started: the table may change under it
    await building

    assert not index.covers(frozenset({0}))
    assert not index.partitions


def test_a_summary_is_what_the_scan_reads() -> None:
    raw = stored(2, "FAILURE", "orders", 12.5, 3, "key", {"key": 7})

    summary = summary_of_stored("i01", raw)

    assert summary is not None
    assert summary == (2, "FAILURE", "orders", 12.5, 3, "7")
