"""Command and listener tasks on the real embedded broker: correlation end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from dagger.testing import EmbeddedBroker
from examples.pizza.order_service import OrderService
from examples.pizza.templates import build_pizza_template
from integration_tests._harness import (
    Scenario,
    Updates,
    client,
    index_entries,
    read_topic,
    send_messages,
    workers,
)
from integration_tests.apps.listener_workflows import build_listener_templates

pytestmark = pytest.mark.integration

PIZZA_APP = "examples.pizza.workflow"
LISTENER_APP = "integration_tests.apps.listener_app"


def _templates(scenario: Scenario) -> Any:
    return partial(
        build_listener_templates, topic_a=scenario.listen_topic, topic_b=scenario.listen_topic_b
    )


def _pizza(scenario: Scenario) -> Any:
    return partial(
        build_pizza_template,
        orders_topic=scenario.pizza_orders_topic,
        status_topic=scenario.pizza_status_topic,
    )


@contextlib.asynccontextmanager
async def order_service(broker: EmbeddedBroker, scenario: Scenario) -> AsyncIterator[OrderService]:
    service = OrderService(
        broker.bootstrap_servers,
        scenario.pizza_orders_topic,
        scenario.pizza_status_topic,
        f"{scenario.app_id}-order-service",
    )
    serving = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


@contextlib.asynccontextmanager
async def listener_worker(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[tuple[Scenario, Updates]]:
    """A ready worker of the listener test app on fresh topics, and its update reader."""
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        await start("w1", LISTENER_APP).wait_ready()
        yield scenario, updates


def tasks_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task["name"]: task for task in document["tasks"]}


async def wait_for_status(
    updates: Updates, instance_id: str, status: str, timeout: float = 60
) -> dict:
    await updates.wait_until(
        lambda u: u.latest.get(instance_id, {}).get("status") == status,
        timeout,
        f"{instance_id} {status}",
    )
    return updates.latest[instance_id]


async def settled_index(
    broker: EmbeddedBroker, scenario: Scenario, unsettled: Any, timeout: float = 30
) -> dict[str, list[list[Any]]]:
    """The index once ``unsettled(index)`` is false, read while the worker still runs.

    A finished listener leaves the index through an event its key's owner applies after
    the instance's last update, so the test waits for the owner to catch up.
    """
    deadline = time.monotonic() + timeout
    state = await index_entries(broker, scenario)
    while unsettled(state) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        state = await index_entries(broker, scenario)
    return state


async def wait_until_indexed(broker: EmbeddedBroker, scenario: Scenario, count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(len(entries) for entries in (await index_entries(broker, scenario)).values()) < count:
        assert time.monotonic() < deadline, "listeners were not indexed in time"
        await asyncio.sleep(0.3)


async def test_pizza_example_runs_200_orders_end_to_end(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        order_service(broker, scenario) as service,
    ):
        await start("w1", PIZZA_APP).wait_ready()
        async with client(scenario, broker, _pizza(scenario)) as template:
            ids = await asyncio.gather(
                *(
                    template.create_instance(
                        uuid.uuid4(), "order_id", submit_task=True, order_id=f"p-{n}"
                    )
                    for n in range(200)
                )
            )
        finished = await updates.wait_finished(200, timeout=180)
        assert service.orders_seen >= 200

        def for_finished(index: dict[str, list[list[Any]]]) -> bool:
            return any(entry[0] in finished for entries in index.values() for entry in entries)

        remaining = await settled_index(broker, scenario, for_finished)
    assert {instance.id for instance in ids} == set(finished)
    for document in finished.values():
        assert document["status"] == "COMPLETED", document
        assert document["runtime_parameters"]["statuses"] == ["COOKING", "READY"]
        assert document["runtime_parameters"]["driver"]
    assert not for_finished(remaining)


async def test_reply_before_the_listener_registers_still_completes(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with listener_worker(broker, tmp_path) as (scenario, updates):
        await send_messages(
            broker, scenario.listen_topic, [({"ref": "early-1", "note": "early"}, None)]
        )
        await asyncio.sleep(2.0)  # the message is routed and held before the instance exists
        async with client(scenario, broker, _templates(scenario)) as templates:
            instance = await templates["waiter"].create_instance(
                uuid.uuid4(), "ref", submit_task=True, ref="early-1"
            )
        document = await wait_for_status(updates, instance.id, "COMPLETED")
    assert document["runtime_parameters"]["seen"] == ["early"]


async def test_a_duplicated_reply_runs_nothing_twice(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with listener_worker(broker, tmp_path) as (scenario, updates):
        async with client(scenario, broker, _templates(scenario)) as templates:
            instance = await templates["waiter"].create_instance(
                uuid.uuid4(), "ref", submit_task=True, ref="dup-1"
            )
        await wait_until_indexed(broker, scenario, 1)
        first = {"ref": "dup-1", "done": False, "note": "first"}
        await send_messages(
            broker,
            scenario.listen_topic,
            [(first, {"message-id": b"m-1"}), (first, {"message-id": b"m-1"})],
        )
        await asyncio.sleep(1.5)
        await send_messages(
            broker, scenario.listen_topic, [({"ref": "dup-1", "note": "last"}, None)]
        )
        document = await wait_for_status(updates, instance.id, "COMPLETED")
    assert document["runtime_parameters"]["seen"] == ["first", "last"]
    assert sum(document["runtime_parameters"]["calls"].values()) == 2


async def test_one_message_completes_100_waiting_instances(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with listener_worker(broker, tmp_path) as (scenario, updates):
        async with client(scenario, broker, _templates(scenario)) as templates:
            await asyncio.gather(
                *(
                    templates["waiter"].create_instance(
                        uuid.uuid4(), "ref", submit_task=True, ref="batch-7"
                    )
                    for _ in range(100)
                )
            )
        await wait_until_indexed(broker, scenario, 100)
        await send_messages(broker, scenario.listen_topic, [({"ref": "batch-7"}, None)])
        finished = await updates.wait_finished(100, timeout=90)
        remaining = await settled_index(broker, scenario, bool)
    assert all(document["status"] == "COMPLETED" for document in finished.values())
    assert remaining == {}


async def test_a_key_changed_by_on_message_reroutes_the_next_message(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with listener_worker(broker, tmp_path) as (scenario, updates):
        async with client(scenario, broker, _templates(scenario)) as templates:
            instance = await templates["waiter"].create_instance(
                uuid.uuid4(), "ref", submit_task=True, ref="r-1"
            )
        await wait_until_indexed(broker, scenario, 1)
        await send_messages(
            broker, scenario.listen_topic, [({"ref": "r-1", "next_ref": "r-2"}, None)]
        )
        await updates.wait_until(
            lambda u: (
                u.latest.get(instance.id, {}).get("runtime_parameters", {}).get("ref") == "r-2"
            ),
            60,
            "the re-keyed instance",
        )
        await asyncio.sleep(1.0)
        await send_messages(
            broker, scenario.listen_topic, [({"ref": "r-1", "note": "stale"}, None)]
        )
        await asyncio.sleep(1.5)
        assert updates.latest[instance.id]["status"] == "EXECUTING"
        await send_messages(broker, scenario.listen_topic, [({"ref": "r-2", "note": "new"}, None)])
        document = await wait_for_status(updates, instance.id, "COMPLETED")
    assert document["runtime_parameters"]["seen"] == ["r-1", "new"]


async def test_skip_to_and_reprocess(broker: EmbeddedBroker, tmp_path: Path) -> None:
    async with listener_worker(broker, tmp_path) as (scenario, updates):
        async with client(scenario, broker, _templates(scenario)) as templates:
            skipper = await templates["skipper"].create_instance(
                uuid.uuid4(), "ref", submit_task=True, ref="s-1"
            )
            reprocessor = await templates["reprocessor"].create_instance(
                uuid.uuid4(), "ref", submit_task=True, ref="rp-1"
            )
        await wait_until_indexed(broker, scenario, 3)
        await send_messages(broker, scenario.listen_topic_b, [({"ref": "s-1", "note": "b"}, None)])
        skipped = await wait_for_status(updates, skipper.id, "COMPLETED")

        await send_messages(broker, scenario.listen_topic, [({"ref": "rp-1", "note": "a1"}, None)])
        await updates.wait_until(
            lambda u: (
                tasks_of(u.latest.get(reprocessor.id, {"tasks": []}))
                .get("first_listener_task", {})
                .get("status")
                == "COMPLETED"
            ),
            60,
            "the first listener",
        )
        await send_messages(broker, scenario.listen_topic, [({"ref": "rp-1", "note": "a2"}, None)])
        await updates.wait_until(
            lambda u: u.latest[reprocessor.id]["runtime_parameters"].get("seen") == ["a1", "a2"],
            60,
            "the reprocessed message",
        )
        await send_messages(broker, scenario.listen_topic_b, [({"ref": "rp-1", "note": "b"}, None)])
        reprocessed = await wait_for_status(updates, reprocessor.id, "COMPLETED")
        remaining = await settled_index(broker, scenario, bool)
    skipped_tasks = tasks_of(skipped)
    assert skipped_tasks["first_listener_task"]["status"] == "SKIPPED"
    assert skipped_tasks["second_listener_task"]["status"] == "COMPLETED"
    assert skipped["runtime_parameters"]["finished"] is True
    assert reprocessed["runtime_parameters"]["seen"] == ["a1", "a2", "b"]
    assert reprocessed["runtime_parameters"]["calls"]["first_listener_task"] == 2
    assert remaining == {}


async def test_poison_messages_go_to_the_dead_letter_topic(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with listener_worker(broker, tmp_path) as (scenario, updates):
        async with client(scenario, broker, _templates(scenario)) as templates:
            good_1, poisoned, good_2 = [
                await templates["waiter"].create_instance(
                    uuid.uuid4(), "ref", submit_task=True, ref=ref
                )
                for ref in ("ok-1", "boom-1", "ok-2")
            ]
        await wait_until_indexed(broker, scenario, 3)
        await send_messages(
            broker,
            scenario.listen_topic,
            [
                (b"{not json", None),
                ({"ref": "ok-1"}, None),
                ([1, 2, 3], None),
                ({"no_ref": True}, None),
                ({"ref": "boom-1", "explode": True}, None),
                ({"ref": "ok-2"}, None),
            ],
        )
        await wait_for_status(updates, good_1.id, "COMPLETED")
        await wait_for_status(updates, good_2.id, "COMPLETED")
        letters = [
            json.loads(record.value)
            for record in await read_topic(broker, scenario.dead_letter_topic)
        ]
        await asyncio.sleep(0.5)
        await updates.poll()
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons == [
        "key_extraction_failed",
        "key_extraction_failed",
        "on_message_raised",
        "undecodable",
    ]
    for letter in letters:
        assert letter["origin"]["topic"] == scenario.listen_topic
        assert isinstance(letter["origin"]["offset"], int) and isinstance(
            letter["origin"]["partition"], int
        )
        assert letter["error_type"] and letter["error_message"]
    raised = next(letter for letter in letters if letter["reason"] == "on_message_raised")
    assert raised["error_type"] == "RuntimeError" and "boom-1" in raised["error_message"]
    poisoned_document = updates.latest[poisoned.id]
    assert poisoned_document["status"] == "EXECUTING"
    assert "calls" not in poisoned_document["runtime_parameters"]


async def test_sigkill_during_400_pizzas_applies_each_reply_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    total = 400
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
        order_service(broker, scenario),
    ):
        first = start("first", PIZZA_APP)
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
        await updates.wait_until(lambda u: len(u.finished()) >= 50, 120, "the first completions")
        first.kill()
        killed_at = time.monotonic()
        await updates.poll()
        done_at_kill = len(updates.finished())
        assert done_at_kill < total, "everything finished before the kill"
        await start("second", PIZZA_APP).wait_ready()
        finished = await updates.wait_finished(total, timeout=240)
        recovered_after = time.monotonic() - killed_at
    for document in finished.values():
        assert document["status"] == "COMPLETED", document
        assert document["runtime_parameters"]["statuses"] == ["COOKING", "READY"], document
    print(
        f"\npizza kill test: {total - done_at_kill} of {total} in flight at SIGKILL; "
        f"all COMPLETED {recovered_after:.1f}s after the kill, each reply applied once"
    )
