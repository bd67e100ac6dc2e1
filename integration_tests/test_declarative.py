"""A YAML workflow on the real broker: send, wait for the reply, sleep beside it, then join."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from dagger.declarative import load
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from integration_tests._harness import (
    Scenario,
    Updates,
    client,
    read_topic,
    send_messages,
    workers,
)
from integration_tests.apps.declarative_workflows import FLOWS

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.declarative_app"
TERMINAL = {"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"}


def statuses(document: dict[str, Any] | None) -> dict[str, str]:
    return {task["name"]: task["status"] for task in (document or {}).get("tasks", [])}


async def test_a_yaml_saga_sends_waits_for_its_reply_and_joins_on_a_worker(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    environ = {
        "TEST_REQUESTS_TOPIC": scenario.requests_topic,
        "TEST_LISTEN_TOPIC": scenario.listen_topic,
    }

    def build(engine: Dagger) -> tuple[Dagger, dict[str, Any]]:
        return engine, load(engine, [str(FLOWS)], environ)

    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        client(scenario, broker, build) as (_, templates),
    ):
        await start("w1", APP).wait_ready()
        instance = await templates["saga"].create_instance(
            uuid.uuid4(), "ref", ref="r-1", submit_task=True
        )
        await updates.wait_until(
            lambda u: statuses(u.latest.get(instance.id)).get("reply") == "EXECUTING",
            60,
            "the saga to wait for its reply",
        )
        requests = await read_topic(broker, scenario.requests_topic)
        await send_messages(
            broker, scenario.listen_topic, [({"ref": "r-1", "status": "PAID"}, None)]
        )
        await updates.wait_until(
            lambda u: u.latest.get(instance.id, {}).get("status") in TERMINAL,
            60,
            "the saga to finish",
        )
        document = updates.latest[instance.id]
    assert document["status"] == "COMPLETED", document
    assert [json.loads(record.value) for record in requests] == [{"ref": "r-1", "kind": "payment"}]
    outputs = document["runtime_parameters"]["jobs"]
    assert outputs["ask"]["stages"]["reply"]["outputs"]["message"] == {
        "ref": "r-1",
        "status": "PAID",
    }
    assert outputs["finish"]["stages"]["done"]["outputs"] == {"result": "r-1 PAID"}
    assert statuses(document)["pause"] == "COMPLETED"
