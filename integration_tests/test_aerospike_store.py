"""``store="aerospike://"`` on the real embedded broker: the pizza workflow end to end.

The worker's state goes to Aerospike: a real server when ``AEROSPIKE_HOST`` is set, else
FakeAerospikeClient on a SQLite file shared with this test (the broker is never mocked;
the fake stands in for the Aerospike server only, which cannot run here). The test ids say
which ran.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from dagger.core import _codec as codec
from dagger.stores._aerospike import AerospikeStore
from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, workers
from integration_tests.apps._aerospike_env import NAMESPACE, real_server_hosts, store_client
from integration_tests.test_listeners import _pizza, order_service

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.aerospike_app"
KIND = "aerospike-real-server" if real_server_hosts() else "aerospike-FAKE-client"
TABLES = ("dagger_instances", "dagger_correlation", "dagger_early_messages", "dagger_timers")


@pytest.fixture(params=[KIND])
def scenario(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Scenario]:
    """A scenario whose worker keeps its state in Aerospike (the fake's file, or a server)."""
    monkeypatch.setenv("TEST_AEROSPIKE_FAKE", str(tmp_path / "fake-aerospike.sqlite"))
    yield Scenario(tmp_path, store="aerospike://")


def _stores(scenario: Scenario) -> tuple[Any, dict[str, AerospikeStore]]:
    store_client_ = store_client()
    stores = {
        table: AerospikeStore(
            lambda: store_client_,
            namespace=NAMESPACE,
            set_name=f"{scenario.app_id}_{table}",
            ttl=-1,
        )
        for table in TABLES
    }
    return store_client_, stores


async def _topics(broker: EmbeddedBroker) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    await consumer.start()
    try:
        return set(await consumer.topics())
    finally:
        await consumer.stop()


async def _settled_index(index: AerospikeStore, finished: set[str], timeout: float = 30) -> Any:
    """The correlation index once no finished instance waits in it any more."""
    deadline = time.monotonic() + timeout
    while True:
        entries = [entry[0] for raw in index.values() for entry in codec.loads(raw)["l"]]
        if not set(entries) & finished or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(0.3)


async def test_the_pizza_workflow_runs_with_its_state_in_aerospike(
    broker: EmbeddedBroker, scenario: Scenario
) -> None:
    await broker.acreate_topics(scenario.topics())
    total = 30
    store_client_, stores = _stores(scenario)
    try:
        async with (
            workers(scenario, broker) as start,
            Updates(broker, scenario.update_topic) as updates,
            order_service(broker, scenario),
        ):
            worker = start("w1", APP)
            await worker.wait_ready()
            async with client(scenario, broker, _pizza(scenario)) as template:
                created = await asyncio.gather(
                    *(
                        template.create_instance(
                            uuid.uuid4(), "order_id", submit_task=True, order_id=f"a-{n}"
                        )
                        for n in range(total)
                    )
                )
            finished = await updates.wait_finished(total, timeout=120)
            waiting = await _settled_index(stores["dagger_correlation"], set(finished))
            topics = await _topics(broker)
            worker.stop()

        ids = {instance.id for instance in created}
        assert set(finished) == ids
        assert not set(waiting) & ids, "finished listeners are still in the index"
        # The instances are read back from the store, not from the update topic.
        for instance_id in ids:
            stored = codec.decode(stores["dagger_instances"][instance_id.encode()])
            assert stored.status.code == "COMPLETED"
            assert stored.runtime_parameters["statuses"] == ["COOKING", "READY"]
            assert stored.runtime_parameters["driver"]
            assert {task.status.code for task in stored.tasks.values()} == {"COMPLETED"}
        assert len(stores["dagger_instances"]) == total
        assert "StaleWriteError" not in worker.log_text()
        # No changelog topic: the shared store is the state, faust has no table to log.
        assert not {t for t in topics if t.startswith(scenario.app_id) and "changelog" in t}
    finally:
        for store in stores.values():
            for key in list(store):
                del store[key]
        store_client_.close()


async def test_a_second_worker_continues_from_the_store_after_a_sigkill(
    broker: EmbeddedBroker, scenario: Scenario
) -> None:
    await broker.acreate_topics(scenario.topics())
    total = 200
    store_client_, stores = _stores(scenario)
    try:
        async with (
            workers(scenario, broker) as start,
            Updates(broker, scenario.update_topic) as updates,
            order_service(broker, scenario),
        ):
            first = start("first", APP)
            await first.wait_ready()
            async with client(scenario, broker, _pizza(scenario)) as template:
                await asyncio.gather(
                    *(
                        template.create_instance(
                            uuid.uuid4(), "order_id", submit_task=True, order_id=f"k-{n}"
                        )
                        for n in range(total)
                    )
                )
            await updates.wait_until(lambda u: len(u.finished()) >= 20, 120, "first completions")
            first.kill()
            await updates.poll()
            assert len(updates.finished()) < total, "everything finished before the kill"
            second = start("second", APP)
            await second.wait_ready()
            try:
                finished = await updates.wait_finished(total, timeout=240)
            except AssertionError as stalled:
                tail = second.log_text()[-6000:]
                raise AssertionError(f"{stalled}\nthe second worker's log ends:\n{tail}") from None

        for document in finished.values():
            assert document["status"] == "COMPLETED", document
            assert document["runtime_parameters"]["statuses"] == ["COOKING", "READY"], document
        for instance_id in finished:
            stored = codec.decode(stores["dagger_instances"][instance_id.encode()])
            assert stored.status.code == "COMPLETED"
            assert stored.runtime_parameters["statuses"] == ["COOKING", "READY"]
    finally:
        for store in stores.values():
            for key in list(store):
                del store[key]
        store_client_.close()
