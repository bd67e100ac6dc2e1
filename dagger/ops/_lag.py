"""A consumer group's lag: for each partition it committed, the end offset minus the commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from dagger.ops._kafka_link import _quietly_stop, kafka_errors_translated

__all__ = ["consumer_lag"]


async def consumer_lag(
    bootstrap_servers: Sequence[str],
    group_id: str,
    topics: Iterable[str],
    *,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """Return ``{"topic", "partition", "committed", "end", "lag"}`` per committed partition.

    The group's commits are read by a consumer of the group that never subscribes, so
    it never joins the group nor triggers a rebalance, and commits nothing. Partitions
    the group has not committed are left out. Sorted by topic and partition.

    Raises:
        BrokerUnavailableError: the broker cannot be reached.
    """
    servers = list(bootstrap_servers)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        group_id=group_id,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout * 1000),
    )
    rows: list[dict[str, Any]] = []
    with kafka_errors_translated(servers):
        try:
            await consumer.start()
            partitions = [
                TopicPartition(topic, partition)
                for topic in sorted(set(topics))
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            committed = {tp: await consumer.committed(tp) for tp in partitions}
            kept = [tp for tp, offset in committed.items() if offset is not None]
            ends = await consumer.end_offsets(kept) if kept else {}
        finally:
            # Stopped even when it never started (no broker), so nothing is left open.
            await _quietly_stop(consumer, None, None)
    for tp in kept:
        offset = int(committed[tp] or 0)
        end = ends.get(tp)
        rows.append(
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "committed": offset,
                "end": end,
                "lag": None if end is None else max(0, end - offset),
            }
        )
    return rows
