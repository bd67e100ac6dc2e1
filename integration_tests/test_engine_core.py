"""The engine core on the real embedded broker: completion, failure, crash recovery, scale-out."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, send_requests, workers

pytestmark = pytest.mark.integration

TRAIL = ["validate", "charge", "reserve", "ship"]


def assert_completed_in_order(document: dict) -> None:
    assert document["status"] == "COMPLETED", document
    assert document["runtime_parameters"]["trail"] == TRAIL
    tasks = {task["name"]: task for task in document["tasks"]}
    assert set(tasks) == {"payment", "shipping", *(f"{step}_executor_task" for step in TRAIL)}
    assert all(task["status"] == "COMPLETED" for task in tasks.values()), tasks


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
@pytest.mark.parametrize("repartition", [True, False])
async def test_workflow_completes(
    broker: EmbeddedBroker, tmp_path: Path, store: str, repartition: bool
) -> None:
    scenario = Scenario(tmp_path, store=store)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        await start("w1").wait_ready()
        orders = [{"order_id": f"order-{i}", "repartition": repartition} for i in range(10)]
        await send_requests(broker, scenario.requests_topic, orders)
        finished = await updates.wait_finished(10, timeout=60)
    assert len(finished) == 10
    for document in finished.values():
        assert_completed_in_order(document)
    assert {doc["partition_key"] for doc in finished.values()} == {o["order_id"] for o in orders}


async def test_raising_task_fails_its_instance_only(broker: EmbeddedBroker, tmp_path: Path) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        await start("w1").wait_ready()
        async with client(scenario, broker) as template:
            failing = set()
            for i in range(12):
                params = {"order_id": f"order-{i}"}
                if i % 4 == 0:
                    params["fail_at"] = "charge"
                instance = await template.create_instance(
                    uuid.uuid4(), "order_id", submit_task=True, **params
                )
                if i % 4 == 0:
                    failing.add(instance.id)
        finished = await updates.wait_finished(12, timeout=60)
    for instance_id, document in finished.items():
        if instance_id not in failing:
            assert_completed_in_order(document)
            continue
        assert document["status"] == "FAILURE"
        tasks = {task["name"].removesuffix("_executor_task"): task for task in document["tasks"]}
        assert tasks["charge"]["status"] == "FAILURE"
        assert tasks["charge"]["error_type"] == "RuntimeError"
        assert "refused order" in tasks["charge"]["error_message"]
        assert tasks["payment"]["status"] == "FAILURE"
        assert tasks["reserve"]["status"] == tasks["ship"]["status"] == "NOT_STARTED"
        assert document["runtime_parameters"]["trail"] == ["validate"]
        assert "refused order" in document["error_message"]


async def test_sigkill_with_200_in_flight_loses_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # All 200 instances are created before the worker starts, and hooks run one at a
    # time, so its 800 task runs (10 ms each) are queued behind one another. The kill
    # comes when a quarter of them have started, read from the hooks' own log: at least
    # 150 instances are then unfinished, however late the update topic is read.
    scenario = Scenario(tmp_path, task_sleep=0.01, max_concurrent_hooks=1)
    await broker.acreate_topics(scenario.topics())
    total = 200
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        async with client(scenario, broker) as template:
            ids = [
                (
                    await template.create_instance(
                        uuid.uuid4(), "order_id", submit_task=True, order_id=f"o-{i}"
                    )
                ).id
                for i in range(total)
            ]
        first = start("first")
        await first.wait_ready()
        await scenario.wait_for_runs(total * len(TRAIL) // 4, timeout=60)
        first.kill()
        killed_at = time.monotonic()
        await updates.poll()
        done_before_kill = len(updates.finished())
        assert done_before_kill < total, (
            "every instance finished before the kill: nothing was in flight"
        )
        await start("second").wait_ready()
        finished = await updates.wait_finished(total, timeout=180)
        recovered_after = time.monotonic() - killed_at
    assert set(finished) == set(ids)
    for document in finished.values():
        assert_completed_in_order(document)
    runs = scenario.executions()
    assert all((instance_id, task) in runs for instance_id in ids for task in TRAIL)
    duplicates = sum(len(pids) - 1 for pids in runs.values())
    print(
        f"\nkill test: {total - done_before_kill} of {total} in flight at SIGKILL; "
        f"all {total} COMPLETED {recovered_after:.1f}s after the kill; "
        f"re-executed tasks: {duplicates}"
    )


async def test_two_workers_split_partitions_and_complete_200(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path, task_sleep=0.002)
    await broker.acreate_topics(scenario.topics())
    total = 200
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        one, two = start("one"), start("two")
        await asyncio.gather(one.wait_ready(), two.wait_ready())
        async with client(scenario, broker) as template:
            await asyncio.gather(
                *(
                    template.create_instance(
                        uuid.uuid4(), "order_id", submit_task=True, order_id=f"o-{i}"
                    )
                    for i in range(total)
                )
            )
        finished = await updates.wait_finished(total, timeout=180)
    assert len(finished) == total
    for document in finished.values():
        assert_completed_in_order(document)
    pids_per_worker: dict[int, int] = {}
    for pids in scenario.executions().values():
        for pid in pids:
            pids_per_worker[pid] = pids_per_worker.get(pid, 0) + 1
    assert set(pids_per_worker) == {one.pid, two.pid}, pids_per_worker
