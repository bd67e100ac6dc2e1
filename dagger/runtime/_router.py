"""Dispatching engine-topic records to the owner of instances or of correlation keys."""

from __future__ import annotations

from dagger.core._events import IndexAdded, IndexRemoved, MessageReceived
from dagger.core._wire import decode_event
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._owner import InstanceOwner


class EventRouter:
    """Applies an engine-topic record with the owner it belongs to."""

    def __init__(self, instances: InstanceOwner, keys: KeysOwner) -> None:
        self.instances = instances
        self.keys = keys

    async def handle(self, raw: bytes, partition: int) -> None:
        """Decode and apply one record of ``partition`` (raises MalformedEvent)."""
        event = decode_event(raw)
        if isinstance(event, MessageReceived | IndexAdded | IndexRemoved):
            await self.keys.handle(event)
        else:
            await self.instances.handle(event, partition)
