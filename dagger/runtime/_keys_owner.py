"""The owner of correlation keys: the index of waiting listeners and held early messages.

Listeners waiting under a key are stored as a chain of
:class:`~dagger.tasks.task.CorreletableKeyTasks` chunks of at most
``max_correletable_keys_in_values`` entries. An entry is added when a listener starts
waiting and removed when it stops, so a message costs as much as the listeners waiting
for its key. A message whose key has no listener is held for ``early_message_window``
seconds and delivered to the first listener that registers for the key.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dagger.core._codec import dumps, loads
from dagger.core._events import (
    IndexAdded,
    IndexRemoved,
    KeyEvent,
    LogEvent,
    MessageDelivered,
    MessageReceived,
)
from dagger.runtime._dead_letter_writer import EARLY_BUFFER_FULL, DeadLetterWriter
from dagger.runtime._held import ALREADY_HELD, HeldLimits, HeldMessages
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._telemetry import (
    DROPPED_ALREADY_HELD,
    DROPPED_HELD_EXPIRED,
    DROPPED_NO_LISTENER,
    NO_TELEMETRY,
    Telemetry,
    report_dropped,
    report_held,
)
from dagger.tasks._status import CorreletableKeyTasks, CorreletableLookUpKey

logger = logging.getLogger(__name__)

Sender = Callable[[LogEvent, str, int], Awaitable[None]]
"""Append an event to the engine topic: (event, record key, partition)."""
Clock = Callable[[], float]


class KeysOwner:
    """Applies key events to the index and held-message stores of one worker's partitions."""

    def __init__(
        self,
        index: MutableMapping[bytes, bytes],
        held: MutableMapping[bytes, bytes],
        *,
        send: Sender,
        chunk_size: int,
        early_message_window: float,
        clock: Clock = time.time,
        partitions: int = 1,
        held_limits: HeldLimits | None = None,
        dead_letters: DeadLetterWriter | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.index = index
        self._telemetry = telemetry
        self.held = held
        self._send = send
        self.chunk_size = chunk_size
        self.early_message_window = early_message_window
        self._clock = clock
        self._held = HeldMessages(
            held,
            window=early_message_window,
            clock=lambda: self._clock(),
            partition_of=lambda key: partition_for_index_key(key, partitions),
            limits=held_limits,
        )
        self._dead_letters = dead_letters

    async def handle(self, event: KeyEvent, partition: int) -> list[MessageDelivered]:
        """Apply one key event of ``partition``.

        Deliveries to instances of other partitions are sent to their owners; those to
        instances of ``partition`` itself are returned, for the caller to apply at once,
        in order, before the partition's next record.
        """
        if isinstance(event, IndexAdded):
            lookup = CorreletableLookUpKey(
                workflow_id=event.instance_id,
                task_id=event.task_id,
                owner_partition=event.owner_partition,
            )
            held = self.register(event.index_key, lookup)
            return await self._route([(lookup.owner_partition, d) for d in held], partition)
        if isinstance(event, IndexRemoved):
            self.remove(event.index_key, event.instance_id, event.task_id)
            return []
        if not isinstance(event, MessageReceived):
            return []
        lookups = self.lookups(event.index_key)
        if not lookups:
            await self._hold(event)
            return []
        chosen = lookups[:1] if event.match_only_one else lookups
        return await self._route(
            [(lookup.owner_partition, _delivery(event, lookup)) for lookup in chosen], partition
        )

    def register(self, key: str, lookup: CorreletableLookUpKey) -> list[MessageDelivered]:
        """Add ``lookup`` under ``key``; return the deliveries of the messages held for it."""
        self.add(key, lookup)
        return [_delivery(message, lookup) for message in self._take_held(key)]

    async def _route(
        self, deliveries: list[tuple[int, MessageDelivered]], partition: int
    ) -> list[MessageDelivered]:
        local: list[MessageDelivered] = []
        for owner_partition, delivery in deliveries:
            if owner_partition == partition:
                local.append(delivery)
            else:
                await self._send(delivery, delivery.instance_id, owner_partition)
        return local

    # -- the index -------------------------------------------------------------------------
    def chunks(self, key: str) -> list[CorreletableKeyTasks]:
        """Return the chain of chunks stored for ``key``, head first."""
        chain: list[CorreletableKeyTasks] = []
        chunk_key: str | None = key
        while chunk_key is not None:
            chunk = self._read_chunk(chunk_key)
            if chunk is None:
                break
            chain.append(chunk)
            chunk_key = chunk.overflow_key
        return chain

    def lookups(self, key: str) -> list[CorreletableLookUpKey]:
        """Return every listener waiting under ``key``."""
        return [lookup for chunk in self.chunks(key) for lookup in chunk.lookup_keys]

    def add(self, key: str, lookup: CorreletableLookUpKey) -> bool:
        """Add ``lookup`` under ``key`` unless it is there; return whether it was added."""
        chain = self.chunks(key)
        for chunk in chain:
            for existing in chunk.lookup_keys:
                if (existing.workflow_id, existing.task_id) == (lookup.workflow_id, lookup.task_id):
                    return False
        for chunk in chain:
            if len(chunk.lookup_keys) < self.chunk_size:
                chunk.lookup_keys.append(lookup)
                self._write_chunk(chunk)
                return True
        new_chunk = CorreletableKeyTasks(
            key=key if not chain else f"{key}#{uuid.uuid4().hex[:12]}", lookup_keys=[lookup]
        )
        if chain:
            chain[-1].overflow_key = new_chunk.key
            self._write_chunk(chain[-1])
        self._write_chunk(new_chunk)
        return True

    def remove(self, key: str, instance_id: str, task_id: str) -> bool:
        """Remove the listener ``task_id`` of ``instance_id`` from ``key``."""
        chain = self.chunks(key)
        for position, chunk in enumerate(chain):
            kept = [
                lookup
                for lookup in chunk.lookup_keys
                if (lookup.workflow_id, lookup.task_id) != (instance_id, task_id)
            ]
            if len(kept) == len(chunk.lookup_keys):
                continue
            chunk.lookup_keys = kept
            if kept:
                self._write_chunk(chunk)
            elif position == 0:
                self._drop_head(chunk)
            else:
                chain[position - 1].overflow_key = chunk.overflow_key
                self._write_chunk(chain[position - 1])
                del self.index[chunk.key.encode()]
            return True
        return False

    def _drop_head(self, head: CorreletableKeyTasks) -> None:
        if head.overflow_key is None:
            del self.index[head.key.encode()]
            return
        successor = self._read_chunk(head.overflow_key)
        if successor is None:
            del self.index[head.key.encode()]
            return
        del self.index[head.overflow_key.encode()]
        successor.key = head.key
        self._write_chunk(successor)

    def _read_chunk(self, chunk_key: str) -> CorreletableKeyTasks | None:
        raw = self.index.get(chunk_key.encode())
        if raw is None:
            return None
        body = loads(raw)
        return CorreletableKeyTasks(
            key=chunk_key,
            lookup_keys=[
                CorreletableLookUpKey(workflow_id=wf, task_id=task, owner_partition=owner)
                for wf, task, owner in body["l"]
            ],
            overflow_key=body.get("o"),
        )

    def _write_chunk(self, chunk: CorreletableKeyTasks) -> None:
        body: dict[str, Any] = {
            "l": [[lk.workflow_id, lk.task_id, lk.owner_partition] for lk in chunk.lookup_keys]
        }
        if chunk.overflow_key is not None:
            body["o"] = chunk.overflow_key
        self.index[chunk.key.encode()] = dumps(body)

    # -- early messages --------------------------------------------------------------------
    async def _hold(self, message: MessageReceived) -> None:
        if self.early_message_window <= 0:
            logger.info("message %s matched no listener and was dropped", message.event_id)
            report_dropped(self._telemetry, DROPPED_NO_LISTENER)
            return
        refusal = self._held.hold(message)
        if refusal is None:
            report_held(self._telemetry)
        elif refusal == ALREADY_HELD:
            report_dropped(self._telemetry, DROPPED_ALREADY_HELD)
        elif self._dead_letters is not None:
            await self._dead_letters.publish(
                EARLY_BUFFER_FULL, EarlyBufferFull(refusal), message.origin, message.payload
            )

    def held_keys(self) -> list[str]:
        """The index keys that have messages held for a listener to come."""
        return self._held.keys()

    def held_ids(self, index_key: str) -> list[tuple[str, float]]:
        """The ids and expiry times of the messages held for ``index_key``."""
        return self._held.listed(index_key)

    def _take_held(self, index_key: str) -> list[MessageReceived]:
        return self._held.take(index_key)

    def sweep(self, owns: Callable[[bytes], bool]) -> int:
        """Drop expired held messages of the keys ``owns`` accepts; return how many."""
        dropped = self._held.sweep(owns)
        if dropped:
            report_dropped(self._telemetry, DROPPED_HELD_EXPIRED, dropped)
        return dropped


class EarlyBufferFull(Exception):
    """A message found no listener and the held messages are at their bound."""


def _delivery(message: MessageReceived, lookup: CorreletableLookUpKey) -> MessageDelivered:
    """The event that hands ``message`` to the listener ``lookup``; its id is stable."""
    return MessageDelivered(
        event_id=f"{message.event_id}|{lookup.task_id}",
        instance_id=lookup.workflow_id,
        task_id=lookup.task_id,
        topic=message.topic,
        payload=message.payload,
        origin=message.origin,
    )
