"""KeysOwner: the chunked index of waiting listeners and the held early messages."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest

from dagger.core._events import IndexAdded, IndexRemoved, MessageDelivered, MessageReceived
from dagger.core._keys import index_key
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._held import HeldLimits
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._staging import StagedStore
from dagger.tasks.task import CorreletableKeyTasks, CorreletableLookUpKey
from tests.unit._listener_workflows import index_entries

KEY = index_key("status", "order_id", "o-1")
OTHER = index_key("status", "order_id", "o-2")
KEYS_PARTITION = 7
PARTITIONS = 8
"""The partition applying the key events here: none of these tests' instances lives on it."""
ORIGIN = {"topic": "status", "partition": 0, "offset": 9}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Keys:
    """A KeysOwner over dicts, with the events it sends recorded."""

    def __init__(
        self, *, chunk_size: int = 3, window: float = 60.0, limits: HeldLimits | None = None
    ) -> None:
        self.index: dict[bytes, bytes] = {}
        self.held: dict[bytes, bytes] = {}
        self.sent: list[tuple[Any, str, int]] = []
        self.letters: list[dict[str, Any]] = []
        self.clock = Clock()

        async def send(event: Any, key: str, partition: int) -> None:
            self.sent.append((event, key, partition))

        async def send_letter(key: bytes, value: bytes) -> None:
            self.letters.append(json.loads(value))

        self.owner = KeysOwner(
            self.index,
            self.held,
            send=send,
            chunk_size=chunk_size,
            early_message_window=window,
            clock=self.clock,
            partitions=PARTITIONS,
            held_limits=limits,
            dead_letters=DeadLetterWriter(send_letter),
        )

    def add(self, key: str, *lookups: tuple[str, str]) -> None:
        for workflow_id, task_id in lookups:
            assert self.owner.add(key, _lookup(workflow_id, task_id))

    def waiting(self, key: str = KEY) -> list[tuple[str, str]]:
        return [(lookup.workflow_id, lookup.task_id) for lookup in self.owner.lookups(key)]

    def sizes(self, key: str = KEY) -> list[int]:
        return [len(chunk.lookup_keys) for chunk in self.owner.chunks(key)]

    def delivered(self) -> list[tuple[str, str, str]]:
        return [
            (event.event_id, event.instance_id, event.task_id)
            for event, _key, _partition in self.sent
        ]


def _lookup(workflow_id: str, task_id: str = "t", partition: int = 0) -> CorreletableLookUpKey:
    return CorreletableLookUpKey(
        workflow_id=workflow_id, task_id=task_id, owner_partition=partition
    )


def _pairs(count: int) -> list[tuple[str, str]]:
    return [(f"i-{n}", f"t-{n}") for n in range(count)]


def _message(
    event_id: str = "m-1", key: str = KEY, payload: bytes = b'{"status": "READY"}', **kw: Any
) -> MessageReceived:
    return MessageReceived(event_id, key, "status", payload, ORIGIN, **kw)


# -- the index ---------------------------------------------------------------------------


def test_an_empty_key_has_no_chunks_and_no_listeners() -> None:
    keys = Keys()

    assert keys.owner.chunks(KEY) == []
    assert keys.owner.lookups(KEY) == []


def test_listeners_fill_one_chunk_up_to_the_chunk_size() -> None:
    keys = Keys(chunk_size=3)

    keys.add(KEY, *_pairs(3))

    [chunk] = keys.owner.chunks(KEY)
    assert isinstance(chunk, CorreletableKeyTasks)
    assert chunk.key == KEY and chunk.overflow_key is None
    assert keys.waiting() == _pairs(3)
    assert list(index_entries(keys.index)) == [KEY.encode()]


