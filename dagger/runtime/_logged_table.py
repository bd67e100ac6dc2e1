"""A faust table whose store the engine writes, and whose changelog it sends, itself.

A faust table write (``table[key] = value``) sends its changelog record through faust's
``Topic`` layer (a pending message, a future message, the producer buffer and the task
that empties it, sensor callbacks) and writes the persisted offset to the store when the
broker has it: per write, a few times what the write itself costs. The engine writes a
table once per key per batch (:class:`~dagger.runtime._staging.StagedStore` keeps only a
key's last write), so :class:`LoggedTable` writes the store at once and queues the record;
:meth:`LoggedTable.send_changelog_queue`, at the end of the batch's commit, hands the queued
records to the producer in order and keeps each partition's persisted offset once, from
its last record.

What a crash can do is unchanged: faust's records also waited in its buffer after the
store was written, and the batch is acked only once the queue is handed to the producer,
which faust flushes before it commits the batch's offsets. A crash in between replays the
batch, and a replayed event writes its instance (and its derived state) again. Recovery
reads the same records: the same key, value and partition faust would have sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Iterator, MutableMapping
from typing import Any

from dagger.runtime._records import RecordSender

__all__ = ["LoggedTable"]

logger = logging.getLogger(__name__)


class LoggedTable(MutableMapping[bytes, bytes]):
    """The store of the engine's faust ``table``; its changelog records go out in batches.

    ``table`` is of the engine's table class (its app's ``Table``, which the engine sets:
    it offers ``write_store`` and ``changelog_sent``); writes are made in a current
    event, whose partition is the record's.
    """

    def __init__(self, app: Any, table: Any) -> None:
        self._table = table
        self._records = RecordSender(app, table.changelog_topic_name)
        self._queued: deque[tuple[int, bytes, bytes | None]] = deque()

    @property
    def queued(self) -> int:
        """How many changelog records wait for :meth:`send_changelog_queue`."""
        return len(self._queued)

    def __getitem__(self, key: bytes) -> bytes:
        value: bytes = self._table.data[key]
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._table.data

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._table.data)

    def __len__(self) -> int:
        return len(self._table.data)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._queued.append((self._table.write_store(key, value), key, value))

    def __delitem__(self, key: bytes) -> None:
        if key not in self._table.data:
            raise KeyError(key)
        self._queued.append((self._table.write_store(key, None), key, None))

    async def send_changelog_queue(self) -> int:
        """Hand the queued records to the producer, in order; return how many.

        A record the producer refuses stops the sending with it and the records after it
        still queued, so sending again carries on where it stopped.
        """
        last_sent: dict[int, Any] = {}
        sent = 0
        while self._queued:
            partition, key, value = self._queued[0]
            last_sent[partition] = await self._records.send(
                key=key, value=value, partition=partition
            )
            self._queued.popleft()
            sent += 1
        for partition, delivery in last_sent.items():
            asyncio.ensure_future(delivery).add_done_callback(
                functools.partial(self._delivered, partition)
            )
        return sent

    def drop_changelog_queue(self) -> int:
        """Forget the queued records (their batch is abandoned); return how many."""
        dropped = len(self._queued)
        self._queued.clear()
        return dropped

    def _delivered(self, partition: int, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled():
            return
        error = delivery.exception()
        if error is not None:
            logger.error(
                "the broker refused a changelog record of %s, partition %s: %r",
                self._records.topic,
                partition,
                error,
            )
            return
        self._table.changelog_sent(partition, delivery.result().offset)
