"""A partition taken over by the worker that held it as a standby keeps every changelog record."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, read_topic, workers

pytestmark = pytest.mark.integration

TABLE = "dagger_instances"
OFFSET_KEY = b"__faust\x00offset__"


async def changelog_state(broker: EmbeddedBroker, scenario: Scenario) -> dict[bytes, bytes]:
    """The latest value of every key of the instance table's changelog (deletes drop it)."""
    state: dict[bytes, bytes] = {}
    for record in await read_topic(broker, f"{scenario.app_id}-{TABLE}-changelog", settle=0.5):
        if record.value is None:
            state.pop(record.key, None)
        else:
            state[record.key] = record.value
    return state


def store_state(datadir: Path, partitions: int) -> dict[bytes, bytes]:
    """Every key of the instance table in a stopped worker's rocksdb files."""
    state: dict[bytes, bytes] = {}
    for partition in range(partitions):
        [path] = datadir.glob(f"**/tables/{TABLE}-{partition}.db")
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                if key != OFFSET_KEY:
                    state[key] = value
        finally:
            db.close()
    return state


def status_of(value: bytes) -> str:
    document = json.loads(value)
    return str(document.get("status", {}).get("code", document.get("status")))


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

        async def create(first: int, count: int) -> list[str]:
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

        first = start("first")
        await first.wait_ready()
        ids = await create(0, 60)
        # The second worker joins while the first works: it takes two partitions and reads
        # the other two as a standby, from their changelogs' first records.
        second = start("second")
        await second.wait_ready()
        ids += await create(60, 120)
        await updates.wait_until(lambda u: len(u.finished()) >= 80, 60, "completions")
        first.stop()  # the second worker takes over the partitions it held as a standby
        finished = await updates.wait_finished(len(ids), timeout=60)
        second.stop()
    changelog = await changelog_state(broker, scenario)
    store = store_state(tmp_path / "data-second", scenario.partitions)
    missing = set(changelog) - set(store)
    stale = {key for key in set(changelog) & set(store) if changelog[key] != store[key]}
    print(
        f"\nstandby takeover: {len(changelog)} keys in the changelog, {len(store)} in the store, "
        f"{len(missing)} missing, {len(stale)} stale "
        f"{Counter((status_of(store[k]), status_of(changelog[k])) for k in stale)}"
    )
    assert not missing and not stale
    assert set(finished) == set(ids)
    assert all(doc["status"] == "COMPLETED" for doc in finished.values())