def test_a_full_chunk_overflows_into_a_chain() -> None:
    keys = Keys(chunk_size=3)

    keys.add(KEY, *_pairs(10))

    chunks = keys.owner.chunks(KEY)
    assert [len(chunk.lookup_keys) for chunk in chunks] == [3, 3, 3, 1]
    assert chunks[0].key == KEY
    for chunk, following in itertools.pairwise(chunks):
        assert chunk.overflow_key == following.key
        assert following.key.startswith(f"{KEY}#")
    assert chunks[-1].overflow_key is None
    assert len(index_entries(keys.index)) == 4
    assert keys.waiting() == _pairs(10)


def test_the_stored_chunk_is_compact_json() -> None:
    keys = Keys(chunk_size=1)

    keys.owner.add(KEY, _lookup("i-1", "t-1", 4))
    keys.owner.add(KEY, _lookup("i-2", "t-2", 7))

    head = json.loads(keys.index[KEY.encode()])
    assert head["l"] == [["i-1", "t-1", 4]]
    assert json.loads(keys.index[head["o"].encode()]) == {"l": [["i-2", "t-2", 7]]}
    assert [lookup.owner_partition for lookup in keys.owner.lookups(KEY)] == [4, 7]


def test_adding_a_listener_twice_keeps_one_entry() -> None:
    keys = Keys(chunk_size=2)
    keys.add(KEY, *_pairs(3))
    stored = dict(keys.index)

    for workflow_id, task_id in _pairs(3):
        assert not keys.owner.add(KEY, _lookup(workflow_id, task_id, partition=9))

    assert keys.index == stored


def test_the_same_instance_may_wait_with_two_tasks() -> None:
    keys = Keys()

    keys.add(KEY, ("i-1", "t-1"), ("i-1", "t-2"))

    assert keys.waiting() == [("i-1", "t-1"), ("i-1", "t-2")]


def test_keys_do_not_share_listeners() -> None:
    keys = Keys()

    keys.add(KEY, ("i-1", "t-1"))
    keys.add(OTHER, ("i-2", "t-2"))

    assert keys.waiting(KEY) == [("i-1", "t-1")]
    assert keys.waiting(OTHER) == [("i-2", "t-2")]


def test_removing_from_a_chunk_keeps_the_others() -> None:
    keys = Keys(chunk_size=3)
    keys.add(KEY, *_pairs(3))

    assert keys.owner.remove(KEY, "i-1", "t-1")

    assert keys.waiting() == [("i-0", "t-0"), ("i-2", "t-2")]


def test_removing_what_is_not_there_changes_nothing() -> None:
    keys = Keys(chunk_size=3)
    keys.add(KEY, *_pairs(4))
    stored = dict(keys.index)

    assert not keys.owner.remove(KEY, "i-1", "t-other")
    assert not keys.owner.remove(KEY, "i-other", "t-1")
    assert not keys.owner.remove(OTHER, "i-1", "t-1")

    assert keys.index == stored


def test_removing_the_last_listener_deletes_the_key() -> None:
    keys = Keys()
    keys.add(KEY, ("i-1", "t-1"))

    keys.owner.remove(KEY, "i-1", "t-1")

    assert index_entries(keys.index) == {}
    assert keys.owner.chunks(KEY) == []


def test_an_emptied_head_takes_over_its_successor() -> None:
    keys = Keys(chunk_size=2)
    keys.add(KEY, *_pairs(6))
    successor_key = keys.owner.chunks(KEY)[1].key

    keys.owner.remove(KEY, "i-0", "t-0")
    keys.owner.remove(KEY, "i-1", "t-1")

    assert keys.sizes() == [2, 2]
    assert keys.waiting() == _pairs(6)[2:]
    assert successor_key.encode() not in index_entries(keys.index)
    assert len(index_entries(keys.index)) == 2


def test_an_emptied_middle_chunk_is_unlinked() -> None:
    keys = Keys(chunk_size=2)
    keys.add(KEY, *_pairs(6))
    middle = keys.owner.chunks(KEY)[1].key

    keys.owner.remove(KEY, "i-2", "t-2")
    keys.owner.remove(KEY, "i-3", "t-3")

    chunks = keys.owner.chunks(KEY)
    assert [len(chunk.lookup_keys) for chunk in chunks] == [2, 2]
    assert chunks[0].overflow_key == chunks[1].key != middle
    assert middle.encode() not in index_entries(keys.index)
    assert keys.waiting() == [*_pairs(2), ("i-4", "t-4"), ("i-5", "t-5")]


