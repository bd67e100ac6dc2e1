"""What a worker's log says, on the real embedded broker: a person can follow it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, workers

pytestmark = pytest.mark.integration


async def test_a_worker_log_says_what_runs_and_what_each_instance_did(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path, tansu_compat=None)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        worker = start("w1")
        await worker.wait_ready()
        async with client(scenario, broker) as template:
            done = await template.create_instance(
                uuid.uuid4(), "order_id", submit_task=True, order_id="log-1"
            )
            failed = await template.create_instance(
                uuid.uuid4(), "order_id", submit_task=True, order_id="log-2", fail_at="charge"
            )
        await updates.wait_finished(2, timeout=60)
        log = worker.log_text()

    # Item 7: the embedded broker is recognised without DAGGER_TANSU_COMPAT.
    assert log.count("The broker is the embedded Tansu broker (cluster id dagger-") == 1, log
    assert "its end-offset correction is on (DAGGER_TANSU_COMPAT=0 turns it off)" in log
    # One line each for the API, the broker, the store, the templates, the partitions.
    assert re.search(r"HTTP API on http://127\.0\.0\.1:\d+", log), log
    assert f"Broker {broker.url}; engine topic {scenario.tasks_topic} (4 partitions)" in log
    assert "Store memory://" in log
    assert "Templates (1): orders" in log
    assert f"Partitions owned of the engine topic {scenario.tasks_topic}: 0, 1, 2, 3" in log
    # One line per instance created and finished, none per task.
    assert log.count(f"Instance {done.id} ") == 2, log
    assert f"Instance {done.id} completed (template orders, order_id=log-1" in log
    assert f"Instance {failed.id} failed (template orders, order_id=log-2" in log
    assert "refused order" in log
    # faust's and aiokafka's internals are quiet; faust's worker still says it is ready.
    assert "[^Worker]: Ready" in log
    assert "Joined group" not in log
    assert "[^---Recovery]" not in log
    assert "Creating topic" not in log
