"""A graph of needs on the real broker: both listeners wait at once, the join runs after both."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, client, send_messages, workers
from integration_tests.apps.needs_workflows import build_needs_templates

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.needs_app"
TERMINAL = {"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"}


def statuses(document: dict[str, Any] | None) -> dict[str, str]:
    return {task["name"]: task["status"] for task in (document or {}).get("tasks", [])}


async def test_a_diamond_waits_on_both_sides_then_joins_and_a_failure_skips_the_rest(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())

    def build(engine: Dagger) -> tuple[Dagger, dict[str, Any]]:
        return engine, build_needs_templates(engine, scenario.listen_topic, scenario.listen_topic_b)

    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        client(scenario, broker, build) as (_, templates),
    ):
        await start("w1", APP).wait_ready()
        diamond = templates["diamond"]
        ok = str(
            (await diamond.create_instance(uuid.uuid4(), "ref", ref="ok", submit_task=True)).id
        )
        failed = str(
            (
                await diamond.create_instance(
                    uuid.uuid4(), "ref", ref="failed", fail="a", submit_task=True
                )
            ).id
        )
        await updates.wait_until(
            lambda u: (
                statuses(u.latest.get(ok)).get("left_wait") == "EXECUTING"
                and statuses(u.latest.get(ok)).get("right_wait") == "EXECUTING"
            ),
            60,
            "both listeners of the diamond to wait at once",
        )
        assert statuses(updates.latest[ok])["d"] == "NOT_STARTED"
        await send_messages(broker, scenario.listen_topic_b, [({"ref": "ok"}, None)])
        await updates.wait_until(
            lambda u: statuses(u.latest.get(ok)).get("right_wait") == "COMPLETED",
            60,
            "the right side to complete",
        )
        assert statuses(updates.latest[ok])["d"] == "NOT_STARTED"
        await send_messages(broker, scenario.listen_topic, [({"ref": "ok"}, None)])
        await updates.wait_until(
            lambda u: all(u.latest.get(i, {}).get("status") in TERMINAL for i in (ok, failed)),
            60,
            "both instances to finish",
        )
        ok_doc, failed_doc = updates.latest[ok], updates.latest[failed]
    assert ok_doc["status"] == "COMPLETED"
    assert ok_doc["runtime_parameters"]["ran"] == ["a", "right_wait", "left_wait", "d"]
    assert failed_doc["status"] == "FAILURE"
    found = statuses(failed_doc)
    assert found["a"] == found["start"] == "FAILURE"
    assert {found[name] for name in ("left", "right", "join", "left_wait", "d")} == {"SKIPPED"}