def test_an_emptied_tail_chunk_is_unlinked() -> None:
    keys = Keys(chunk_size=2)
    keys.add(KEY, *_pairs(3))

    keys.owner.remove(KEY, "i-2", "t-2")

    [head] = keys.owner.chunks(KEY)
    assert head.overflow_key is None
    assert list(index_entries(keys.index)) == [KEY.encode()]


def test_a_new_listener_fills_the_first_chunk_with_room() -> None:
    keys = Keys(chunk_size=2)
    keys.add(KEY, *_pairs(4))
    keys.owner.remove(KEY, "i-0", "t-0")

    keys.add(KEY, ("i-new", "t-new"))

    assert keys.sizes() == [2, 2]
    assert len(index_entries(keys.index)) == 2


def test_removing_every_listener_in_any_order_empties_the_index() -> None:
    keys = Keys(chunk_size=3)
    pairs = _pairs(11)
    keys.add(KEY, *pairs)

    for position, (workflow_id, task_id) in enumerate([*pairs[1::2], *pairs[::2]]):
        assert keys.owner.remove(KEY, workflow_id, task_id)
        remaining = len(pairs) - position - 1
        assert len(keys.waiting()) == remaining
        assert sum(keys.sizes()) == remaining
        assert len(index_entries(keys.index)) == len(keys.owner.chunks(KEY))

    assert index_entries(keys.index) == {}


# -- index events ------------------------------------------------------------------------


async def test_index_events_add_and_remove_listeners() -> None:
    keys = Keys()

    await keys.owner.handle(IndexAdded("a-1", KEY, "i-1", "t-1", 3), KEYS_PARTITION)
    await keys.owner.handle(IndexAdded("a-2", KEY, "i-2", "t-2", 5), KEYS_PARTITION)
    await keys.owner.handle(IndexRemoved("r-1", KEY, "i-1", "t-1"), KEYS_PARTITION)

    assert [
        (lookup.workflow_id, lookup.task_id, lookup.owner_partition)
        for lookup in keys.owner.lookups(KEY)
    ] == [("i-2", "t-2", 5)]
    assert keys.sent == []


async def test_a_message_is_delivered_to_every_listener_on_its_owner_partition() -> None:
    keys = Keys(chunk_size=2)
    for n in range(5):
        await keys.owner.handle(IndexAdded(f"a-{n}", KEY, f"i-{n}", f"t-{n}", n), KEYS_PARTITION)

    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)

    assert [(key, partition) for _event, key, partition in keys.sent] == [
        (f"i-{n}", n) for n in range(5)
    ]
    first = keys.sent[0][0]
    assert first == MessageDelivered(
        "m-1|t-0", "i-0", "t-0", "status", b'{"status": "READY"}', ORIGIN
    )
    assert keys.held == {}


async def test_match_only_one_delivers_to_the_first_listener() -> None:
    keys = Keys()
    keys.add(KEY, *_pairs(3))

    await keys.owner.handle(_message("m-1", match_only_one=True), KEYS_PARTITION)

    assert keys.delivered() == [("m-1|t-0", "i-0", "t-0")]


async def test_a_message_delivers_under_its_own_key_only() -> None:
    keys = Keys()
    keys.add(KEY, ("i-1", "t-1"))
    keys.add(OTHER, ("i-2", "t-2"))

    await keys.owner.handle(_message("m-1", key=OTHER), KEYS_PARTITION)

    assert keys.delivered() == [("m-1|t-2", "i-2", "t-2")]


# -- early messages ----------------------------------------------------------------------


