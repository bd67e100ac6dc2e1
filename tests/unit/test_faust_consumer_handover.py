"""The engine's consumer hands a fetched record to the agents' queues without tasks.

faust's consumer loop (``_drain_messages``) hands each record over with
``wait_first(callback(message), suspend_flow.wait())``: mode's ``wait_first`` makes a task
for each of those, and for the consumer's stopped and crashed events, then cancels the
three that lost. The engine's consumer runs the callback first and makes no task when it
returns without waiting, which a queue with room always does; a callback that waits is
raced against the others as before. These tests drive the engine's consumer of an
offline app (nothing connects) with stand-in callbacks.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faust.transport.consumer import Consumer

from dagger._faust_internals._app import _Consumer
from dagger.service.services import Dagger
from tests.unit._workflows import OFFLINE_BROKER


@pytest.fixture
async def consumer() -> AsyncIterator[_Consumer]:
    """The engine's consumer, made inside the test's loop (mode's services keep theirs)."""
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app
    engine_consumer = app.consumer
    assert isinstance(engine_consumer, _Consumer)
    yield engine_consumer
    engine_consumer._thread.thread_loop.close()  # made for a thread that never started


@pytest.fixture
async def tasks_made() -> AsyncIterator[list[Any]]:
    """The coroutines the running loop made tasks of while the test ran."""
    loop = asyncio.get_running_loop()
    made: list[Any] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting_factory)
    try:
        yield made
    finally:
        loop.set_task_factory(None)


def test_faust_hands_each_record_over_with_the_consumers_wait_first() -> None:
    source = inspect.getsource(Consumer._drain_messages)
    assert "await self.wait_first(" in source
    assert "callback(message), self.suspend_flow.wait()" in source


async def test_a_record_the_queue_takes_at_once_is_handed_over_with_no_task(
    consumer: _Consumer, tasks_made: list[Any]
) -> None:
    queued: list[str] = []

    async def deliver() -> str:
        queued.append("m-0")
        return "queued"

    handing_over = deliver()
    tasks_before = len(tasks_made)
    result = await consumer.wait_first(handing_over, consumer.suspend_flow.wait())

    assert queued == ["m-0"]
    assert result.done == [handing_over]
    assert result.results == ["queued"]
    assert not result.stopped
    assert tasks_made[tasks_before:] == [], "mode's wait_first makes four tasks for each record"


async def test_a_record_that_waits_for_room_is_handed_over_once_there_is_room(
    consumer: _Consumer,
) -> None:
    room = asyncio.Event()

    async def deliver() -> str:
        await room.wait()
        return "queued"

    waiting = asyncio.create_task(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    room.set()

    result = await waiting
    assert result.results == ["queued"]
    assert not result.stopped


async def test_a_record_that_waits_gives_way_when_the_flow_is_suspended(
    consumer: _Consumer,
) -> None:
    steps: list[str] = []

    async def deliver() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            steps.append("cancelled")

    waiting = asyncio.create_task(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()

    result = await asyncio.wait_for(waiting, 1.0)
    await asyncio.sleep(0)
    assert result.results == [True], "the suspended flow won"
    assert steps == ["cancelled"], "the hand-over that lost was cancelled, as mode does"


async def test_what_the_hand_over_raises_is_raised_and_nothing_is_left_unawaited(
    consumer: _Consumer,
) -> None:
    async def deliver() -> None:
        raise ValueError("no channel")

    # Unit tests turn warnings into errors: a suspend_flow.wait() left unawaited fails it.
    with pytest.raises(ValueError, match="no channel"):
        await consumer.wait_first(deliver(), consumer.suspend_flow.wait())


async def test_a_stopped_consumer_says_so_after_handing_the_record_over(
    consumer: _Consumer,
) -> None:
    queued: list[str] = []

    async def deliver() -> None:
        queued.append("m-0")

    consumer._stopped.set()
    result = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())

    assert queued == ["m-0"]
    assert result.stopped
