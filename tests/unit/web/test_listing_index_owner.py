"""The owner keeps the listing index what a scan of its store gives (issue 19).

The instances run through the real owner (a LocalEngine's, or one over a staged store):
creations, completions, failures, listeners waiting and hearing, stops, retries,
deletions on completion, and a batch discarded before its commit. After each, the
index holds what a fresh build from the store holds, and pages read from it are the
scan's pages.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated, MessageDelivered
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._listing_index import ListingIndex
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._staging import StagedStore
from dagger.runtime._timers import TimerIndex
from dagger.runtime._updates import UpdatePublisher
from dagger.testing import LocalEngine
from dagger.testing._local import ManualClock
from dagger.web._indexed_listing import indexed_page
from dagger.web._local import LocalInstances
from dagger.web._query import BY_UPDATE, ListQuery
from tests.unit._listener_workflows import LISTENER, new_engine, order_template, unique
from tests.unit._workflows import OfflineEngine, task_named
from tests.unit.web._harness import OUTAGE, PARTITIONS, SplitView, orders, waiting
from tests.unit.web.test_listing_index import assert_same, built

ALL = frozenset(range(PARTITIONS))
QUERIES = [
    ListQuery(limit=50),
    ListQuery(limit=3, order=BY_UPDATE),
    ListQuery(statuses=frozenset({"FAILURE", "STOPPED"}), order=BY_UPDATE),
    ListQuery(template="orders", statuses=frozenset({"COMPLETED"})),
    ListQuery(partition_key="o-2"),
    ListQuery(partition_key="2.5"),
    ListQuery(partition_key="w-1"),
]


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


async def assert_listed_as_scanned(index: ListingIndex, store: Any) -> None:
    assert_same(index, await built(store, ALL))
    for query in QUERIES:
        expected = await LocalInstances(SplitView(store, ALL))._scanned(query)
        got = indexed_page(index, query, ALL)
        assert (got.ids, got.total, got.counts) == (expected.ids, expected.total, expected.counts)


@pytest.mark.parametrize("delete_on_complete", [False, True])
async def test_every_kind_of_write_of_the_owner_keeps_the_index_as_the_table(
    delete_on_complete: bool,
) -> None:
    engine = new_engine(kafka_partitions=PARTITIONS, delete_workflow_on_complete=delete_on_complete)
    template = orders(engine)
    engine.template_dags["orders"] = template
    topic = unique("reply")
    listening = waiting(engine, topic)
    async with LocalEngine(engine) as local:
        await template.create_instance("o-1", "order_id", order_id="o-1", submit_task=True)
        view = engine.worker_view()
        index = view.listing_index()
        assert index is not None
        await LocalInstances(view).window(ListQuery())  # builds the index
        assert index.covers(ALL)

        await template.create_instance("o-2", "order_id", order_id="o-2", submit_task=True)
        # A partition-key value whose text a JSON round trip keeps only when read back.
        await template.create_instance("o-3", "order_id", order_id=2.5, submit_task=True)
        OUTAGE.add("charge")
        await template.create_instance("o-4", "order_id", order_id="o-4", submit_task=True)
        await listening.create_instance("w-1", "order_id", order_id="w-1", submit_task=True)
        await listening.create_instance("w-2", "order_id", order_id="w-2", submit_task=True)
        await listening.create_instance("w-3", "order_id", order_id="w-3", submit_task=False)
        await assert_listed_as_scanned(index, local.store)

        OUTAGE.clear()
        await engine.retry_instance("o-4")
        await engine.stop_instance("w-2")
        local.clock.advance(5)
        await local.send_message(topic, {"order_id": "w-1"})
        await assert_listed_as_scanned(index, local.store)


# -- a batch discarded before its commit -------------------------------------------------
PARTITION = 1


async def test_a_discarded_batch_leaves_the_index_as_the_table_it_did_not_reach(
    offline: OfflineEngine,
) -> None:
    engine = offline.dagger
    table: dict[bytes, bytes] = {}
    store = StagedStore(table)
    index = ListingIndex()

    async def send(event: Any, key: str, partition: int) -> None:
        pass

    async def send_letter(key: bytes, value: bytes) -> None:
        raise AssertionError(json.loads(value))

    owner = InstanceOwner(
        store,
        publisher=UpdatePublisher(None, []),
        delete_on_complete=False,
        send=send,
        partitions=PARTITIONS,
        decode_payload=lambda topic, raw: json.loads(raw),
        dead_letters=DeadLetterWriter(send_letter),
        timers=TimerIndex({}),
        clock=ManualClock(1_000.0),
        listing=index,
    )
    index.follow(frozenset({PARTITION}), 0)
    await index.build(frozenset({PARTITION}), store)
    template = order_template(engine, status_topic=unique("status"))
    instance = await template.create_instance(
        "i-1", "order_id", seed=random.Random(0), order_id="o-1"
    )
    created = InstanceCreated("c-1", "i-1", codec.to_document(instance), submit=True)
    await owner.handle(created, PARTITION)
    store.commit()
    await owner.end_batch()
    waiting_for = index.partitions[PARTITION].summaries["i-1"]
    assert waiting_for.status == "EXECUTING"

    stored = owner.load("i-1")
    assert stored is not None
    listener = task_named(stored, LISTENER)
    payload = json.dumps({"order_id": "o-1", "status": "READY"}).encode()
    origin = {"topic": "status", "partition": 0, "offset": 7}
    await owner.handle(
        MessageDelivered("m-1", "i-1", listener.id, "status", payload, origin), PARTITION
    )
    assert index.partitions[PARTITION].summaries["i-1"] != waiting_for  # staged: listed
    store.discard()  # the worker's batch failed before its commit
    owner.abandon_batch()

    assert index.partitions[PARTITION].summaries["i-1"] == waiting_for
    assert_same(index, await built(store, frozenset({PARTITION})))
