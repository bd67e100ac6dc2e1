"""The dead-letter tools' broker operations, on aiokafka (no consumer group, no commits)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from dagger.ops._errors import BrokerUnavailableError, DeadLetterError
from dagger.ops._records import OutgoingRecord, Position, StoredRecord

__all__ = ["KafkaLink", "kafka_errors_translated"]

_Client = TypeVar("_Client")
_BATCH_RECORDS = 500
_POLL_MS = 200
# Kafka's error code for a topic that exists already, as create_topics reports it.
_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


class KafkaLink:
    """Reads partitions by offset and sends records with aiokafka.

    The consumer has no group: it assigns itself one partition at a time and seeks, so
    reading never joins, rebalances or commits anything. Topics are looked up in the
    cluster's full metadata, which never auto-creates a topic (a metadata request naming
    a topic may, on brokers with ``auto.create.topics.enable``).
    """

    def __init__(self, bootstrap_servers: Sequence[str], *, client_id: str, timeout: float) -> None:
        self._servers = list(bootstrap_servers)
        self._client_id = client_id
        self._timeout = timeout
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def start(self) -> None:
        """Connect the consumer, the producer and the admin client."""
        if self._consumer is not None:
            return
        timeout_ms = int(self._timeout * 1000)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=timeout_ms,
            fetch_max_wait_ms=50,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            acks="all",
            request_timeout_ms=timeout_ms,
        )
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            request_timeout_ms=timeout_ms,
        )
        try:
            await consumer.start()
            await producer.start()
            await admin.start()
        except KafkaError as exc:
            await _quietly_stop(consumer, producer, admin)
            raise BrokerUnavailableError(
                f"cannot reach the Kafka broker at {', '.join(self._servers)}: {exc}"
            ) from exc
        self._consumer, self._producer, self._admin = consumer, producer, admin

    async def stop(self) -> None:
        """Disconnect; safe to call when not started."""
        clients = self._consumer, self._producer, self._admin
        self._consumer = self._producer = self._admin = None
        await _quietly_stop(*clients)

    async def partitions(self, topic: str) -> list[int] | None:
        """Return the partition numbers of ``topic``, or None if it does not exist."""
        admin = self._started(self._admin)
        # Listing every topic never creates one; describing a missing topic may.
        if topic not in await admin.list_topics():
            return None
        [described] = await admin.describe_topics([topic])
        return sorted(partition["partition"] for partition in described["partitions"])

    async def bounds(self, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        """Return ``partition -> (first offset, end offset)``."""
        consumer = self._started(self._consumer)
        tps = [TopicPartition(topic, partition) for partition in partitions]
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        return {tp.partition: (first[tp], end[tp]) for tp in tps}

    async def read(
        self, topic: str, partition: int, start: int, end: int
    ) -> AsyncGenerator[list[StoredRecord], None]:
        """Yield the records with ``start <= offset < end`` in batches, in offset order."""
        if start >= end:
            return
        consumer = self._started(self._consumer)
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        last_progress = time.monotonic()
        while True:
            batches = await consumer.getmany(tp, timeout_ms=_POLL_MS, max_records=_BATCH_RECORDS)
            records = [
                _stored(message) for message in batches.get(tp, []) if start <= message.offset < end
            ]
            if records:
                last_progress = time.monotonic()
                yield records
            # Offsets may have gaps (compaction, transaction markers): the position says
            # how far the partition has been read, whatever the offsets of its records.
            if await consumer.position(tp) >= end:
                return
            if time.monotonic() - last_progress > self._timeout:
                raise DeadLetterError(
                    f"reading {topic}[{partition}] made no progress for {self._timeout:g}s "
                    f"before offset {end}"
                )

    async def send(self, topic: str, records: Sequence[OutgoingRecord]) -> list[Position]:
        """Send ``records`` in order and wait until the broker has every one."""
        producer = self._started(self._producer)
        pending = [
            await producer.send(
                topic,
                value=record.value,
                key=record.key,
                partition=record.partition,
                headers=list(record.headers),
            )
            for record in records
        ]
        delivered = await asyncio.gather(*pending)
        return [Position(metadata.partition, metadata.offset) for metadata in delivered]

    async def create_compacted_topic(self, topic: str) -> None:
        """Create a one-partition compacted topic unless it exists."""
        admin = self._started(self._admin)
        response = await admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})]
        )
        for result in response.to_object()["topic_errors"]:
            if result["error_code"] not in (0, _TOPIC_ALREADY_EXISTS):
                raise DeadLetterError(
                    f"could not create topic {topic!r}: error {result['error_code']} "
                    f"{result.get('error_message') or ''}".rstrip()
                )

    @staticmethod
    def _started(client: _Client | None) -> _Client:
        if client is None:
            raise RuntimeError("the broker link is not started; call start() first")
        return client


def _stored(message: Any) -> StoredRecord:
    return StoredRecord(
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple((name, bytes(value)) for name, value in message.headers or ()),
        timestamp_ms=message.timestamp,
    )


async def _quietly_stop(
    consumer: AIOKafkaConsumer | None,
    producer: AIOKafkaProducer | None,
    admin: AIOKafkaAdminClient | None,
) -> None:
    with contextlib.suppress(KafkaError):
        if producer is not None:
            await producer.stop()
    with contextlib.suppress(KafkaError):
        if consumer is not None:
            await consumer.stop()
    with contextlib.suppress(KafkaError):
        if admin is not None:
            await admin.close()


@contextlib.contextmanager
def kafka_errors_translated(servers: Sequence[str]) -> Iterator[None]:
    """Turn aiokafka's errors into :class:`DeadLetterError`s that say what failed."""
    try:
        yield
    except KafkaConnectionError as exc:
        raise BrokerUnavailableError(
            f"lost the Kafka broker at {', '.join(servers)}: {exc}"
        ) from exc
    except KafkaError as exc:
        raise DeadLetterError(f"the Kafka broker refused the operation: {exc}") from exc
