"""Decisions, parallel branches, dynamic processes, stop and clean-up on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from integration_tests._harness import (
    Scenario,
    Updates,
    WorkerProcess,
    client,
    index_entries,
    read_topic,
    send_messages,
    workers,
)
from integration_tests.apps.control_flow_workflows import (
    build_control_flow_templates,
    item_process,
)

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.control_flow_app"


@dataclass
class Run:
    """A worker of the control-flow app on fresh topics, with a client engine."""

    scenario: Scenario
    broker: EmbeddedBroker
    updates: Updates
    engine: Dagger
    templates: dict[str, Any]
    start: Callable[..., WorkerProcess]
    worker: WorkerProcess

    async def create(self, template: str, **params: Any) -> str:
        params.setdefault("ref", uuid.uuid4().hex)
        instance = await self.templates[template].create_instance(
            uuid.uuid4(), "ref", submit_task=True, **params
        )
        return str(instance.id)

    async def reply(self, topic: str, *refs: str) -> None:
        await send_messages(self.broker, topic, [({"ref": ref}, None) for ref in refs])

    async def finished(self, *ids: str, timeout: float = 60) -> list[dict[str, Any]]:
        await self.updates.wait_until(
            lambda u: all(u.latest.get(i, {}).get("status") in TERMINAL for i in ids),
            timeout,
            f"{len(ids)} instances to finish",
        )
        return [self.updates.latest[i] for i in ids]

    async def waiting_at(self, task: str, *ids: str, timeout: float = 60) -> None:
        await self.updates.wait_until(
            lambda u: all(
                tasks_of(u.latest.get(i)).get(task, {}).get("status") == "EXECUTING" for i in ids
            ),
            timeout,
            f"{len(ids)} instances to wait at {task}",
        )


TERMINAL = {"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"}


def tasks_of(document: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Name -> task view; names repeat only in the combo's dynamic items (none here)."""
    if document is None:
        return {}
    return {task["name"]: task for task in document["tasks"]}


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {name: task["status"] for name, task in tasks_of(document).items()}


@contextlib.asynccontextmanager
async def control_flow(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[Run]:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())

    def build(engine: Dagger) -> tuple[Dagger, dict[str, Any]]:
        return engine, build_control_flow_templates(
            engine, scenario.listen_topic, scenario.listen_topic_b
        )

    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        client(scenario, broker, build) as (engine, templates),
    ):
        worker = start("w1", APP)
        await worker.wait_ready()
        yield Run(scenario, broker, updates, engine, templates, start, worker)


async def settled_index(run: Run, keys_gone: set[str], timeout: float = 30) -> dict[str, Any]:
    """The correlation index once no entry is left under the given refs."""
    deadline = time.monotonic() + timeout
    while True:
        state = await index_entries(run.broker, run.scenario)
        left = {key for key in state if any(ref in key for ref in keys_gone)}
        if not left or time.monotonic() > deadline:
            return {key: state[key] for key in left}
        await asyncio.sleep(0.3)


