"""Marks kept beside a dead-letter topic: purged and reinjected letters, drained offsets.

Kafka cannot delete one record from a topic, so "purge" writes a mark instead, and the
tools hide what is marked. The marks live in a one-partition compacted companion topic
(``<dead-letter topic>-marks``), keyed so that compaction keeps exactly the latest mark of
each thing:

- ``purged/<partition>:<offset>``: the dead letter is hidden from listings;
- ``reinjected/<partition>:<offset>``: the dead letter was re-sent, and where to;
- ``drained/<topic>/<partition>``: every record of that partition below the offset was
  moved by a drain; the next drain starts there, and a drained dead-letter topic lists
  nothing below it.

A mark whose record the topic's retention has since deleted is stale; writing a purge
mark also writes a tombstone for each stale mark, so compaction forgets them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagger.ops._errors import InvalidDeadLetterIdError
from dagger.ops._records import OutgoingRecord, Position, TopicLink

__all__ = ["MarkBook", "Marks", "marks_topic_for"]

MARKS_SUFFIX = "-marks"
_PURGED = "purged/"
_REINJECTED = "reinjected/"
_DRAINED = "drained/"


def marks_topic_for(dead_letter_topic: str) -> str:
    """Return the name of the companion topic holding ``dead_letter_topic``'s marks."""
    return f"{dead_letter_topic}{MARKS_SUFFIX}"


@dataclass
class Marks:
    """Every mark currently in the companion topic."""

    purged: dict[Position, dict[str, Any]] = field(default_factory=dict)
    reinjected: dict[Position, dict[str, Any]] = field(default_factory=dict)
    drained: dict[tuple[str, int], int] = field(default_factory=dict)

    def drained_below(self, topic: str, partition: int) -> int:
        """Return the offset below which a drain has moved ``topic[partition]``'s records."""
        return self.drained.get((topic, partition), 0)

    def apply(self, key: str, value: dict[str, Any] | None) -> None:
        """Apply one record of the companion topic (``value=None`` is a tombstone)."""
        if key.startswith(_DRAINED):
            topic, _, partition = key[len(_DRAINED) :].rpartition("/")
            if topic and partition.isdigit():
                if value is None:
                    self.drained.pop((topic, int(partition)), None)
                else:
                    self.drained[(topic, int(partition))] = int(value["offset"])
            return
        for prefix, marks in ((_PURGED, self.purged), (_REINJECTED, self.reinjected)):
            if key.startswith(prefix):
                try:
                    position = Position.parse(key[len(prefix) :])
                except InvalidDeadLetterIdError:
                    return  # not written by these tools: ignore it
                if value is None:
                    marks.pop(position, None)
                else:
                    marks[position] = value
                return


class MarkBook:
    """Reads and writes the marks of one dead-letter topic."""

    def __init__(self, link: TopicLink, topic: str) -> None:
        self._link = link
        self.topic = topic

    async def load(self) -> Marks:
        """Read every mark; no companion topic means no marks."""
        marks = Marks()
        partitions = await self._link.partitions(self.topic)
        if not partitions:
            return marks
        bounds = await self._link.bounds(self.topic, partitions)
        for partition, (first, end) in bounds.items():
            async for batch in self._link.read(self.topic, partition, first, end):
                for record in batch:
                    if record.key is None:
                        continue
                    value = None if record.value is None else json.loads(record.value)
                    marks.apply(record.key.decode(), value)
        return marks

    async def purged(self, position: Position, mark: dict[str, Any], stale: Sequence[str]) -> None:
        """Record that the dead letter at ``position`` is purged; forget ``stale`` keys."""
        await self._write([(key, None) for key in stale] + [(f"{_PURGED}{position}", mark)])

    async def reinjected(self, position: Position, mark: dict[str, Any]) -> None:
        """Record that the dead letter at ``position`` was re-sent, and where to."""
        await self._write([(f"{_REINJECTED}{position}", mark)])

    async def drained(self, topic: str, partition: int, offset: int, mark: dict[str, Any]) -> None:
        """Record that ``topic[partition]`` was drained up to ``offset`` (exclusive)."""
        await self._write([(f"{_DRAINED}{topic}/{partition}", {**mark, "offset": offset})])

    @staticmethod
    def stale_keys(marks: Marks, first_offsets: dict[int, int]) -> list[str]:
        """Return the keys of purge and reinject marks whose records no longer exist."""
        return [
            f"{prefix}{position}"
            for prefix, found in ((_PURGED, marks.purged), (_REINJECTED, marks.reinjected))
            for position in found
            if position.partition not in first_offsets
            or position.offset < first_offsets[position.partition]
        ]

    async def _write(self, entries: list[tuple[str, dict[str, Any] | None]]) -> None:
        if await self._link.partitions(self.topic) is None:
            await self._link.create_compacted_topic(self.topic)
        await self._link.send(
            self.topic,
            [
                OutgoingRecord(
                    key=key.encode(),
                    value=None if value is None else json.dumps(value).encode(),
                    partition=0,
                )
                for key, value in entries
            ],
        )
