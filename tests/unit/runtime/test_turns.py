"""Turns: records apply one at a time, their hooks await side by side, up to a bound.

Pure asyncio, no engine: each "record" is a coroutine started with :meth:`Turns.start`,
as the engine topic's agent starts them, whose steps log what they do.
"""

from __future__ import annotations

import asyncio

import pytest

from dagger.runtime._turns import Turns

SETTLE = 50
"""Event-loop rounds that let every runnable task run as far as it can."""


async def settle() -> None:
    for _ in range(SETTLE):
        await asyncio.sleep(0)


class Gates:
    """One closed gate per name; a hook waits at its gate until the test opens it."""

    def __init__(self) -> None:
        self._gates: dict[str, asyncio.Event] = {}

    def __getitem__(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    async def wait(self, name: str) -> None:
        await self[name].wait()


async def test_hooks_of_different_records_await_side_by_side() -> None:
    turns = Turns(max_concurrent_hooks=10)
    gates = Gates()
    log: list[str] = []

    async def record(name: str) -> None:
        log.append(f"start {name}")
        await turns.hook(gates.wait(name))
        log.append(f"end {name}")

    first = await turns.start(record("a"))
    second = await turns.start(record("b"))  # not held back by a's hook
    await settle()
    assert log == ["start a", "start b"]

    gates["b"].set()
    await asyncio.wait_for(second, 10)
    assert not first.done()
    gates["a"].set()
    await asyncio.wait_for(first, 10)
    assert log == ["start a", "start b", "end b", "end a"]


async def test_what_a_record_does_between_its_hooks_never_interleaves_with_another() -> None:
    turns = Turns(max_concurrent_hooks=10)
    inside: list[str] = []
    overlaps: list[tuple[str, str]] = []

    async def record(name: str) -> None:
        for _ in range(3):
            if inside:
                overlaps.append((inside[0], name))
            inside.append(name)
            await asyncio.sleep(0)  # an await that is not a hook keeps the turn
            inside.remove(name)
            await turns.hook(asyncio.sleep(0))

    started = [await turns.start(record(f"r{n}")) for n in range(5)]
    await asyncio.wait_for(asyncio.gather(*started), 10)
    assert overlaps == []


async def test_no_more_hooks_await_at_once_than_the_bound() -> None:
    turns = Turns(max_concurrent_hooks=3)
    gates = Gates()
    awaiting: set[str] = set()
    most = 0

    async def hook(name: str) -> None:
        nonlocal most
        awaiting.add(name)
        most = max(most, len(awaiting))
        await gates.wait("all")
        awaiting.discard(name)

    async def record(name: str) -> None:
        await turns.hook(hook(name))

    started = [await turns.start(record(f"r{n}")) for n in range(8)]
    await settle()
    assert len(awaiting) == 3
    gates["all"].set()
    await asyncio.wait_for(asyncio.gather(*started), 10)
    assert most == 3


async def test_one_instances_events_apply_in_order_while_others_pass() -> None:
    turns = Turns(max_concurrent_hooks=10)
    gates = Gates()
    log: list[str] = []

    async def event(instance_id: str, name: str) -> None:
        async with turns.instance(instance_id):
            log.append(f"apply {name}")
            await turns.hook(gates.wait(name))
            log.append(f"done {name}")

    a1 = await turns.start(event("A", "a1"))
    a2 = await turns.start(event("A", "a2"))  # waits for a1, outside the turn
    b1 = await turns.start(event("B", "b1"))
    a3 = await turns.start(event("A", "a3"))
    gates["b1"].set()
    await asyncio.wait_for(b1, 10)
    await settle()
    assert log == ["apply a1", "apply b1", "done b1"]
    assert not (a2.done() or a3.done())

    gates["a3"].set()  # a3 is ready first, yet waits for a2
    gates["a2"].set()
    await settle()
    assert log[3:] == []
    gates["a1"].set()
    await asyncio.wait_for(asyncio.gather(a1, a2, a3), 10)
    assert log[3:] == ["done a1", "apply a2", "done a2", "apply a3", "done a3"]
    assert turns.waiting_instances() == 0


async def test_a_record_that_waits_for_nothing_is_applied_before_start_returns() -> None:
    turns = Turns(max_concurrent_hooks=1)
    log: list[str] = []

    async def hook() -> None:
        log.append("hook")

    async def record() -> None:
        async with turns.instance("A"):
            await turns.hook(hook())
        log.append("applied")

    async def failing() -> None:
        raise RuntimeError("boom")

    assert await turns.start(record()) is None
    assert log == ["hook", "applied"]
    with pytest.raises(RuntimeError, match="boom"):
        await turns.start(failing())
    assert not turns.holds_turn()
    assert await turns.start(record()) is None  # the turn was given back


async def test_without_a_turn_a_hook_runs_inline() -> None:
    turns = Turns(max_concurrent_hooks=1)

    async def hook() -> str:
        return "ran"

    assert await turns.hook(hook()) == "ran"
    async with turns.instance("A"):
        assert await turns.hook(hook()) == "ran"
    assert turns.waiting_instances() == 0


async def test_a_record_cancelled_in_its_hook_gives_the_turn_and_the_instance_back() -> None:
    turns = Turns(max_concurrent_hooks=1)
    gates = Gates()

    async def event(instance_id: str, name: str) -> None:
        async with turns.instance(instance_id):
            await turns.hook(gates.wait(name))

    stuck = await turns.start(event("A", "never"))
    await settle()
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    gates["next"].set()
    after = await asyncio.wait_for(turns.start(event("A", "next")), 10)
    assert after is None  # nothing to wait for: applied before start returned
    assert turns.waiting_instances() == 0
    assert not turns.holds_turn()
