"""HeldMessages: early messages kept one record each, expired by the clock, and bounded."""

from __future__ import annotations

import logging

import pytest

from dagger.core._events import MessageReceived
from dagger.core._keys import index_key
from dagger.runtime._held import ALREADY_HELD, MESSAGE_MARK, HeldLimits, HeldMessages

KEY = index_key("status", "order_id", "o-1")
OTHER = index_key("status", "order_id", "o-2")
ORIGIN = {"topic": "status", "partition": 0, "offset": 3}
WINDOW = 60.0


class Held:
    """HeldMessages over a dict, a hand-moved clock, and keys placed on partitions by hand."""

    def __init__(self, limits: HeldLimits | None = None) -> None:
        self.now = 1000.0
        self.store: dict[bytes, bytes] = {}
        self.partition_of = {KEY: 0, OTHER: 1}
        self.held = HeldMessages(
            self.store,
            window=WINDOW,
            clock=lambda: self.now,
            partition_of=lambda key: self.partition_of[key],
            limits=limits,
        )


def _message(event_id: str, key: str = KEY, payload: bytes = b"{}") -> MessageReceived:
    return MessageReceived(event_id, key, "status", payload, ORIGIN)


def test_a_held_message_is_one_record_and_taken_back_whole() -> None:
    held = Held()
    message = _message("m-1", payload=b"\x00\xffbinary")

    assert held.held.hold(message) is None

    assert sorted(held.store) == [KEY.encode(), f"{KEY}{MESSAGE_MARK}m-1".encode()]
    assert held.held.take(KEY) == [message]
    assert held.store == {}


def test_taking_a_key_with_nothing_held_gives_nothing() -> None:
    assert Held().held.take(KEY) == []


def test_messages_are_listed_and_taken_in_arrival_order_with_their_expiry() -> None:
    held = Held()
    for n in range(3):
        held.held.hold(_message(f"m-{n}"))
        held.now += 1

    assert held.held.listed(KEY) == [("m-0", 1060.0), ("m-1", 1061.0), ("m-2", 1062.0)]
    assert [message.event_id for message in held.held.take(KEY)] == ["m-0", "m-1", "m-2"]
    assert held.held.listed(KEY) == []


def test_a_message_held_again_is_kept_once() -> None:
    held = Held()

    assert held.held.hold(_message("m-1")) is None
    assert held.held.hold(_message("m-1")) == ALREADY_HELD

    assert held.held.listed(KEY) == [("m-1", 1060.0)]


def test_a_message_past_its_window_is_dropped_by_a_sweep_not_by_the_clock() -> None:
    # Expiry is the sweep's, at the sweep's own time: a registration applied again
    # after a crash, later, must take what it took the first time.
    held = Held()
    held.held.hold(_message("m-1"))
    held.now += WINDOW / 2
    held.held.hold(_message("m-2"))
    held.now += WINDOW / 2

    assert held.held.sweep(lambda key: True, now=held.now - WINDOW / 4) == 0
    assert held.held.sweep(lambda key: True, now=held.now) == 1
    assert [message.event_id for message in held.held.take(KEY)] == ["m-2"]
    assert held.store == {}


def test_a_message_past_its_window_is_taken_until_it_is_swept() -> None:
    held = Held()
    held.held.hold(_message("m-1"))
    held.now += 2 * WINDOW

    assert [message.event_id for message in held.held.take(KEY)] == ["m-1"]


def test_keys_lists_the_index_keys_with_held_messages() -> None:
    held = Held()
    held.held.hold(_message("m-1"))
    held.held.hold(_message("m-2", OTHER))
    held.held.hold(_message("m-3", OTHER))

    assert sorted(held.held.keys()) == sorted([KEY, OTHER])


def test_a_key_at_its_bound_refuses_one_more_and_says_why() -> None:
    held = Held(HeldLimits(per_key=2))
    held.held.hold(_message("m-1"))
    held.held.hold(_message("m-2"))

    assert held.held.hold(_message("m-3")) == "2 messages are held for this key (at most 2)"
    assert held.held.hold(_message("o-1", OTHER)) is None
    assert [entry[0] for entry in held.held.listed(KEY)] == ["m-1", "m-2"]


def test_a_partition_at_its_count_bound_refuses_one_more_and_says_why() -> None:
    held = Held(HeldLimits(messages_per_partition=2))
    held.partition_of[OTHER] = 0
    held.held.hold(_message("m-1"))
    held.held.hold(_message("m-2", OTHER))

    refusal = held.held.hold(_message("m-3"))

    assert refusal == "2 messages are held on partition 0 (at most 2)"


def test_a_partition_at_its_byte_bound_refuses_what_would_pass_it_and_says_why() -> None:
    held = Held(HeldLimits(bytes_per_partition=10))
    held.held.hold(_message("m-1", payload=b"123456"))

    refusal = held.held.hold(_message("m-2", payload=b"12345"))

    assert refusal == "6 bytes are held on partition 0; this message's 5 would pass 10"
    assert held.held.hold(_message("m-3", payload=b"1234")) is None
    assert held.held.hold(_message("o-1", OTHER, payload=b"x" * 10)) is None


def test_taken_and_expired_messages_free_their_share_of_the_bound() -> None:
    held = Held(HeldLimits(messages_per_partition=1))
    held.held.hold(_message("m-1"))
    held.held.take(KEY)
    assert held.held.hold(_message("m-2")) is None
    held.now += WINDOW
    held.held.sweep(lambda key: True)

    assert held.held.hold(_message("m-3")) is None


def test_a_sweep_drops_the_expired_messages_of_the_owned_keys_only() -> None:
    held = Held()
    held.held.hold(_message("m-1"))
    held.held.hold(_message("m-2"))
    held.held.hold(_message("o-1", OTHER))
    held.now += WINDOW / 2
    held.held.hold(_message("m-3"))
    held.now += WINDOW / 2

    dropped = held.held.sweep(lambda key: key == KEY.encode())

    assert dropped == 2
    assert held.held.listed(KEY) == [("m-3", 1090.0)]
    assert held.held.listed(OTHER) == [("o-1", 1060.0)]
    assert f"{KEY}{MESSAGE_MARK}m-1".encode() not in held.store


def test_a_sweep_drops_and_logs_a_key_that_is_no_index_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    held = Held()
    held.held.hold(_message("m-1"))
    held.store[b"\xffnot-an-index-key"] = held.store[KEY.encode()]

    def owns(key: bytes) -> bool:
        return held.partition_of[key.decode()] == 0

    with caplog.at_level(logging.WARNING, logger="dagger.runtime._held"):
        dropped = held.held.sweep(owns)

    assert dropped == 1
    assert b"\xffnot-an-index-key" not in held.store
    assert held.held.listed(KEY) == [("m-1", 1060.0)]
    assert "unreadable key" in caplog.text
