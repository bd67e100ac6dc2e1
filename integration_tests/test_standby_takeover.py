"""A partition taken over by the worker that held it as a standby keeps every changelog record."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rocksdict import AccessType, Options, Rdict

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, read_topic, workers

pytestmark = pytest.mark.integration

TABLES = ("dagger_instances", "dagger_correlation", "dagger_early_messages", "dagger_timers")
OFFSET_KEY = b"__faust\x00offset__"


async def changelog_state(
    broker: EmbeddedBroker, scenario: Scenario
) -> dict[tuple[str, bytes], bytes]:
    """(table, key) -> the latest value in the tables' changelogs (a delete drops the key)."""
    state: dict[tuple[str, bytes], bytes] = {}
    for table in TABLES:
        changelog = f"{scenario.app_id}-{table}-changelog"
        for record in await read_topic(broker, changelog, settle=0.5):
            if record.value is None:
                state.pop((table, record.key), None)
            else:
                state[table, record.key] = record.value
    return state


@contextmanager
def _table_file(datadir: Path, table: str, partition: int) -> Iterator[Rdict | None]:
    """A stopped worker's rocksdb file of ``table``'s ``partition``, read only (None: none)."""
    found = list(datadir.glob(f"**/tables/{table}-{partition}.db"))
    if not found:
        yield None
        return
    db = Rdict(str(found[0]), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        yield db
    finally:
        db.close()


def store_state(datadir: Path, partitions: int) -> dict[tuple[str, bytes], bytes]:
    """(table, key) -> value in a stopped worker's rocksdb files, for every partition."""
    state: dict[tuple[str, bytes], bytes] = {}
    for table in TABLES:
        for partition in range(partitions):
            with _table_file(datadir, table, partition) as db:
                assert db is not None, f"no file for {table} partition {partition}"
                state.update(((table, k), v) for k, v in db.items() if k != OFFSET_KEY)
    return state


async def create_orders(template: Any, first: int, count: int) -> list[str]:
    """Create and submit the orders ``first`` .. ``first + count - 1``; return their ids."""
    return [
        str(
            (
                await template.create_instance(
                    uuid.uuid4(), "order_id", submit_task=True, order_id=f"o-{i}"
                )
            ).id
        )
        for i in range(first, first + count)
    ]


async def test_takeover_by_a_standby_keeps_every_changelog_record(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path, store="rocksdb://", task_sleep=0.005)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        client(scenario, broker) as template,
    ):
        first = start("first")
        await first.wait_ready()
        ids = await create_orders(template, 0, 60)
        # The second worker joins while the first works: it takes two partitions and reads
        # the other two as a standby, from their changelogs' first records.
        second = start("second")
        await second.wait_ready()
        ids += await create_orders(template, 60, 120)
        await updates.wait_until(lambda u: len(u.finished()) >= 80, 60, "completions")
        first.stop()  # the second worker takes over the partitions it held as a standby
        finished = await updates.wait_finished(len(ids), timeout=60)
        second.stop()
    changelog = await changelog_state(broker, scenario)
    store = store_state(tmp_path / "data-second", scenario.partitions)
    missing = Counter(table for table, key in set(changelog) - set(store))
    extra = Counter(table for table, key in set(store) - set(changelog))
    stale = Counter(
        table
        for (table, key), value in changelog.items()
        if store.get((table, key), value) != value
    )
    print(
        f"\nstandby takeover: {len(changelog)} keys in the changelogs, {len(store)} in the "
        f"store; missing {dict(missing)}, stale {dict(stale)}, not in the changelogs {dict(extra)}"
    )
    assert (missing, stale, extra) == (Counter(), Counter(), Counter())
    assert set(finished) == set(ids)
    assert all(doc["status"] == "COMPLETED" for doc in finished.values())


def persisted_offsets(datadir: Path, partitions: int) -> dict[tuple[str, int], int]:
    """(table, partition) -> the changelog offset a stopped worker's rocksdb file has up to."""
    offsets: dict[tuple[str, int], int] = {}
    for table in TABLES:
        for partition in range(partitions):
            with _table_file(datadir, table, partition) as db:
                stored = None if db is None else db.get(OFFSET_KEY)
            if stored is not None:
                offsets[table, partition] = int(stored)
    return offsets


async def test_a_worker_s_stores_and_persisted_offsets_match_its_changelogs(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # The engine writes its tables' stores and sends their changelog records itself
    # (dagger.runtime._logged_table): each changelog partition's last record must be the
    # offset the store says it holds, and the store must hold what the changelog says.
    scenario = Scenario(tmp_path, store="rocksdb://", task_sleep=0.001)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        client(scenario, broker) as template,
    ):
        worker = start("only")
        await worker.wait_ready()
        ids = await create_orders(template, 0, 40)
        finished = await updates.wait_finished(len(ids), timeout=60)
        worker.stop()
    last_offsets: dict[tuple[str, int], int] = {}
    for table in TABLES:
        for record in await read_topic(broker, f"{scenario.app_id}-{table}-changelog", 0.5):
            last_offsets[table, record.partition] = max(
                record.offset, last_offsets.get((table, record.partition), -1)
            )
    assert last_offsets, "the worker wrote no changelog record"
    assert persisted_offsets(tmp_path / "data-only", scenario.partitions) == last_offsets
    assert store_state(tmp_path / "data-only", scenario.partitions) == await changelog_state(
        broker, scenario
    )
    assert set(finished) == set(ids)
