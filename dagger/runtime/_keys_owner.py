"""The owner of correlation keys: the index of waiting listeners and held early messages.

Listeners waiting under a key are stored as a chain of
:class:`~dagger.tasks.task.CorreletableKeyTasks` chunks of at most
``max_correletable_keys_in_values`` entries. An entry is added when a listener starts
waiting and removed when it stops, so a message costs as much as the listeners waiting
for its key. A message whose key has no listener is held for ``early_message_window``
seconds and delivered to the first listener that registers for the key.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dagger.core._codec import dumps, loads
from dagger.core._events import (
    AnyLogEvent,
    IndexAdded,
    IndexRemoved,
    KeyEvent,
    MessageDelivered,
    MessageReceived,
)
from dagger.tasks._status import CorreletableKeyTasks, CorreletableLookUpKey

logger = logging.getLogger(__name__)

Sender = Callable[[AnyLogEvent, str, int], Awaitable[None]]
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
    ) -> None:
        self.index = index
        self.held = held
        self._send = send
        self.chunk_size = chunk_size
        self.early_message_window = early_message_window
        self._clock = clock

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
            self._hold(event)
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
    def _hold(self, message: MessageReceived) -> None:
        if self.early_message_window <= 0:
            logger.info("message %s matched no listener and was dropped", message.event_id)
            return
        key = message.index_key.encode()
        held = self._live(loads(self.held[key]) if key in self.held else [])
        if any(entry["id"] == message.event_id for entry in held):
            return
        held.append(
            {
                "id": message.event_id,
                "topic": message.topic,
                "payload": base64.b64encode(message.payload).decode(),
                "origin": message.origin,
                "expires": self._clock() + self.early_message_window,
            }
        )
        self.held[key] = dumps(held)

    def _take_held(self, index_key: str) -> list[MessageReceived]:
        key = index_key.encode()
        if key not in self.held:
            return []
        held = self._live(loads(self.held[key]))
        del self.held[key]
        return [
            MessageReceived(
                entry["id"],
                index_key,
                entry["topic"],
                base64.b64decode(entry["payload"]),
                entry["origin"],
            )
            for entry in held
        ]

    def _live(self, held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = self._clock()
        return [entry for entry in held if entry["expires"] > now]

    def sweep(self, owns: Callable[[bytes], bool]) -> int:
        """Drop expired held messages of the keys ``owns`` accepts; return how many.

        A stored key ``owns`` cannot read (not an index key) is dropped with its
        messages and logged: it cannot belong to any listener.
        """
        dropped = 0
        owned: list[bytes] = []
        for key in list(self.held.keys()):
            try:
                if owns(key):
                    owned.append(key)
            except (ValueError, UnicodeDecodeError):
                logger.warning("held messages under the unreadable key %r dropped", key[:80])
                dropped += len(_entries(self.held.pop(key, None)))
        for key in owned:
            held = loads(self.held[key])
            live = self._live(held)
            dropped += len(held) - len(live)
            if not live:
                del self.held[key]
            elif len(live) != len(held):
                self.held[key] = dumps(live)
        return dropped


def _entries(raw: bytes | None) -> list[Any]:
    """The held entries stored as ``raw``, or none when they cannot be read."""
    try:
        held = loads(raw) if raw is not None else []
    except ValueError:
        return []
    return held if isinstance(held, list) else []


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
