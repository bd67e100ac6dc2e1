"""Early messages held for a listener that has not registered yet: one record per message.

A message whose correlation key has no waiting listener is kept for
``early_message_window`` seconds. Each message is a record of its own, under
``<index key>\\x1e<message id>``; the index key's record lists the held ids with their
expiry and size, so holding one more message writes one small record and one short list,
never a list of whole messages. What is held is bounded per key and per partition, by
count and by bytes; a message beyond a bound is refused (the caller dead-letters it as
``early_buffer_full``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from dagger.core._codec import dumps, loads
from dagger.core._events import MessageReceived

__all__ = ["ALREADY_HELD", "DEFAULT_HELD_LIMITS", "MESSAGE_MARK", "HeldLimits", "HeldMessages"]

logger = logging.getLogger(__name__)

MESSAGE_MARK = "\x1e"
"""Between the index key and the message id in a held message's record key."""

Clock = Callable[[], float]

ALREADY_HELD = "a message with this id is held already"
"""What :meth:`HeldMessages.hold` returns for a repeat of a held message (not held again)."""


@dataclass(frozen=True)
class HeldLimits:
    """How much may be held: per key, and per partition by count and by payload bytes."""

    per_key: int = 1000
    messages_per_partition: int = 10_000
    bytes_per_partition: int = 64 * 1024 * 1024


DEFAULT_HELD_LIMITS = HeldLimits()
"""The defaults of ``Dagger(max_held_messages=, max_held_bytes=)``."""


