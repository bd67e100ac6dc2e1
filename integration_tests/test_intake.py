"""The intake topic, driven by kafka-python (a Kafka client we did not write).

A JSON record starts an instance that completes; a redelivered record (same
``message-id``) and a repeated id with the same params start nothing more; a bad record
and an id reused with other params land in the dead letters with their reasons.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, Updates, workers

pytestmark = pytest.mark.integration


def produce(
    broker: EmbeddedBroker, topic: str, records: list[tuple[bytes, dict[str, str]]]
) -> None:
    """Send ``(value, headers)`` records with kafka-python; wait until the broker has each."""
    from kafka import KafkaProducer  # here: importing it warns (DeprecationWarning)

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    try:
        for value, headers in records:
            encoded = [(name, text.encode()) for name, text in headers.items()]
            producer.send(topic, value=value, headers=encoded).get(timeout=30)
    finally:
        producer.close(timeout=10)


def dead_letters(broker: EmbeddedBroker, topic: str, count: int, timeout: float) -> list[Any]:
    """Read dead letters with kafka-python until ``count`` came or ``timeout`` passed."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    letters: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(letters) < count and time.monotonic() < deadline:
            letters.extend(json.loads(message.value) for message in consumer)
    finally:
        consumer.close()
    return letters


def intake(template: str, **fields: Any) -> bytes:
    return json.dumps({"template": template, **fields}).encode()


async def test_a_non_python_producer_starts_workflows(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    topic = scenario.intake_topic
    async with (
        workers(scenario, broker) as start,
        Updates(broker, scenario.update_topic) as updates,
    ):
        worker = start("w1")
        await worker.wait_ready()
        first = intake("orders", partition_key="order_id", params={"order_id": "o-1"})
        await asyncio.to_thread(
            produce,
            broker,
            topic,
            [
                (first, {"message-id": "m-1"}),
                (first, {"message-id": "m-1"}),  # redelivered: one instance
                (intake("orders", id="fixed-1", params={"order_id": "o-2"}), {}),
            ],
        )
        finished = await updates.wait_finished(2, timeout=60)
        assert {doc["partition_key"] for doc in finished.values()} == {"o-1", "fixed-1"}
        assert all(doc["status"] == "COMPLETED" for doc in finished.values())

        await asyncio.to_thread(
            produce,
            broker,
            topic,
            [
                (b"{not json", {"message-id": "bad-1"}),
                (intake("no_such_template", params={}), {}),
                (intake("orders", id="fixed-1", params={"order_id": "o-2"}), {}),  # a repeat
                (intake("orders", id="fixed-1", params={"order_id": "o-3"}), {}),  # a conflict
            ],
        )
        letters = await asyncio.to_thread(dead_letters, broker, scenario.dead_letter_topic, 3, 60.0)
        await asyncio.sleep(1.0)
        await updates.poll()
        log = worker.log_text()
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons == ["id_reused", "intake_not_json", "intake_unknown_template"], log[-3000:]
    by_reason = {letter["reason"]: letter for letter in letters}
    assert by_reason["intake_not_json"]["origin"]["topic"] == topic
    assert "differing: order_id" in by_reason["id_reused"]["error_message"]
    assert "no_such_template" in by_reason["intake_unknown_template"]["error_message"]
    assert len(updates.latest) == 2  # nothing else was started
    assert updates.latest["fixed-1"]["runtime_parameters"]["order_id"] == "o-2"
