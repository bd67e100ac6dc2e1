"""Dispatching engine-topic records to the owner of instances or of correlation keys."""

from __future__ import annotations

from dagger.core._events import (
    HeldMessagesSwept,
    IndexAdded,
    IndexRemoved,
    LogEvent,
    MessageReceived,
    ReleaseRequested,
    ScheduleDue,
)
from dagger.core._wire import decode_event
from dagger.exceptions.exceptions import UndecodableInstanceError
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._schedules import ScheduleOwner
from dagger.runtime._turns import Turns


class EventDispatcher:
    """Applies an engine-topic record with the owner it belongs to."""

    def __init__(
        self,
        instance_owner: InstanceOwner,
        keys: KeysOwner,
        partitions: int,
        schedules: ScheduleOwner | None = None,
        turns: Turns | None = None,
    ) -> None:
        self.instance_owner = instance_owner
        self.keys = keys
        self._partitions = partitions
        self.schedules = schedules
        self._turns = Turns() if turns is None else turns

    def _partition_of(self, key: bytes) -> int:
        return partition_for_index_key(key.decode(), self._partitions)

    async def handle(self, raw: bytes, partition: int) -> None:
        """Decode and apply one record of ``partition``.

        Raises MalformedEvent, or UndecodableInstanceError when an instance the record is
        for cannot be decoded (after applying it to the others a message is for).
        """
        event = decode_event(raw)
        async with self._turns.turn():
            await self._apply(event, partition)

    async def _apply(self, event: LogEvent, partition: int) -> None:
        if isinstance(event, ScheduleDue | ReleaseRequested):
            if self.schedules is not None:
                await self.schedules.handle(event, partition)
        elif isinstance(event, HeldMessagesSwept):
            self.keys.sweep(lambda key: self._partition_of(key) == partition, event.swept_at)
        elif isinstance(event, MessageReceived | IndexAdded | IndexRemoved):
            # Deliveries to this partition's own instances are applied here, in log order.
            # One instance that cannot be decoded does not keep the message from the others.
            undecodable: list[UndecodableInstanceError] = []
            for delivery in await self.keys.handle(event, partition):
                try:
                    await self.instance_owner.handle(delivery, partition)
                except UndecodableInstanceError as exc:
                    undecodable.append(exc)
            if undecodable:
                raise undecodable[0]
        else:
            await self.instance_owner.handle(event, partition)
