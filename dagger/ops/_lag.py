"""A consumer group's lag: for each partition it committed, the end offset minus the commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from dagger.ops._kafka_link import kafka_errors_translated

__all__ = ["consumer_lag"]


async def consumer_lag(
    bootstrap_servers: Sequence[str], group_id: str, *, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Return ``{"topic", "partition", "committed", "end", "lag"}`` for each committed partition.

    Read with a group-less consumer and an admin client of their own, so looking never
    joins, rebalances or commits anything. Sorted by topic and partition.

    Raises:
        BrokerUnavailableError: the broker cannot be reached.
    """
    servers = list(bootstrap_servers)
    timeout_ms = int(timeout * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=timeout_ms)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id=None, request_timeout_ms=timeout_ms
    )
    with kafka_errors_translated(servers):
        await admin.start()
        try:
            await consumer.start()
            try:
                committed = await admin.list_consumer_group_offsets(group_id)
                positions = {
                    partition: meta.offset
                    for partition, meta in committed.items()
                    if meta is not None and meta.offset >= 0
                }
                ends = await consumer.end_offsets(list(positions)) if positions else {}
            finally:
                await consumer.stop()
        finally:
            await admin.close()
    rows = [
        {
            "topic": partition.topic,
            "partition": partition.partition,
            "committed": offset,
            "end": ends.get(partition),
            "lag": max(0, ends[partition] - offset) if partition in ends else None,
        }
        for partition, offset in positions.items()
    ]
    return sorted(rows, key=lambda row: (row["topic"], row["partition"]))
