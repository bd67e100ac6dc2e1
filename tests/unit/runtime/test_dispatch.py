"""EventDispatcher: each engine-topic record goes to the owner it belongs to.

The keys owner is the real one over dicts. The instance owner is a recorder of what it
is given: the dispatcher only hands it events, and what the owner then does is its own
tests' business.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from dagger.core._events import (
    HeldMessagesSwept,
    IndexAdded,
    IndexRemoved,
    InstanceSubmitted,
    MessageDelivered,
    MessageReceived,
    TimerFired,
)
from dagger.core._keys import index_key
from dagger.core._wire import MalformedEvent, encode_event
from dagger.runtime._dispatch import EventDispatcher
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._partitioning import partition_for_index_key
from tests.unit._listener_workflows import index_entries

PARTITIONS = 4
TOPIC = "status"
ORIGIN = {"topic": TOPIC, "partition": 0, "offset": 1}


class RecordingOwner:
    """Stands for the instance owner: records each ``(event, partition)`` it is given."""

    def __init__(self) -> None:
        self.handled: list[tuple[Any, int]] = []

    async def handle(self, event: Any, partition: int) -> None:
        self.handled.append((event, partition))


class Dispatch:
    """A dispatcher over a real keys owner (dicts) and a recording instance owner."""

    def __init__(self, *, window: float = 60.0) -> None:
        self.now = 1000.0
        self.sent: list[tuple[Any, str, int]] = []
        self.index: dict[bytes, bytes] = {}
        self.held: dict[bytes, bytes] = {}
        self.instances = RecordingOwner()
        self.keys = KeysOwner(
            self.index,
            self.held,
            send=self._send,
            chunk_size=5,
            early_message_window=window,
            clock=lambda: self.now,
            partitions=PARTITIONS,
        )
        self.dispatcher = EventDispatcher(
            cast(InstanceOwner, self.instances), self.keys, PARTITIONS
        )

    async def _send(self, event: Any, key: str, partition: int) -> None:
        self.sent.append((event, key, partition))

    async def handle(self, event: Any, partition: int) -> None:
        await self.dispatcher.handle(encode_event(event), partition)


def _key(value: str) -> str:
    return index_key(TOPIC, "order_id", value)


def _keys_by_partition() -> dict[int, str]:
    """One index key owned by each partition."""
    found: dict[int, str] = {}
    for n in range(100):
        key = _key(f"o-{n}")
        found.setdefault(partition_for_index_key(key, PARTITIONS), key)
    assert len(found) == PARTITIONS
    return found


@pytest.mark.parametrize(
    "event",
    [
        InstanceSubmitted("e-1", "i-1"),
        TimerFired("t-1", "i-1", "task-1", 5.0),
        MessageDelivered("d-1", "i-1", "task-1", TOPIC, b"{}", ORIGIN),
    ],
    ids=lambda event: type(event).__name__,
)
async def test_an_instance_event_goes_to_the_instance_owner_of_its_partition(event: Any) -> None:
    dispatch = Dispatch()

    await dispatch.handle(event, 2)

    assert dispatch.instances.handled == [(event, 2)]
    assert index_entries(dispatch.index) == {} and dispatch.held == {} and dispatch.sent == []


async def test_index_events_go_to_the_keys_owner_only() -> None:
    dispatch = Dispatch()
    key = _key("o-1")

    await dispatch.handle(IndexAdded("a-1", key, "i-1", "task-1", 3), 1)
    assert [lookup.workflow_id for lookup in dispatch.keys.lookups(key)] == ["i-1"]

    await dispatch.handle(IndexRemoved("r-1", key, "i-1", "task-1"), 1)
    assert dispatch.keys.lookups(key) == []
    assert dispatch.instances.handled == []


async def test_a_message_for_a_listener_of_this_partition_is_applied_here() -> None:
    dispatch = Dispatch()
    key = _key("o-1")
    await dispatch.handle(IndexAdded("a-1", key, "i-1", "task-1", 1), 1)

    await dispatch.handle(MessageReceived("m-1", key, TOPIC, b'{"a": 1}', ORIGIN), 1)

    assert dispatch.instances.handled == [
        (MessageDelivered("m-1|task-1", "i-1", "task-1", TOPIC, b'{"a": 1}', ORIGIN), 1)
    ]
    assert dispatch.sent == []


async def test_a_message_for_a_listener_of_another_partition_is_sent_to_it() -> None:
    dispatch = Dispatch()
    key = _key("o-1")
    await dispatch.handle(IndexAdded("a-1", key, "i-1", "task-1", 3), 1)

    await dispatch.handle(MessageReceived("m-1", key, TOPIC, b"{}", ORIGIN), 1)

    assert dispatch.instances.handled == []
    assert dispatch.sent == [
        (MessageDelivered("m-1|task-1", "i-1", "task-1", TOPIC, b"{}", ORIGIN), "i-1", 3)
    ]


async def test_held_messages_released_by_a_local_listener_are_applied_in_arrival_order() -> None:
    dispatch = Dispatch()
    key = _key("o-1")
    for n in range(3):
        await dispatch.handle(MessageReceived(f"m-{n}", key, TOPIC, b"%d" % n, ORIGIN), 2)
    assert dispatch.instances.handled == []

    await dispatch.handle(IndexAdded("a-1", key, "i-1", "task-1", 2), 2)

    assert [(event.event_id, partition) for event, partition in dispatch.instances.handled] == [
        ("m-0|task-1", 2),
        ("m-1|task-1", 2),
        ("m-2|task-1", 2),
    ]
    assert dispatch.held == {}


async def test_a_sweep_expires_the_held_messages_of_its_own_partition_only() -> None:
    dispatch = Dispatch(window=60.0)
    by_partition = _keys_by_partition()
    for partition, key in by_partition.items():
        await dispatch.handle(
            MessageReceived(f"m-{partition}", key, TOPIC, b"{}", ORIGIN), partition
        )
    dispatch.now += 61

    await dispatch.handle(HeldMessagesSwept("s-1"), 1)

    assert sorted(dispatch.keys.held_keys()) == sorted(
        key for partition, key in by_partition.items() if partition != 1
    )
    assert dispatch.instances.handled == [] and dispatch.sent == []


async def test_a_malformed_record_is_refused_and_nothing_is_applied() -> None:
    dispatch = Dispatch()

    with pytest.raises(MalformedEvent):
        await dispatch.dispatcher.handle(b'{"type": "index_add", "id": "a-1"}', 0)

    assert dispatch.instances.handled == [] and index_entries(dispatch.index) == {}
