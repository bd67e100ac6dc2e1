"""An in-memory stand-in for the broker operations of the dead-letter tools (unit tests only).

It keeps each topic's partitions as lists of records with Kafka's offsets, including a
first offset that retention may have moved, and serves reads in small batches so the
batch handling is exercised.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from dagger.ops._records import OutgoingRecord, Position, StoredRecord


@dataclass
class MemoryPartition:
    records: list[StoredRecord] = field(default_factory=list)
    first: int = 0

    @property
    def end(self) -> int:
        return self.records[-1].offset + 1 if self.records else self.first


class MemoryLink:
    """The TopicLink protocol over dicts; ``batch_size`` records per read batch."""

    def __init__(self, batch_size: int = 2) -> None:
        self.topics: dict[str, list[MemoryPartition]] = {}
        self.compacted: set[str] = set()
        self.batch_size = batch_size
        self.started = False
        self.starts = 0

    def create(self, topic: str, partitions: int) -> None:
        self.topics[topic] = [MemoryPartition() for _ in range(partitions)]

    def append(self, topic: str, partition: int, record: OutgoingRecord) -> Position:
        log = self.topics[topic][partition]
        offset = log.end
        log.records.append(
            StoredRecord(partition, offset, record.key, record.value, record.headers, 1_000_000)
        )
        return Position(partition, offset)

    def expire(self, topic: str, partition: int, below: int) -> None:
        """Drop the records below ``below``, as retention does."""
        log = self.topics[topic][partition]
        log.records = [record for record in log.records if record.offset >= below]
        log.first = below

    def values(self, topic: str) -> list[bytes | None]:
        return [record.value for log in self.topics[topic] for record in log.records]

    async def start(self) -> None:
        self.started = True
        self.starts += 1

    async def stop(self) -> None:
        self.started = False

    async def partitions(self, topic: str) -> list[int] | None:
        assert self.started
        if topic not in self.topics:
            return None
        return list(range(len(self.topics[topic])))

    async def bounds(self, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        logs = self.topics[topic]
        return {partition: (logs[partition].first, logs[partition].end) for partition in partitions}

    async def read(
        self, topic: str, partition: int, start: int, end: int
    ) -> AsyncGenerator[list[StoredRecord], None]:
        records = [r for r in self.topics[topic][partition].records if start <= r.offset < end]
        for index in range(0, len(records), self.batch_size):
            yield records[index : index + self.batch_size]

    async def send(self, topic: str, records: Sequence[OutgoingRecord]) -> list[Position]:
        assert topic in self.topics, f"send to missing topic {topic}"
        count = len(self.topics[topic])
        return [
            self.append(
                topic,
                record.partition
                if record.partition is not None
                else zlib.crc32(record.key or b"") % count,
                record,
            )
            for record in records
        ]

    async def create_compacted_topic(self, topic: str) -> None:
        if topic not in self.topics:
            self.create(topic, 1)
            self.compacted.add(topic)
