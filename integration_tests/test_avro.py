"""Avro command and listener topics on the real embedded broker, with a registry stand-in.

No schema registry can be installed here, so the worker and this test talk to
:class:`dagger.testing.SchemaRegistryStandIn` (an HTTP server on 127.0.0.1 implementing
only register and fetch-by-id); that is the one thing not real in these tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dagger.serializers.avro import AvroMessageSerializer, SchemaRegistryClient, unframe
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker, SchemaRegistryStandIn
from integration_tests._harness import Scenario, Updates, read_topic, send_messages, workers
from integration_tests.apps.avro_workflows import STATUS, build_avro_template

pytestmark = pytest.mark.integration

AVRO_APP = "integration_tests.apps.avro_app"


@dataclass
class AvroScenario(Scenario):
    """A scenario whose workers use the schema registry at ``registry_url``."""

    registry_url: str = ""

    def env(self, broker: EmbeddedBroker, worker_name: str) -> dict[str, str]:
        return dict(super().env(broker, worker_name), TEST_SCHEMA_REGISTRY_URL=self.registry_url)

    @property
    def commands(self) -> str:
        return self.requests_topic

    @property
    def replies(self) -> str:
        return self.listen_topic


class AvroOrderService:
    """A simulated order service speaking Avro: answers each order COOKING, then READY."""

    def __init__(self, broker: EmbeddedBroker, scenario: AvroScenario) -> None:
        self._consumer = AIOKafkaConsumer(
            scenario.commands,
            bootstrap_servers=broker.bootstrap_servers,
            group_id=f"{scenario.app_id}-avro-service",
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        self._replies = scenario.replies
        self._serializer = AvroMessageSerializer(SchemaRegistryClient(scenario.registry_url))
        self.orders: list[dict[str, Any]] = []

    async def run(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    for message in messages:
                        await self._answer(message.value)
        finally:
            await self._consumer.stop()
            await self._producer.stop()

    async def _answer(self, raw: bytes) -> None:
        order = self._serializer.decode_message(raw)
        self.orders.append(order)
        key = self._serializer.encode_record_with_schema(
            f"{self._replies}-key", "string", order["order_id"]
        )
        for status in ("COOKING", "READY"):
            value = self._serializer.encode_record_with_schema(
                f"{self._replies}-value", STATUS, {"order_id": order["order_id"], "status": status}
            )
            await self._producer.send_and_wait(self._replies, value, key=key)


@contextlib.asynccontextmanager
async def avro_worker(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[tuple[AvroScenario, SchemaRegistryStandIn, Updates]]:
    """A registry stand-in, a ready worker of the Avro app on fresh topics, and its updates."""
    with SchemaRegistryStandIn() as registry:
        scenario = AvroScenario(tmp_path, registry_url=registry.url)
        await broker.acreate_topics(scenario.topics())
        async with (
            workers(scenario, broker) as start,
            Updates(broker, scenario.update_topic) as updates,
        ):
            await start("w1", AVRO_APP).wait_ready()
            yield scenario, registry, updates


@contextlib.asynccontextmanager
async def serving(service: AvroOrderService) -> AsyncIterator[AvroOrderService]:
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def create_orders(
    broker: EmbeddedBroker, scenario: AvroScenario, orders: dict[str, int]
) -> list[str]:
    """Create and submit one instance per ``order_id: quantity`` from an Avro client engine."""
    engine = Dagger(
        broker=broker.url,
        store="memory://",
        application_name=f"{scenario.app_id}-client",
        kafka_partitions=scenario.partitions,
        tasks_topic=scenario.tasks_topic,
        schema_registry_url=scenario.registry_url,
    )
    try:
        template = build_avro_template(engine, scenario.commands, scenario.replies)
        instances = [
            await template.create_instance(
                uuid.uuid4(), "order_id", submit_task=True, order_id=order_id, quantity=quantity
            )
            for order_id, quantity in orders.items()
        ]
    finally:
        await engine.faust_app.producer.stop()
    return [instance.id for instance in instances]


def schema_id_of(registry: SchemaRegistryStandIn, subject: str) -> int:
    [schema_id] = registry.subjects()[subject]
    return schema_id


async def test_an_avro_command_and_an_avro_reply_complete_the_workflow(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    orders = {"a-1": 1, "a-2": 2, "a-3": 3}
    async with avro_worker(broker, tmp_path) as (scenario, registry, updates):
        async with serving(AvroOrderService(broker, scenario)) as service:
            ids = await create_orders(broker, scenario, orders)
            finished = await updates.wait_finished(len(orders), timeout=120)
        commands = await read_topic(broker, scenario.commands)
        replies = await read_topic(broker, scenario.replies)
        letters = await read_topic(broker, scenario.dead_letter_topic, settle=0.5)

    assert set(finished) == set(ids)
    for document in finished.values():
        assert document["status"] == "COMPLETED", document
        assert document["runtime_parameters"]["statuses"] == ["COOKING", "READY"]
        assert document["runtime_parameters"]["finished"] is True
    assert sorted(service.orders, key=lambda order: order["order_id"]) == [
        {"order_id": order_id, "quantity": quantity} for order_id, quantity in orders.items()
    ]
    # The raw bytes on both topics: magic byte 0, then the id the registry gave each subject.
    value_id = schema_id_of(registry, f"{scenario.commands}-value")
    key_id = schema_id_of(registry, f"{scenario.commands}-key")
    assert len(commands) == len(orders)
    for record in commands:
        assert record.value[0] == 0 and unframe(record.value)[0] == value_id
        assert record.key[0] == 0 and unframe(record.key)[0] == key_id
    reply_id = schema_id_of(registry, f"{scenario.replies}-value")
    assert len(replies) == 2 * len(orders)
    for record in replies:
        assert record.value[:5] == b"\x00" + reply_id.to_bytes(4, "big")
    assert letters == []


async def test_a_malformed_avro_reply_goes_to_the_dead_letter_topic(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with avro_worker(broker, tmp_path) as (scenario, _registry, updates):
        [instance_id] = await create_orders(broker, scenario, {"m-1": 1})
        replier = AvroMessageSerializer(SchemaRegistryClient(scenario.registry_url))
        ready = replier.encode_record_with_schema(
            f"{scenario.replies}-value", STATUS, {"order_id": "m-1", "status": "READY"}
        )
        unknown_id = 7777
        malformed = [
            b"\x05" + ready[1:],  # not the magic byte
            b"\x00" + unknown_id.to_bytes(4, "big") + ready[5:],  # no such schema
            ready[:-2],  # body cut short
        ]
        await send_messages(broker, scenario.replies, [(raw, None) for raw in malformed])
        await send_messages(broker, scenario.replies, [(ready, None)])
        await updates.wait_until(
            lambda u: u.latest.get(instance_id, {}).get("status") == "COMPLETED",
            60,
            "the instance to complete after the malformed replies",
        )
        letters = [
            json.loads(record.value)
            for record in await read_topic(broker, scenario.dead_letter_topic)
        ]

    assert updates.latest[instance_id]["runtime_parameters"]["statuses"] == ["READY"]
    assert len(letters) == 3
    by_value = {base64.b64decode(letter["value"]): letter for letter in letters}
    assert set(by_value) == set(malformed)
    assert by_value[malformed[0]]["error_type"] == "MalformedAvroMessage"
    assert "magic byte" in by_value[malformed[0]]["error_message"]
    assert by_value[malformed[1]]["error_type"] == "SchemaNotFound"
    assert by_value[malformed[2]]["error_type"] == "MalformedAvroMessage"
    for letter in letters:
        assert letter["reason"] == "undecodable"
        assert letter["origin"]["topic"] == scenario.replies
        assert isinstance(letter["origin"]["offset"], int)
