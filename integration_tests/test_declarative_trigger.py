"""A trigger stage on the real broker: the child is created once and waited for across a
worker's SIGKILL; a child that fails fails its parent."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, send_messages, workers

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.declarative_app"
TERMINAL = {"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"}


def statuses(document: dict[str, Any] | None) -> dict[str, str]:
    return {task["name"]: task["status"] for task in (document or {}).get("tasks", [])}


def children(updates: Updates) -> dict[str, dict[str, Any]]:
    return {key: doc for key, doc in updates.latest.items() if doc["template"] == "child"}


async def test_a_child_workflow_survives_a_sigkill_and_its_failure_fails_the_parent(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    parents = {"good": str(uuid.uuid4()), "bad": str(uuid.uuid4())}
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        first = start("w1", APP)
        await first.wait_ready()
        await send_messages(
            broker,
            scenario.intake_topic,
            [
                (
                    json.dumps({"template": "parent", "id": id, "params": {"ref": ref}}).encode(),
                    None,
                )
                for ref, id in parents.items()
            ],
        )
        # Both children nap while their parents wait for them: the worker dies then.
        await updates.wait_until(
            lambda u: (
                len(children(u)) == 2
                and all(statuses(doc).get("nap") == "EXECUTING" for doc in children(u).values())
                and all(
                    statuses(u.latest.get(id)).get("child") == "EXECUTING"
                    for id in parents.values()
                )
            ),
            60,
            "both children to nap while their parents wait",
        )
        first.kill()
        await start("w2", APP).wait_ready()
        await updates.wait_until(
            lambda u: all(
                u.latest.get(id, {}).get("status") in TERMINAL for id in parents.values()
            ),
            60,
            "both parents to finish",
        )
        good, bad = (updates.latest[parents["good"]], updates.latest[parents["bad"]])
        found = children(updates)
    assert good["status"] == "COMPLETED", good
    outputs = good["runtime_parameters"]["jobs"]["run"]["stages"]
    assert outputs["after"]["outputs"] == {"result": "child good"}
    assert outputs["child"]["outputs"]["status"] == "COMPLETED"
    assert bad["status"] == "FAILURE", bad
    assert bad["error_message"].startswith("run: child:check: trigger child: workflow 'child'")
    assert bad["error_message"].endswith("ended FAILURE: work: refuse:if: refuse: refused bad")
    # One child per parent, however often the parents' start tasks ran.
    assert sorted(doc["status"] for doc in found.values()) == ["COMPLETED", "FAILURE"]
    assert {doc["runtime_parameters"][":parent"]["id"] for doc in found.values()} == set(
        parents.values()
    )
