"""A schedule on the real broker: every second, across a rebalance and a SIGKILL, each key
released once."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from dagger.runtime._partitioning import partition_for_key
from dagger.runtime._schedules import release_id, release_key
from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, WorkerProcess, read_topic, workers

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.schedule_app"
PARTITIONS = Scenario.partitions  # the engine topic's, which release ids depend on


def released_times(latest: dict[str, Any], since: float, until: float) -> dict[int, str]:
    """The logical times (whole seconds) whose release id is among the instances seen."""
    ids = {
        release_id(release_key("ticker", float(t)), PARTITIONS): t
        for t in range(int(since), int(until))
    }
    return {ids[key]: doc["status"] for key, doc in latest.items() if key in ids}


def schedule_owner(*candidates: WorkerProcess) -> WorkerProcess | None:
    """The one worker whose latest assignment (its log says) holds the schedule's
    partition; None while none or both claim it (a log not caught up yet)."""
    wanted = str(partition_for_key("ticker", PARTITIONS))
    claiming = []
    for worker in candidates:
        owned = re.findall(
            r"Partitions owned of the engine topic \S+: ([\d, ]*)", worker.log_text()
        )
        if owned and wanted in owned[-1].replace(" ", "").split(","):
            claiming.append(worker)
    return claiming[0] if len(claiming) == 1 else None


async def test_a_schedule_releases_every_key_once_across_a_rebalance_and_a_sigkill(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    began = time.time()
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        first = start("w1", APP)
        await first.wait_ready()
        await updates.wait_until(lambda u: len(u.latest) >= 3, 60, "three releases")
        second = start("w2", APP)  # joins the group: the partitions are shared out again
        await second.wait_ready()
        joined = len(updates.latest)
        await updates.wait_until(
            lambda u: len(u.latest) >= joined + 2 and schedule_owner(first, second) is not None,
            60,
            "the rebalance",
        )
        owner = schedule_owner(first, second)
        assert owner is not None
        survivor = second if owner is first else first
        owner.kill()  # the schedule's owner; at any instant, a fire is at most a second away
        killed_at = time.time()
        await updates.wait_until(
            lambda u: (
                max(released_times(u.latest, began, time.time() + 5), default=0) > killed_at + 3
            ),
            60,
            "releases after the restart",
        )
        survivor.stop()  # a clean stop: what it released is on the update topic
    # Every update, read to the end (the reader above may not have polled each partition).
    latest: dict[str, Any] = {}
    for record in await read_topic(broker, scenario.update_topic):
        document = json.loads(record.value)
        latest[document["id"]] = document
    released = released_times(latest, began - 5, time.time() + 5)
    times = sorted(released)
    # No fire between the first and the last was missed (catchup: all), the downtime's
    # fires included; each key has its one instance, and nothing else was started.
    assert times == list(range(times[0], times[-1] + 1))
    assert times[0] < killed_at < times[-1] - 3
    assert set(latest) == {release_id(release_key("ticker", t), PARTITIONS) for t in times}
    assert set(released.values()) == {"COMPLETED"}
    assert await read_topic(broker, scenario.dead_letter_topic, settle=0.5) == []
