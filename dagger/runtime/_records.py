"""Sending the engine's own records through faust's producer, without its Topic layer.

faust's ``Topic.send`` wraps each record in a pending message, a future message and sensor
callbacks before it reaches the producer: a few percent of the worker's CPU for the
records the engine sends per event (engine-topic events, timer firings, update
documents), whose keys and values are bytes already. The records go to the same producer,
in the same order, so faust's flush before it commits covers them as before; they are not
counted by faust's send sensors.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

__all__ = ["RecordSender"]


class RecordSender:
    """Sends ready-made records to ``topic`` with ``app``'s producer."""

    def __init__(self, app: Any, topic: str) -> None:
        self._app = app
        self.topic = topic

    async def send(
        self, *, key: bytes | None, value: bytes | None, partition: int | None = None
    ) -> Awaitable[Any]:
        """Hand the record to the producer; the result resolves once the broker has it.

        A ``value`` of None is a tombstone (a compacted topic drops the key).
        """
        producer = self._app.producer
        if not producer.started:
            # A client (no worker) sends before anything started the producer.
            producer = await self._app.maybe_start_producer()
        sent: Awaitable[Any] = await producer.send(self.topic, key, value, partition, None, None)
        return sent
