"""Staged store writes: held until the batch's sends are flushed, then applied in order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from dagger.runtime._staging import StagedStore, StagingArea


def test_reads_see_staged_writes_and_the_backing_store_waits_for_commit() -> None:
    backing = {b"kept": b"0", b"gone": b"1"}
    store = StagedStore(backing)

    store[b"new"] = b"2"
    store[b"kept"] = b"3"
    del store[b"gone"]

    assert backing == {b"kept": b"0", b"gone": b"1"}
    assert store[b"new"] == b"2"
    assert store.get(b"kept") == b"3"
    assert b"gone" not in store
    assert store.get(b"gone") is None
    with pytest.raises(KeyError):
        store[b"gone"]
    assert sorted(store) == [b"kept", b"new"]
    assert len(store) == 2
    assert store.pending == 3

    assert store.commit() == 3
    assert backing == {b"kept": b"3", b"new": b"2"}
    assert store.pending == 0


def test_deleting_a_key_that_is_nowhere_raises() -> None:
    store = StagedStore({})
    with pytest.raises(KeyError):
        del store[b"missing"]
    store[b"brief"] = b"x"
    del store[b"brief"]
    with pytest.raises(KeyError):
        del store[b"brief"]
    store.commit()
    assert dict(store.backing) == {}


def test_discarded_writes_never_reach_the_backing_store() -> None:
    backing = {b"a": b"1"}
    store = StagedStore(backing)
    store[b"a"] = b"2"
    store[b"b"] = b"3"

    assert store.discard() == 2
    assert store[b"a"] == b"1"
    assert b"b" not in store
    assert store.commit() == 0
    assert backing == {b"a": b"1"}


def test_each_write_is_applied_in_the_context_captured_when_it_was_made() -> None:
    applied: list[tuple[Any, bytes, bytes | None]] = []
    current: list[Any] = [None]

    class Recording(dict[bytes, bytes]):
        def __setitem__(self, key: bytes, value: bytes) -> None:
            applied.append((current[0], key, value))
            super().__setitem__(key, value)

        def __delitem__(self, key: bytes) -> None:
            applied.append((current[0], key, None))
            super().__delitem__(key)

    @contextmanager
    def within(captured: Any) -> Iterator[None]:
        current[0] = captured
        try:
            yield
        finally:
            current[0] = None

    backing = Recording({b"old": b"0"})
    capture = iter(["event-1", "event-2", "event-3", "event-4"])
    store = StagedStore(backing, capture=lambda: next(capture), within=within)
    store[b"a"] = b"1"
    store[b"b"] = b"2"
    store[b"a"] = b"3"
    del store[b"old"]

    store.commit()

    # One write per key, its last value, in the order keys were last written.
    assert applied == [("event-2", b"b", b"2"), ("event-3", b"a", b"3"), ("event-4", b"old", None)]


async def test_the_area_flushes_the_sends_before_it_writes_anything() -> None:
    order: list[str] = []
    first: dict[bytes, bytes] = {}
    second: dict[bytes, bytes] = {}

    async def flush() -> None:
        order.append(f"flush (first holds {len(first)}, second holds {len(second)})")

    area = StagingArea(flush)
    one, two = area.stage(first), area.stage(second)
    one[b"x"] = b"1"
    two[b"y"] = b"2"
    two[b"z"] = b"3"

    assert area.pending == 3
    assert await area.commit() == 3
    assert order == ["flush (first holds 0, second holds 0)"]
    assert first == {b"x": b"1"} and second == {b"y": b"2", b"z": b"3"}


async def test_an_area_with_nothing_staged_does_not_flush() -> None:
    flushes: list[int] = []

    async def flush() -> None:
        flushes.append(1)

    area = StagingArea(flush)
    area.stage({})
    assert await area.commit() == 0
    assert flushes == []


async def test_a_failed_flush_writes_nothing_and_the_batch_can_be_discarded() -> None:
    backing: dict[bytes, bytes] = {}

    async def flush() -> None:
        raise ConnectionError("broker gone")

    area = StagingArea(flush)
    store = area.stage(backing)
    store[b"a"] = b"1"

    with pytest.raises(ConnectionError):
        await area.commit()
    assert backing == {}
    assert area.discard() == 1
    assert area.pending == 0


class FailingOnce(dict[bytes, bytes]):
    """A backing store whose write of ``key`` raises the first time."""

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self.failing = key

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if key == self.failing:
            self.failing = b""
            raise OSError("disk full")
        super().__setitem__(key, value)


def test_a_commit_that_raises_keeps_what_it_did_not_write_for_the_next_commit() -> None:
    backing = FailingOnce(b"b")
    store = StagedStore(backing)
    for key in (b"a", b"b", b"c"):
        store[key] = key.upper()

    with pytest.raises(OSError, match="disk full"):
        store.commit()
    assert dict(backing) == {b"a": b"A"}
    assert store.pending == 2

    assert store.commit() == 2
    assert dict(backing) == {b"a": b"A", b"b": b"B", b"c": b"C"}
