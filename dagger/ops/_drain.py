"""Moving every record of one topic to another, resumably."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection
from typing import Any

from dagger.ops._marks import MarkBook, Marks
from dagger.ops._records import OutgoingRecord, Position, TopicLink

__all__ = ["Progress", "drain_topic"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a long operation runs."""


async def drain_topic(
    link: TopicLink,
    book: MarkBook,
    marks: Marks,
    *,
    source: str,
    source_partitions: list[int],
    destination: str,
    destination_partitions: Collection[int],
    skip: Collection[Position] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Copy the records of ``source`` not drained yet to ``destination``; return a report.

    Kafka cannot delete records, so a drain copies each record (key, value, headers) and
    then writes a ``drained`` mark for its partition: the next drain starts where this one
    stopped, and a drained dead-letter topic lists nothing below the mark. A record keeps
    its partition number when the destination has it; otherwise the producer's
    partitioner places it by key. Copies and marks are written batch by batch, so a drain
    that is interrupted moves each record at least once when it is run again.
    """
    bounds = await link.bounds(source, source_partitions)
    ranges = {
        partition: (max(first, marks.drained_below(source, partition)), end)
        for partition, (first, end) in bounds.items()
    }
    total = sum(max(0, end - start) for start, end in ranges.values())
    moved = skipped = done = 0
    if progress is not None:
        progress(0, total)
    for partition in source_partitions:
        start, end = ranges[partition]
        if start >= end:
            continue
        target = partition if partition in destination_partitions else None
        async with contextlib.aclosing(link.read(source, partition, start, end)) as batches:
            async for batch in batches:
                records = [
                    OutgoingRecord(record.key, record.value, record.headers, target)
                    for record in batch
                    if record.position not in skip
                ]
                if records:
                    await link.send(destination, records)
                moved += len(records)
                skipped += len(batch) - len(records)
                done = min(total, done + (batch[-1].offset + 1 - start))
                start = batch[-1].offset + 1
                await book.drained(source, partition, start, _mark(destination))
                if progress is not None:
                    progress(done, total)
        if start < end:
            # The partition ended in a gap of offsets (compaction, transaction markers).
            await book.drained(source, partition, end, _mark(destination))
    if progress is not None:
        progress(total, total)
    return {
        "source": source,
        "destination": destination,
        "moved": moved,
        "skipped_purged": skipped,
        "total": total,
    }


def _mark(destination: str) -> dict[str, Any]:
    return {"time": time.time(), "destination": destination}