class HeldMessages:
    """The held early messages of one worker's partitions, over a persistent ``store``."""

    def __init__(
        self,
        store: MutableMapping[bytes, bytes],
        *,
        window: float,
        clock: Clock,
        partition_of: Callable[[str], int],
        limits: HeldLimits | None = None,
    ) -> None:
        self.store = store
        self.window = window
        self._clock = clock
        self._partition_of = partition_of
        self.limits = limits or DEFAULT_HELD_LIMITS
        self._usage: dict[int, list[int]] = {}

    # -- holding, taking ---------------------------------------------------------------
    def hold(self, message: MessageReceived) -> str | None:
        """Hold ``message``; return None, or :data:`ALREADY_HELD`, or why it cannot be held."""
        entries = self._entries(message.index_key)  # the expired ones go with a sweep
        if any(entry[0] == message.event_id for entry in entries):
            return ALREADY_HELD
        partition = self._partition_of(message.index_key)
        count, size = self._usage_of(partition)
        payload_size = len(message.payload)
        refusal = None
        if len(entries) >= self.limits.per_key:
            refusal = (
                f"{len(entries)} messages are held for this key (at most {self.limits.per_key})"
            )
        elif count >= self.limits.messages_per_partition:
            refusal = (
                f"{count} messages are held on partition {partition} "
                f"(at most {self.limits.messages_per_partition})"
            )
        elif size + payload_size > self.limits.bytes_per_partition:
            refusal = (
                f"{size} bytes are held on partition {partition}; this message's "
                f"{payload_size} would pass {self.limits.bytes_per_partition}"
            )
        if refusal is not None:
            return refusal
        self.store[_message_key(message.index_key, message.event_id)] = dumps(
            {
                "topic": message.topic,
                "payload": base64.b64encode(message.payload).decode(),
                "origin": message.origin,
            }
        )
        entries.append([message.event_id, self._clock() + self.window, payload_size])
        self._write_entries(message.index_key, entries)
        self._add_usage(partition, 1, payload_size)
        return None

    def take(self, index_key: str) -> list[MessageReceived]:
        """Remove and return the messages held for ``index_key``, in arrival order.

        Those past their window and not swept yet are taken too: whether a message is
        expired is the sweep's to say, at its own time, so that a registration applied
        again after a crash takes what it took the first time.
        """
        if index_key.encode() not in self.store:
            return []
        entries = self._entries(index_key)
        taken: list[MessageReceived] = []
        for message_id, _expires, size in entries:
            raw = self._drop_message(index_key, message_id, size)
            if raw is None:
                continue
            body = loads(raw)
            taken.append(
                MessageReceived(
                    message_id,
                    index_key,
                    body["topic"],
                    base64.b64decode(body["payload"]),
                    body["origin"],
                )
            )
        self._write_entries(index_key, [])
        return taken

    def drop(self, index_key: str, handled: Callable[[str], bool]) -> int:
        """Drop the messages held for ``index_key`` whose id ``handled`` accepts; how many."""
        entries = self._entries(index_key)
        kept = [entry for entry in entries if not handled(str(entry[0]))]
        if len(kept) == len(entries):
            return 0
        for message_id, _expires, size in entries:
            if handled(str(message_id)):
                self._drop_message(index_key, message_id, size)
        self._write_entries(index_key, kept)
        return len(entries) - len(kept)

    def sweep(self, owns: Callable[[bytes], bool], now: float | None = None) -> int:
        """Drop the messages of the keys ``owns`` accepts expired ``now`` (None: the
        clock's now); return how many.

        A stored key ``owns`` cannot read (not an index key) is dropped with what it
        lists, and logged: it cannot belong to any listener. The usage counts are counted
        again afterwards, from the store (a partition taken over since brings its own).
        """
        self._usage.clear()
        dropped = 0
        for key in list(self.store):
            if MESSAGE_MARK.encode() in key:
                continue
            try:
                if not owns(key):
                    continue
                index_key = key.decode()
            except (ValueError, UnicodeDecodeError):
                logger.warning("held messages under the unreadable key %r dropped", key[:80])
                self.store.pop(key, None)
                dropped += 1
                continue
            entries = self._entries(index_key)
            dropped += len(entries) - len(self._expire(index_key, entries, now))
        return dropped

    def listed(self, index_key: str) -> list[tuple[str, float]]:
        """The ids and expiry times of the messages held for ``index_key``, in order."""
        return [(str(entry[0]), float(entry[1])) for entry in self._entries(index_key)]

    def keys(self) -> list[str]:
        """The index keys with held messages."""
        mark = MESSAGE_MARK.encode()
        return [key.decode() for key in list(self.store) if mark not in key]

    # -- the per-key lists -------------------------------------------------------------
    def _entries(self, index_key: str) -> list[list[Any]]:
        """The held ``[id, expires, size]`` of ``index_key`` (moving an older layout)."""
        raw = self.store.get(index_key.encode())
        if raw is None:
            return []
        try:
            body = loads(raw)
        except ValueError:
            return []
        if isinstance(body, list):
            return self._move_inline(index_key, body)
        entries = body.get("m") if isinstance(body, dict) else None
        return [list(entry) for entry in entries or [] if isinstance(entry, list)]

    def _expire(
        self, index_key: str, entries: list[list[Any]], now: float | None
    ) -> list[list[Any]]:
        """Delete the ``entries`` of ``index_key`` expired ``now``; return the live ones."""
        if now is None:
            now = self._clock()
        live = [entry for entry in entries if entry[1] > now]
        if len(live) == len(entries):
            return live
        for message_id, expires, size in entries:
            if expires <= now:
                self._drop_message(index_key, message_id, size)
        self._write_entries(index_key, live)
        return live

    def _drop_message(self, index_key: str, message_id: str, size: Any) -> bytes | None:
        """Delete one held message's record (and its share of the usage); return it."""
        self._add_usage(self._partition_of(index_key), -1, -int(size))
        return self.store.pop(_message_key(index_key, message_id), None)

    def _write_entries(self, index_key: str, entries: list[list[Any]]) -> None:
        key = index_key.encode()
        if entries:
            self.store[key] = dumps({"m": entries})
        elif key in self.store:
            del self.store[key]

    def _move_inline(self, index_key: str, inline: list[Any]) -> list[list[Any]]:
        """Messages an earlier build stored inline in one list: one record each now."""
        entries: list[list[Any]] = []
        for entry in inline:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            self.store[_message_key(index_key, entry["id"])] = dumps(
                {
                    "topic": entry.get("topic"),
                    "payload": entry.get("payload", ""),
                    "origin": entry.get("origin") or {},
                }
            )
            size = len(base64.b64decode(entry.get("payload", "")))
            entries.append([entry["id"], float(entry.get("expires", 0)), size])
        self._write_entries(index_key, entries)
        return entries

    # -- usage per partition -----------------------------------------------------------
    def _usage_of(self, partition: int) -> tuple[int, int]:
        usage = self._usage.get(partition)
        if usage is None:
            usage = self._usage[partition] = [0, 0]
            for index_key in self.keys():
                try:
                    if self._partition_of(index_key) != partition:
                        continue
                except ValueError:
                    continue
                for _message_id, _expires, size in self._entries(index_key):
                    usage[0] += 1
                    usage[1] += int(size)
        return usage[0], usage[1]

    def _add_usage(self, partition: int, count: int, size: int) -> None:
        usage = self._usage.get(partition)
        if usage is not None:
            usage[0] = max(0, usage[0] + count)
            usage[1] = max(0, usage[1] + size)


def _message_key(index_key: str, message_id: str) -> bytes:
    return f"{index_key}{MESSAGE_MARK}{message_id}".encode()