async def test_a_message_without_listeners_is_held_until_the_window_ends() -> None:
    keys = Keys(window=60)

    await keys.owner.handle(_message("m-1", payload=b"\x00\xff"), KEYS_PARTITION)

    assert keys.sent == []
    assert keys.owner.held_ids(KEY) == [("m-1", 1060.0)]
    # One record per message, beside the key's short list of ids.
    assert json.loads(keys.held[f"{KEY}\x1em-1".encode()]) == {
        "topic": "status",
        "payload": base64.b64encode(b"\x00\xff").decode(),
        "origin": ORIGIN,
    }
    assert json.loads(keys.held[KEY.encode()]) == {"m": [["m-1", 1060.0, 2]]}


async def test_a_held_message_is_delivered_to_the_listener_that_registers() -> None:
    keys = Keys(window=60)
    await keys.owner.handle(_message("m-1", payload=b"\x00\xff"), KEYS_PARTITION)
    keys.clock.now += 59

    await keys.owner.handle(IndexAdded("a-1", KEY, "i-1", "t-1", 6), KEYS_PARTITION)

    [(event, key, partition)] = keys.sent
    assert event == MessageDelivered("m-1|t-1", "i-1", "t-1", "status", b"\x00\xff", ORIGIN)
    assert (key, partition) == ("i-1", 6)
    assert keys.held == {}
    assert keys.waiting() == [("i-1", "t-1")]


async def test_held_messages_are_delivered_in_arrival_order_once() -> None:
    keys = Keys(window=60)
    for n in range(3):
        await keys.owner.handle(_message(f"m-{n}"), KEYS_PARTITION)

    await keys.owner.handle(IndexAdded("a-1", KEY, "i-1", "t-1", 0), KEYS_PARTITION)
    await keys.owner.handle(IndexAdded("a-2", KEY, "i-2", "t-2", 0), KEYS_PARTITION)

    assert keys.delivered() == [(f"m-{n}|t-1", "i-1", "t-1") for n in range(3)]


async def test_a_message_held_twice_is_kept_once() -> None:
    keys = Keys(window=60)

    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)
    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)

    assert len(json.loads(keys.held[KEY.encode()])) == 1


async def test_an_expired_held_message_is_not_delivered() -> None:
    keys = Keys(window=60)
    await keys.owner.handle(_message("m-old"), KEYS_PARTITION)
    keys.clock.now += 30
    await keys.owner.handle(_message("m-new"), KEYS_PARTITION)
    keys.clock.now += 31
    keys.owner.sweep(lambda key: True)

    await keys.owner.handle(IndexAdded("a-1", KEY, "i-1", "t-1", 0), KEYS_PARTITION)

    assert keys.delivered() == [("m-new|t-1", "i-1", "t-1")]
    assert keys.held == {}


async def test_a_message_is_not_held_when_the_window_is_zero() -> None:
    keys = Keys(window=0)

    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)
    await keys.owner.handle(IndexAdded("a-1", KEY, "i-1", "t-1", 0), KEYS_PARTITION)

    assert keys.held == {}
    assert keys.sent == []


async def test_removing_a_listener_does_not_release_held_messages() -> None:
    keys = Keys(window=60)
    await keys.owner.handle(_message("m-1", key=OTHER), KEYS_PARTITION)
    keys.add(KEY, ("i-1", "t-1"))

    await keys.owner.handle(IndexRemoved("r-1", KEY, "i-1", "t-1"), KEYS_PARTITION)

    assert keys.sent == []
    assert keys.owner.held_keys() == [OTHER]


def _owned(*keys: str) -> Any:
    owned = {key.encode() for key in keys}
    return lambda key: key in owned