async def test_a_decision_runs_the_chosen_branch_and_skips_the_others(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with control_flow(broker, tmp_path) as run:
        express = await run.create("decision", route="express")
        standard = await run.create("decision", route="standard")
        neither = await run.create("decision", route="none")
        bogus = await run.create("decision", route="not-a-branch")
        docs = await run.finished(express, standard, neither, bogus)
    express_doc, standard_doc, neither_doc, bogus_doc = docs
    assert express_doc["status"] == "COMPLETED"
    assert express_doc["runtime_parameters"]["ran"] == ["start", "express", "express_label"]
    assert statuses(express_doc)["standard"] == "SKIPPED"
    assert standard_doc["runtime_parameters"]["ran"] == ["start", "standard"]
    assert statuses(standard_doc)["express"] == statuses(standard_doc)["express_label"] == "SKIPPED"
    assert neither_doc["status"] == "COMPLETED"
    assert {statuses(neither_doc)[name] for name in ("express", "standard")} == {"SKIPPED"}
    assert bogus_doc["status"] == "FAILURE"
    assert tasks_of(bogus_doc)["route"]["error_type"] == "InvalidDecision"


async def test_join_all_waits_for_every_branch_and_fails_with_one(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with control_flow(broker, tmp_path) as run:
        joined = await run.create("join_all", ref="joined")
        failed = await run.create("join_all", ref="failed", fail="quote_b")
        (failed_doc,) = await run.finished(failed)
        await run.waiting_at("quote_wait", joined)
        assert tasks_of(run.updates.latest[joined])["quotes"]["status"] == "EXECUTING"
        await run.reply(run.scenario.listen_topic, "joined")
        (joined_doc,) = await run.finished(joined)
        index = await settled_index(run, {"joined", "failed"})
    assert joined_doc["status"] == "COMPLETED"
    assert joined_doc["runtime_parameters"]["ran"][-1] == "chosen"
    assert set(joined_doc["runtime_parameters"]["ran"]) == {
        "quote_a",
        "quote_b",
        "quote_wait",
        "chosen",
    }
    assert failed_doc["status"] == "FAILURE"
    failed_tasks = statuses(failed_doc)
    assert failed_tasks["quote_b"] == failed_tasks["quotes"] == "FAILURE"
    assert failed_tasks["quote_wait"] == "STOPPED"
    assert failed_tasks["chosen"] == "NOT_STARTED"
    assert failed_doc["runtime_parameters"]["stop_hooks"] == ["quote_wait"]
    assert index == {}, "listeners of stopped and finished branches leave the index"


async def test_atleast_one_goes_on_with_the_first_branch_and_stops_the_rest(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with control_flow(broker, tmp_path) as run:
        first = await run.create("atleast_one", ref="first")
        one_failed = await run.create("atleast_one", ref="one-failed", fail="quote_a")
        docs = await run.finished(first, one_failed)
        index = await settled_index(run, {"first", "one-failed"})
    for document in docs:
        assert document["status"] == "COMPLETED"
        assert statuses(document)["quotes"] == "COMPLETED"
        assert statuses(document)["quote_wait"] == "STOPPED"
        assert document["runtime_parameters"]["stop_hooks"] == ["quote_wait"]
        assert document["runtime_parameters"]["ran"][-1] == "chosen"
    assert statuses(docs[1])["quote_a"] == "FAILURE"
    assert index == {}


async def test_stop_by_id_stops_every_unfinished_task_and_a_second_stop_changes_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with control_flow(broker, tmp_path) as run:
        instance = await run.create("combo", ref="stop-me", route="fan_marker")
        await run.waiting_at("payment_wait", instance)
        await run.engine.stop_instance(instance)
        (document,) = await run.finished(instance)
        received = run.updates.received
        await run.engine.stop_instance(instance)
        await run.reply(run.scenario.listen_topic, "stop-me")
        await asyncio.sleep(1.5)
        await run.updates.poll()
        index = await settled_index(run, {"stop-me"})
    assert document["status"] == "STOPPED"
    tasks = statuses(document)
    assert tasks["payment_wait"] == tasks["payment"] == tasks["fan"] == "STOPPED"
    assert tasks["close_wait"] == tasks["closing"] == "STOPPED", "not-started tasks stop too"
    assert tasks["pack_task"] == "COMPLETED"
    assert document["runtime_parameters"]["stop_hooks"] == ["payment_wait"]
    assert run.updates.received == received, "a stop or message after the stop changes nothing"
    assert index == {}


async def test_a_deleted_instance_stays_deleted(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DELETE_ON_COMPLETE", "1")
    async with control_flow(broker, tmp_path) as run:
        instance = await run.create("join_all", ref="deleted")
        await run.waiting_at("quote_wait", instance)
        await run.reply(run.scenario.listen_topic, "deleted")
        (document,) = await run.finished(instance)
        await run.engine.stop_instance(instance)
        await run.reply(run.scenario.listen_topic, "deleted")
        await asyncio.sleep(1.5)
        changelog = await read_topic(
            broker, f"{run.scenario.app_id}-dagger_instances-changelog", settle=0.5
        )
    assert document["status"] == "COMPLETED"
    values = [record.value for record in changelog if record.key == instance.encode()]
    assert values[-1] == b"{}", "the last stored value is the deletion marker"
    assert values.count(b"{}") == 1, "nothing was written after the deletion"


async def test_combined_workflow_over_200_instances_with_a_sigkill(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """decision → parallel processes with a listener branch → dynamic processes → stop."""
    count = 200
    rng = random.Random(5)
    plans = [
        {
            "ref": f"combo-{n}",
            "route": rng.choice(["fan_marker", "lean_marker"]),
            "items": rng.randint(1, 4),
            "stop": n % 2 == 0,
        }
        for n in range(count)
    ]
    async with control_flow(broker, tmp_path) as run:
        combo = run.templates["combo"]
        ids: dict[str, dict[str, Any]] = {}

        async def create(plan: dict[str, Any]) -> None:
            # Each creation chooses its own shape in its own task, all at the same time.
            shape = [item_process(run.engine, k) for k in range(plan["items"])]
            combo.set_dynamic_builders_for_process_template("items", shape)
            instance = await combo.create_instance(
                uuid.uuid4(), "ref", submit_task=True, ref=plan["ref"], route=plan["route"]
            )
            ids[str(instance.id)] = plan

        await asyncio.gather(*(create(plan) for plan in plans))
        await run.reply(run.scenario.listen_topic, *(plan["ref"] for plan in plans))
        await asyncio.sleep(0.5)
        run.worker.kill()
        run.worker = run.start("w2", APP)
        await run.worker.wait_ready()
        await run.waiting_at("close_wait", *ids, timeout=180)
        stopping = [i for i, plan in ids.items() if plan["stop"]]
        closing = [i for i, plan in ids.items() if not plan["stop"]]
        for instance_id in stopping:
            await run.engine.stop_instance(instance_id)
        await run.reply(run.scenario.listen_topic_b, *(ids[i]["ref"] for i in closing))
        documents = await run.finished(*ids, timeout=180)
        index = await settled_index(run, {plan["ref"] for plan in plans}, timeout=60)
    for document in documents:
        plan = ids[document["id"]]
        tasks = document["tasks"]
        by_name = {task["name"]: task["status"] for task in tasks}
        chosen, other = (
            ("fan_marker", "lean_marker")
            if plan["route"] == "fan_marker"
            else ("lean_marker", "fan_marker")
        )
        assert by_name[chosen] == "COMPLETED" and by_name[other] == "SKIPPED", plan
        assert by_name["fan"] == by_name["pack"] == by_name["payment"] == "COMPLETED", plan
        items = sorted(
            t["name"] for t in tasks if t["name"].startswith("item_") and t["kind"] == "SUB_DAG"
        )
        assert items == [f"item_{k}" for k in range(plan["items"])], "shapes never cross"
        assert all(by_name[f"item_{k}_task"] == "COMPLETED" for k in range(plan["items"]))
        if plan["stop"]:
            assert document["status"] == "STOPPED", plan
            assert by_name["close_wait"] == "STOPPED"
            assert document["runtime_parameters"]["stop_hooks"] == ["close_wait"]
        else:
            assert document["status"] == "COMPLETED", plan
            assert by_name["close_wait"] == "COMPLETED"
            assert "stop_hooks" not in document["runtime_parameters"]
    assert index == {}, "no listener of a finished instance is left in the index"
