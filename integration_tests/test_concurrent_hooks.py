"""Hooks of different instances run side by side on one worker, up to its bound.

20 orders of the 4-step orders workflow whose every executor awaits 0.3 s, on one worker
on the embedded broker. Each executor appends ``begin``/``end`` lines around its await, so
the file says how many awaited at once: an order of lines, not a timing. One hook at a
time (the original's behaviour) would show at most 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, send_requests, workers
from integration_tests.test_engine_core import assert_completed_in_order

pytestmark = pytest.mark.integration

ORDERS = 20


@pytest.mark.parametrize("bound", [None, 3])
async def test_hooks_of_different_instances_await_side_by_side(
    broker: EmbeddedBroker, tmp_path: Path, bound: int | None
) -> None:
    scenario = Scenario(tmp_path, task_sleep=0.3, max_concurrent_hooks=bound)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        await start("w1").wait_ready()
        orders = [{"order_id": f"order-{i}", "repartition": True} for i in range(ORDERS)]
        await send_requests(broker, scenario.requests_topic, orders)
        finished = await updates.wait_finished(ORDERS, timeout=120)

    assert len(finished) == ORDERS
    for document in finished.values():
        assert_completed_in_order(document)  # each instance's tasks still one by one
    most = scenario.most_hooks_at_once()
    if bound is None:
        assert most >= 2, "hooks of different instances never awaited at once"
    else:
        assert 2 <= most <= bound, most