async def test_sweep_drops_expired_messages_of_owned_keys() -> None:
    keys = Keys(window=60)
    third = index_key("status", "order_id", "o-3")
    await keys.owner.handle(_message("m-1", key=KEY), KEYS_PARTITION)
    await keys.owner.handle(_message("m-2", key=OTHER), KEYS_PARTITION)
    await keys.owner.handle(_message("m-3", key=third), KEYS_PARTITION)
    keys.clock.now += 30
    await keys.owner.handle(_message("m-4", key=KEY), KEYS_PARTITION)
    keys.clock.now += 31

    dropped = keys.owner.sweep(_owned(KEY, OTHER))

    assert dropped == 2
    assert [message_id for message_id, _ in keys.owner.held_ids(KEY)] == ["m-4"]
    assert OTHER not in keys.owner.held_keys()
    assert f"{KEY}\x1em-1".encode() not in keys.held
    # Not owned here: left alone, though expired.
    assert [message_id for message_id, _ in keys.owner.held_ids(third)] == ["m-3"]


async def test_sweep_keeps_live_messages_untouched() -> None:
    keys = Keys(window=60)
    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)
    stored = dict(keys.held)

    assert keys.owner.sweep(lambda key: True) == 0
    assert keys.held == stored


@pytest.mark.parametrize("count", [1, 50])
async def test_a_message_reaches_every_listener_of_a_long_chain(count: int) -> None:
    keys = Keys(chunk_size=7)
    keys.add(KEY, *_pairs(count))

    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)

    assert keys.delivered() == [(f"m-1|t-{n}", f"i-{n}", f"t-{n}") for n in range(count)]


def test_emptying_a_head_whose_overflow_chunk_is_missing_deletes_the_head() -> None:
    keys = Keys()
    keys.index[KEY.encode()] = json.dumps({"l": [["i-1", "t-1", 0]], "o": f"{KEY}#gone"}).encode()

    assert keys.owner.remove(KEY, "i-1", "t-1")

    assert index_entries(keys.index) == {}


async def test_deliveries_to_instances_of_the_keys_own_partition_are_returned_not_sent() -> None:
    keys = Keys()
    await keys.owner.handle(_message("m-early"), KEYS_PARTITION)  # held: nobody waits yet
    local = await keys.owner.handle(
        IndexAdded("a-1", KEY, "i-1", "t-1", KEYS_PARTITION), KEYS_PARTITION
    )
    await keys.owner.handle(IndexAdded("a-2", KEY, "i-2", "t-2", 3), KEYS_PARTITION)

    delivered = await keys.owner.handle(_message("m-1"), KEYS_PARTITION)

    assert [(event.event_id, event.instance_id) for event in local] == [("m-early|t-1", "i-1")]
    assert [(event.event_id, event.instance_id) for event in delivered] == [("m-1|t-1", "i-1")]
    assert [(event.event_id, partition) for event, _key, partition in keys.sent] == [("m-1|t-2", 3)]


# -- bounds on what is held --------------------------------------------------------------


def _same_partition_keys(count: int) -> list[str]:
    """``count`` index keys that all belong to KEY's partition."""
    target = partition_for_index_key(KEY, PARTITIONS)
    keys = []
    for n in itertools.count():
        key = index_key("status", "order_id", f"p-{n}")
        if partition_for_index_key(key, PARTITIONS) == target:
            keys.append(key)
            if len(keys) == count:
                return keys
    raise AssertionError("unreachable")


async def test_1500_replies_for_one_key_are_held_up_to_the_bound_in_small_records() -> None:
    keys = Keys(limits=HeldLimits(per_key=1000))

    for n in range(1500):
        await keys.owner.handle(_message(f"m-{n}", payload=b"x" * 200), KEYS_PARTITION)

    assert len(keys.owner.held_ids(KEY)) == 1000
    assert max(len(value) for value in keys.held.values()) < 64 * 1024
    assert len(keys.letters) == 500
    assert {letter["reason"] for letter in keys.letters} == {"early_buffer_full"}
    assert "1000 messages are held for this key" in keys.letters[0]["error_message"]
    assert keys.letters[0]["origin"] == ORIGIN


