"""Timed tasks on the real embedded broker: trigger, interval, monitor, process deadline."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, workers
from integration_tests.apps.timer_workflows import build_timer_templates

pytestmark = pytest.mark.integration

TIMER_APP = "integration_tests.apps.timer_app"
TICK = 0.25  # the app's trigger_interval (TEST_TRIGGER_INTERVAL's default)


@contextlib.asynccontextmanager
async def timer_worker(
    broker: EmbeddedBroker, tmp_path: Path, trigger_interval: float = TICK
) -> AsyncIterator[tuple[Scenario, Updates, Any]]:
    """A ready worker of the timer app on fresh topics, its update reader and start()."""
    scenario = Scenario(tmp_path, trigger_interval=trigger_interval)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        await start("w1", TIMER_APP).wait_ready()
        yield scenario, updates, start


async def create(scenario: Scenario, broker: EmbeddedBroker, template: str, **params: Any) -> str:
    async with client(scenario, broker, build_timer_templates) as templates:
        instance = await templates[template].create_instance(
            uuid.uuid4(), "key", submit_task=True, key=str(uuid.uuid4()), **params
        )
    return str(instance.id)


async def finished(updates: Updates, instance_id: str, timeout: float = 60) -> dict[str, Any]:
    await updates.wait_until(
        lambda u: u.latest.get(instance_id, {}).get("status") in ("COMPLETED", "FAILURE"),
        timeout,
        f"{instance_id} to finish",
    )
    return updates.latest[instance_id]


def tasks_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["name"]: task for task in document["tasks"]}


async def test_each_timed_task_type_fires_on_time(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with timer_worker(broker, tmp_path) as (scenario, updates, _):
        now = time.time()
        trigger = await create(scenario, broker, "trigger", run_at=now + 3)
        interval = await create(
            scenario,
            broker,
            "interval",
            start_at=now + 3,
            period=0.5,
            deadline=now + 30,
            fail_times=0,
        )
        monitored = await create(
            scenario, broker, "monitored", run_at=now + 60, complete_by_time=now + 3
        )
        trigger_doc = await finished(updates, trigger)
        interval_doc = await finished(updates, interval)
        await updates.wait_until(
            lambda u: (
                "monitor_fired_at" in u.latest.get(monitored, {}).get("runtime_parameters", {})
            ),
            30,
            "the monitor",
        )
    allowed = TICK + 1.0
    assert 0 <= trigger_doc["runtime_parameters"]["fired_at"] - (now + 3) <= allowed
    assert 0 <= interval_doc["runtime_parameters"]["attempts"][0] - (now + 3) <= allowed
    fired = updates.latest[monitored]["runtime_parameters"]["monitor_fired_at"]
    assert 0 <= fired - (now + 3) <= allowed


async def test_a_timer_fires_at_its_due_time_not_at_the_next_trigger_interval(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # With a 30 s interval a periodic tick would fire these up to 30 s late; the tick
    # wakes for the earliest due time instead, also for a timer scheduled while it sleeps.
    async with timer_worker(broker, tmp_path, trigger_interval=30) as (scenario, updates, _):
        now = time.time()
        first = await create(scenario, broker, "trigger", run_at=now + 3)
        await asyncio.sleep(1)
        second = await create(scenario, broker, "trigger", run_at=now + 2)
        first_doc = await finished(updates, first, timeout=20)
        second_doc = await finished(updates, second, timeout=20)
    assert 0 <= first_doc["runtime_parameters"]["fired_at"] - (now + 3) <= 1.0
    assert 0 <= second_doc["runtime_parameters"]["fired_at"] - (now + 2) <= 1.0


async def test_an_interval_task_that_fails_then_succeeds_and_one_that_hits_its_deadline(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with timer_worker(broker, tmp_path) as (scenario, updates, _):
        now = time.time()
        retried = await create(
            scenario, broker, "interval", period=0.5, deadline=now + 60, fail_times=3
        )
        forced = await create(
            scenario, broker, "interval", period=0.5, deadline=now + 2.5, fail_times=1000
        )
        retried_doc = await finished(updates, retried)
        forced_doc = await finished(updates, forced)
    attempts = retried_doc["runtime_parameters"]["attempts"]
    assert retried_doc["status"] == "COMPLETED" and len(attempts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert all(0.5 - 0.05 <= gap <= 0.5 + TICK + 1.0 for gap in gaps), gaps
    assert forced_doc["status"] == "COMPLETED"
    assert forced_doc["runtime_parameters"]["finished_at"] >= now + 2.5
    assert len(forced_doc["runtime_parameters"]["attempts"]) >= 3


async def test_a_monitor_fires_on_a_late_process_and_not_on_a_finished_one(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with timer_worker(broker, tmp_path) as (scenario, updates, _):
        now = time.time()
        late = await create(
            scenario, broker, "monitored", run_at=now + 4, complete_by_time=now + 1.5
        )
        on_time = await create(
            scenario, broker, "monitored", run_at=now + 1, complete_by_time=now + 3
        )
        late_doc = await finished(updates, late)
        on_time_doc = await finished(updates, on_time)
        await asyncio.sleep(1.0 + TICK)  # past the on-time instance's complete_by_time
        await updates.poll()
    assert late_doc["runtime_parameters"]["late"] == "monitored"
    assert (
        late_doc["runtime_parameters"]["monitor_fired_at"]
        < late_doc["runtime_parameters"]["fired_at"]
    )
    on_time_doc = updates.latest[on_time]
    assert "monitor_fired_at" not in on_time_doc["runtime_parameters"]
    assert tasks_of(on_time_doc)["monitored_monitor"]["status"] == "COMPLETED"


async def test_max_run_duration_skips_the_process_and_the_workflow_continues(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with timer_worker(broker, tmp_path) as (scenario, updates, _):
        started = time.time()
        instance = await create(scenario, broker, "deadline", run_at=started + 3600)
        document = await finished(updates, instance)
    tasks = tasks_of(document)
    assert document["status"] == "COMPLETED"
    assert tasks["slow"]["status"] == "SKIPPED"
    assert tasks["never_trigger_task"]["status"] == "SKIPPED"
    assert tasks["after"]["status"] == "COMPLETED"
    assert document["runtime_parameters"]["finished"] is True
    assert "fired_at" not in document["runtime_parameters"]
    assert (
        1.0 <= tasks["slow"]["time_completed"] - tasks["slow"]["time_submitted"] <= 1.0 + TICK + 1.0
    )


# Longer than the test's own deadlines (120 s for the first firings, 300 s after the
# kill), so a timer that never fires fails with the count the deadline reports.
@pytest.mark.timeout(600)
async def test_3000_timers_fire_exactly_once_across_a_sigkill(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    total = 3000
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        first = start("first", TIMER_APP)
        await first.wait_ready()
        async with client(scenario, broker, build_timer_templates) as templates:
            due_from = time.time() + 5
            for chunk in range(0, total, 500):
                await asyncio.gather(
                    *(
                        templates["trigger"].create_instance(
                            uuid.uuid4(),
                            "key",
                            submit_task=True,
                            key=f"k-{n}",
                            run_at=due_from + (n % 1500) / 100,
                        )
                        for n in range(chunk, min(chunk + 500, total))
                    )
                )
        await updates.wait_until(lambda u: len(u.finished()) >= 300, 120, "the first timers")
        first.kill()
        killed_at = time.monotonic()
        await updates.poll()
        done_at_kill = len(updates.finished())
        assert done_at_kill < total, "every timer fired before the kill"
        await start("second", TIMER_APP).wait_ready()
        done = await updates.wait_finished(total, timeout=300)
        recovered_after = time.monotonic() - killed_at
    assert all(document["status"] == "COMPLETED" for document in done.values())
    assert all(document["runtime_parameters"]["fired"] == 1 for document in done.values())
    runs = scenario.executions()
    assert len(runs) == total
    reexecuted = sum(len(pids) - 1 for pids in runs.values())
    print(
        f"\ntimer kill test: {total - done_at_kill} of {total} timers pending at SIGKILL; "
        f"all fired {recovered_after:.1f}s after the kill; re-executed: {reexecuted}"
    )


@pytest.mark.timeout(300)
async def test_retry_waits_survive_a_sigkill_and_each_attempt_is_applied_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    total = 200
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        first = start("first", TIMER_APP)
        await first.wait_ready()
        async with client(scenario, broker, build_timer_templates) as templates:
            for n in range(total):
                await templates["retried"].create_instance(
                    uuid.uuid4(), "key", submit_task=True, key=f"k-{n}", fail_times=2
                )
        # Every instance has failed its first attempt and waits 1.5 s for the next.
        await scenario.wait_for_runs(total, timeout=120)
        first.kill()
        await updates.poll()
        assert len(updates.finished()) < total, "every retry ran before the kill"
        await start("second", TIMER_APP).wait_ready()
        done = await updates.wait_finished(total, timeout=180)
    assert all(document["status"] == "COMPLETED" for document in done.values())
    # Three attempts each, in the stored state: no wait lost, none applied twice.
    assert all(document["runtime_parameters"]["tries"] == 3 for document in done.values())
    runs = scenario.executions()
    assert len(runs) == total
    assert all(len(pids) >= 3 for pids in runs.values())
    reexecuted = sum(len(pids) - 3 for pids in runs.values())
    print(
        f"\nretry kill test: {total} instances, attempts re-executed after the kill: {reexecuted}"
    )
