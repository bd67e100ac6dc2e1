"""Record positions and the records the dead-letter tools read and write."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from dagger.ops._errors import InvalidDeadLetterIdError

__all__ = ["OutgoingRecord", "Position", "StoredRecord", "TopicLink"]

_POSITION = re.compile(r"^\s*(\d+):(\d+)\s*$")

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, order=True)
class Position:
    """A record's place in a topic, written ``partition:offset``: a dead letter's id."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: object, what: str = "dead-letter id") -> Position:
        """Parse ``partition:offset``; raise :class:`InvalidDeadLetterIdError` otherwise."""
        match = _POSITION.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidDeadLetterIdError(text, what)
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class StoredRecord:
    """A record read from a topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None

    @property
    def position(self) -> Position:
        """Where the record is."""
        return Position(self.partition, self.offset)


@dataclass(frozen=True)
class OutgoingRecord:
    """A record to send; ``partition=None`` lets the producer's partitioner choose."""

    key: bytes | None
    value: bytes | None
    headers: Headers = field(default=())
    partition: int | None = None


class TopicLink(Protocol):
    """The few broker operations the dead-letter tools need (aiokafka in production)."""

    async def start(self) -> None:
        """Connect to the broker."""

    async def stop(self) -> None:
        """Disconnect; safe to call when not started."""

    async def partitions(self, topic: str) -> list[int] | None:
        """Return the partition numbers of ``topic``, or None if it does not exist."""

    async def bounds(self, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        """Return ``partition -> (first offset, end offset)``, end being one past the last."""

    def read(
        self, topic: str, partition: int, start: int, end: int
    ) -> AsyncGenerator[list[StoredRecord], None]:
        """Yield the records with ``start <= offset < end`` in batches, in offset order."""

    async def send(self, topic: str, records: Sequence[OutgoingRecord]) -> list[Position]:
        """Send ``records`` in order, wait until the broker has every one; return where."""

    async def create_compacted_topic(self, topic: str) -> None:
        """Create a one-partition compacted topic unless it exists."""