async def test_held_messages_are_bounded_per_partition_by_count() -> None:
    keys = Keys(limits=HeldLimits(messages_per_partition=3))
    for n, key in enumerate(_same_partition_keys(4)):
        await keys.owner.handle(_message(f"m-{n}", key=key), KEYS_PARTITION)

    assert len(keys.owner.held_keys()) == 3
    [letter] = keys.letters
    assert letter["reason"] == "early_buffer_full"
    assert "3 messages are held on partition" in letter["error_message"]


async def test_held_messages_are_bounded_per_partition_by_bytes_and_freed_when_taken() -> None:
    keys = Keys(limits=HeldLimits(bytes_per_partition=250))
    first, second = _same_partition_keys(2)
    await keys.owner.handle(_message("m-1", key=first, payload=b"a" * 200), KEYS_PARTITION)
    await keys.owner.handle(_message("m-2", key=second, payload=b"b" * 100), KEYS_PARTITION)
    assert keys.owner.held_keys() == [first]
    assert "would pass 250" in keys.letters[0]["error_message"]

    await keys.owner.handle(IndexAdded("a-1", first, "i-1", "t-1", 0), KEYS_PARTITION)
    await keys.owner.handle(_message("m-3", key=second, payload=b"b" * 100), KEYS_PARTITION)

    assert keys.owner.held_keys() == [second]
    assert len(keys.letters) == 1


async def test_messages_an_earlier_build_held_in_one_list_are_still_delivered() -> None:
    keys = Keys()
    keys.held[KEY.encode()] = json.dumps(
        [
            {
                "id": "m-old",
                "topic": "status",
                "payload": base64.b64encode(b"{}").decode(),
                "origin": ORIGIN,
                "expires": keys.clock.now + 30,
            }
        ]
    ).encode()
    await keys.owner.handle(_message("m-new"), KEYS_PARTITION)

    await keys.owner.handle(IndexAdded("a-1", KEY, "i-1", "t-1", 0), KEYS_PARTITION)

    assert [event_id for event_id, _, _ in keys.delivered()] == ["m-old|t-1", "m-new|t-1"]
    assert keys.held == {}


async def test_a_sweep_counts_the_held_messages_again_from_the_store() -> None:
    """A partition taken over brings messages another worker held: the next sweep counts them."""
    keys = Keys(limits=HeldLimits(messages_per_partition=2))
    first, second, third = _same_partition_keys(3)
    await keys.owner.handle(_message("m-1", key=first), KEYS_PARTITION)
    other_worker = Keys(limits=HeldLimits(messages_per_partition=2))
    other_worker.held = keys.held
    other_worker.owner = KeysOwner(
        {},
        keys.held,
        send=keys.owner._send,
        chunk_size=3,
        early_message_window=60,
        clock=keys.clock,
        partitions=PARTITIONS,
    )
    await other_worker.owner.handle(_message("m-2", key=second), KEYS_PARTITION)

    keys.owner.sweep(lambda key: True)
    await keys.owner.handle(_message("m-3", key=third), KEYS_PARTITION)

    assert sorted(keys.owner.held_keys()) == sorted([first, second])
    [letter] = keys.letters
    assert "2 messages are held on partition" in letter["error_message"]


# -- a crash part-way through a chain change ----------------------------------------------------


def _states_a_crash_can_leave(keys: Keys, change: Any) -> list[dict[bytes, bytes]]:
    """The index after each prefix of the writes ``change`` makes, as one staged batch."""
    before = dict(keys.index)
    staged = StagedStore(before.copy())
    keys.owner.index = staged
    change()
    writes: list[tuple[bytes, bytes | None]] = []

    class Recording(dict[bytes, bytes]):
        def __setitem__(self, key: bytes, value: bytes) -> None:
            writes.append((key, value))

        def __delitem__(self, key: bytes) -> None:
            writes.append((key, None))

        def __contains__(self, key: object) -> bool:
            return key in before

    staged.backing = Recording()
    staged.commit()
    states = []
    for count in range(len(writes) + 1):
        state = dict(before)
        for key, value in writes[:count]:
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        states.append(state)
    return states


