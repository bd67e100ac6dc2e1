"""The owner of correlation keys: the index of waiting listeners and held early messages.

Listeners waiting under a key are stored as a chain of
:class:`~dagger.tasks.task.CorreletableKeyTasks` chunks of at most
``max_correletable_keys_in_values`` entries. An entry is added when a listener starts
waiting and removed when it stops, so a message costs as much as the listeners waiting
for its key. A message whose key has no listener is held for ``early_message_window``
seconds and delivered to the first listener that registers for the key.

A key also remembers, in its head chunk, the messages it delivered in the last
``early_message_window`` seconds and to which listeners (:data:`REMEMBERED_MESSAGES` of
them at most). A message read again (its batch replayed after a crash, or a listener
agent that read it twice) is delivered to the same listeners again, which drop it as
applied, instead of being held for listeners to come: the listener that took it may
have left the index since; one that was held and then taken by a registering listener
is held again, for that listener alone. The memory and the index entries it explains are
one record, so a crash cannot keep one without the other.
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

REMEMBERED_MESSAGES = 32
"""How many delivered messages a key remembers (the newest are kept)."""
REMEMBERED_TARGETS = 64
"""The most listeners a remembered message keeps; beyond, it is delivered again to the
listeners waiting when it is read again."""


class Taken:
    """A remembered message was held when it came, then taken by a listener."""


TAKEN = Taken()

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
        remembered = self._remembered(event.index_key, event.event_id)
        if isinstance(remembered, Taken):
            # Held when it came, and taken by a listener that registered later: held
            # again, for that listener's registration, applied again too, to take.
            await self._hold(event)
            return []
        chosen = remembered
        if chosen is None:
            lookups = self.lookups(event.index_key)
            if not lookups:
                await self._hold(event)
                return []
            chosen = lookups[:1] if event.match_only_one else lookups
            self._remember(event.index_key, [(event.event_id, chosen)], taken=False)
        return await self._route(
            [(lookup.owner_partition, _delivery(event, lookup)) for lookup in chosen], partition
        )

    def register(self, key: str, lookup: CorreletableLookUpKey) -> list[MessageDelivered]:
        """Add ``lookup`` under ``key``; return the deliveries of the messages held for it.

        The listener may be in the index already (a replayed event registers it again):
        messages still held for the key are its all the same.
        """
        self.add(key, lookup)
        remembered = {str(entry[0]): entry[2] for entry in self._memory(key)}  # -> targets
        taken = [
            message
            for message in self._held.take(key)
            if message.event_id not in remembered or _went_to(remembered[message.event_id], lookup)
        ]
        fresh = [message for message in taken if message.event_id not in remembered]
        if fresh:
            self._remember(key, [(message.event_id, [lookup]) for message in fresh], taken=True)
        return [_delivery(message, lookup) for message in taken]

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
            if kept or (position == 0 and self._memory(chunk.key)):
                self._write_chunk(chunk)  # an empty head stays while it remembers messages
            elif position == 0:
                self._drop_head(chunk)
            else:
                chain[position - 1].overflow_key = chunk.overflow_key
                self._write_chunk(chain[position - 1])
                del self.index[chunk.key.encode()]
            return True
        return False

    def _drop_head(self, head: CorreletableKeyTasks) -> None:
        successor = None if head.overflow_key is None else self._read_chunk(head.overflow_key)
        if successor is None:
            del self.index[head.key.encode()]
            return
        # The head takes the successor's place before the successor goes: a crash in
        # between leaves a record no chain reaches, never listeners no chain reaches.
        overflow_key, successor.key = successor.key, head.key
        self._write_chunk(successor)
        del self.index[overflow_key.encode()]

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

    def _write_chunk(
        self, chunk: CorreletableKeyTasks, memory: list[list[Any]] | None = None
    ) -> None:
        """Store ``chunk``, keeping the messages its record remembers (or ``memory``)."""
        body: dict[str, Any] = {
            "l": [[lk.workflow_id, lk.task_id, lk.owner_partition] for lk in chunk.lookup_keys]
        }
        if chunk.overflow_key is not None:
            body["o"] = chunk.overflow_key
        remembered = self._memory(chunk.key) if memory is None else memory
        if remembered:
            body["d"] = remembered
        self.index[chunk.key.encode()] = dumps(body)

    # -- delivered messages ----------------------------------------------------------------
    def _memory(self, key: str) -> list[list[Any]]:
        """The ``[message id, expires, targets(, taken)]`` the record of ``key`` remembers."""
        raw = self.index.get(key.encode())
        if raw is None:
            return []
        remembered = loads(raw).get("d")
        return remembered if isinstance(remembered, list) else []

    def _remembered(self, key: str, message_id: str) -> list[CorreletableLookUpKey] | Taken | None:
        """How the message ``message_id`` of ``key`` went, if it is remembered.

        The listeners it was delivered to when it came; :data:`TAKEN` when it was held
        then and a listener that registered later took it; None when not remembered.
        """
        for entry in self._memory(key):
            if entry[0] != message_id:
                continue
            if len(entry) > 3 and entry[3]:
                return TAKEN
            if entry[2] is None:  # too many to keep: those waiting now
                return self.lookups(key)
            return [
                CorreletableLookUpKey(workflow_id=wf, task_id=task, owner_partition=owner)
                for wf, task, owner in entry[2]
            ]
        return None

    def _remember(
        self,
        key: str,
        delivered: list[tuple[str, list[CorreletableLookUpKey]]],
        *,
        taken: bool,
    ) -> None:
        """Remember that each message of ``delivered`` went to its listeners.

        ``taken``: they were held when they came, and taken by a listener registering.
        """
        if self.early_message_window <= 0:
            return  # nothing is held, so a message read again is never held either
        head = self._read_chunk(key)
        if head is None:
            return
        expires = self._clock() + self.early_message_window
        memory = self._memory(key)  # a sweep forgets the expired ones, at its time
        known = {entry[0] for entry in memory}
        for message_id, targets in delivered:
            if message_id in known:
                continue
            kept = (
                None
                if len(targets) > REMEMBERED_TARGETS
                else [[lk.workflow_id, lk.task_id, lk.owner_partition] for lk in targets]
            )
            memory.append([message_id, expires, kept, 1] if taken else [message_id, expires, kept])
        self._write_chunk(head, memory[-REMEMBERED_MESSAGES:])

    def _forget_expired(self, owns: Callable[[bytes], bool], now: float) -> int:
        """Drop the memories of the keys ``owns`` accepts expired ``now``; return how many."""
        forgotten = 0
        # Keys first, values of owned keys only: within a partition's event, faust's
        # rocksdb table reads that partition alone, so another's key read raises KeyError.
        for key in list(self.index):
            if not _owned(owns, key):
                continue
            raw = self.index.get(key)
            if raw is None or b'"d"' not in raw:
                continue
            body = loads(raw)
            memory = body.get("d") or []
            live = [entry for entry in memory if entry[1] > now]
            if len(live) == len(memory):
                continue
            forgotten += len(memory) - len(live)
            if live:
                body["d"] = live
            else:
                body.pop("d", None)
            if body["l"] or "o" in body or "d" in body:
                self.index[key] = dumps(body)
            else:
                del self.index[key]
        return forgotten

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

    def _delivered_ids(self, index_key: str) -> set[str]:
        """The ids of the messages ``index_key`` remembers delivering.

        Such a message is not held, even if its held record is still there: a crash after
        the listener that took it was stored and before the record was removed leaves it
        (the held messages are written last). It is handed out again only to the
        listeners it went to (a replay), and the sweep removes it.
        """
        return {str(entry[0]) for entry in self._memory(index_key)}

    def held_keys(self) -> list[str]:
        """The index keys that have messages held for a listener to come."""
        stored = self._held.keys()
        return [key for key in stored if self.held_ids(key)]

    def held_ids(self, index_key: str) -> list[tuple[str, float]]:
        """The ids and expiry times of the messages held for ``index_key``."""
        delivered = self._delivered_ids(index_key)
        return [entry for entry in self._held.listed(index_key) if entry[0] not in delivered]

    def sweep(self, owns: Callable[[bytes], bool], at: float | None = None) -> int:
        """Drop the held messages of the keys ``owns`` accepts that had expired ``at``
        (the sweep's time; None: now); return how many.

        The memories of delivered messages expired then go too (an empty head with them).
        Only a sweep forgets or expires anything, at its own time, so a record applied
        again after a crash finds what it found the first time.
        """
        now = self._clock() if at is None else at
        self._forget_expired(owns, now)
        stored = self._held.keys()
        for index_key in stored:
            if not _owned(owns, index_key.encode()):
                continue  # an unreadable key too: the held sweep drops it
            delivered = self._delivered_ids(index_key)
            if delivered:
                self._held.drop(index_key, delivered.__contains__)
        dropped = self._held.sweep(owns, now)
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


def _went_to(targets: list[list[Any]] | None, lookup: CorreletableLookUpKey) -> bool:
    """Whether a remembered message's ``targets`` include the listener ``lookup``."""
    if targets is None:  # too many were kept to remember them
        return True
    return any((wf, task) == (lookup.workflow_id, lookup.task_id) for wf, task, _owner in targets)


def _owned(owns: Callable[[bytes], bool], key: bytes) -> bool:
    """``owns(key)``, False for a key that is no index key (``owns`` cannot read it)."""
    try:
        return owns(key)
    except (ValueError, UnicodeDecodeError):
        return False