def _waiting_in(state: dict[bytes, bytes]) -> set[str]:
    reader = KeysOwner(state, {}, send=_no_send, chunk_size=1, early_message_window=0)
    return {lookup.workflow_id for lookup in reader.lookups(KEY)}


async def _no_send(event: Any, key: str, partition: int) -> None:
    raise AssertionError("nothing is sent here")


def test_a_crash_while_the_head_of_a_chain_is_replaced_loses_no_listener() -> None:
    keys = Keys(chunk_size=1, window=0)
    keys.add(KEY, ("i-1", "t"), ("i-2", "t"), ("i-3", "t"))

    states = _states_a_crash_can_leave(keys, lambda: keys.owner.remove(KEY, "i-1", "t"))

    assert len(states) == 3  # the successor becomes the head, then goes
    for state in states:
        assert _waiting_in(state) >= {"i-2", "i-3"}


# -- the messages a key delivered --------------------------------------------------------------


async def test_a_message_read_again_goes_to_the_listeners_it_went_to_first() -> None:
    keys = Keys(window=60)
    keys.add(KEY, ("i-1", "t"))
    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)
    keys.owner.remove(KEY, "i-1", "t")  # i-1 handled it and left
    keys.add(KEY, ("i-2", "t"))

    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)  # its batch replayed

    assert keys.delivered() == [("m-1|t", "i-1", "t"), ("m-1|t", "i-1", "t")]
    assert keys.owner.held_keys() == []
    assert keys.waiting() == [("i-2", "t")]


async def test_a_key_no_listener_waits_under_remembers_until_the_sweep_after_the_window() -> None:
    keys = Keys(window=60)
    keys.add(KEY, ("i-1", "t"))
    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)
    keys.owner.remove(KEY, "i-1", "t")
    assert index_entries(keys.index) == {} and list(keys.index) == [KEY.encode()]

    keys.clock.now += 59
    keys.owner.sweep(lambda key: True)
    assert list(keys.index) == [KEY.encode()]
    keys.clock.now += 2
    keys.owner.sweep(lambda key: True)

    assert keys.index == {}
    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)  # forgotten: held now
    assert [message_id for message_id, _ in keys.owner.held_ids(KEY)] == ["m-1"]


class PartitionLocalTable(MutableMapping[bytes, bytes]):
    """Lists every partition's keys but, like faust's rocksdb table within one partition's
    event, reads only that partition's: another's key raises KeyError."""

    def __init__(self, data: dict[bytes, bytes], foreign: set[bytes]) -> None:
        self.data = dict(data)
        self.foreign = foreign

    def __getitem__(self, key: bytes) -> bytes:
        if key in self.foreign:
            raise KeyError(key)
        return self.data[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.data[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


async def test_a_sweep_reads_only_the_keys_of_its_partition() -> None:
    """The sweep of a partition ran inside that partition's event and read every key's
    value: another partition's key raised KeyError, so every sweep failed and nothing
    it should forget or expire ever was (the chaos suite's kill loop found it)."""
    keys = Keys(window=60)
    for key in (KEY, OTHER):
        keys.add(key, ("i-1", "t"))
        await keys.owner.handle(_message(f"m-{key}", key=key), KEYS_PARTITION)
        keys.owner.remove(key, "i-1", "t")
    keys.owner.index = PartitionLocalTable(keys.index, foreign={OTHER.encode()})
    keys.clock.now += 61

    keys.owner.sweep(_owned(KEY))

    assert list(keys.owner.index) == [OTHER.encode()]  # KEY's memory forgotten, OTHER's kept


async def test_a_key_remembers_nothing_when_no_message_is_ever_held() -> None:
    keys = Keys(window=0)
    keys.add(KEY, ("i-1", "t"))
    await keys.owner.handle(_message("m-1"), KEYS_PARTITION)
    keys.owner.remove(KEY, "i-1", "t")

    assert keys.index == {}
