"""The engine's faust consumer: no record is lost when a table recovery seeks the streams."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import TP

from dagger.service.services import Dagger
from tests.unit._workflows import OFFLINE_BROKER

TOPIC = "engine-events"
COMMITTED = 10
END = 40
FETCH = 10


class _Partition:
    """One partition as aiokafka serves it: fetches advance a position, a seek moves it."""

    def __init__(self) -> None:
        self.tp = TP(TOPIC, 0)
        self.position = COMMITTED

    async def fetch(self, timeout: float) -> tuple[dict[TP, list[Any]], set[TP]]:
        await asyncio.sleep(0.001)
        start, self.position = self.position, min(self.position + FETCH, END)
        records = [
            ConsumerRecord(TOPIC, 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])
            for offset in range(start, self.position)
        ]
        return ({self.tp: records} if records else {}), {self.tp}

    async def seek_to_committed(self) -> dict[TP, int]:
        self.position = COMMITTED
        return {self.tp: COMMITTED}


async def test_records_fetched_before_the_recovery_seek_are_read_again() -> None:
    # faust's recovery resumes the flow to read the changelogs, then resumes the stream
    # partitions, seeks them to their committed offsets, clears the agents' queues and
    # resumes the flow. Records the consumer handed out before the seek and still queued
    # are cleared; they must be read again, not skipped as already read.
    app = Dagger(broker=OFFLINE_BROKER, store="memory://", tasks_topic=TOPIC).faust_app
    consumer = app.consumer
    partition = _Partition()
    consumer._wait_next_records = partition.fetch
    consumer.seek_to_committed = partition.seek_to_committed
    consumer.highwater = lambda tp: END
    queue = app.FlowControlQueue(maxsize=2, clear_on_resume=True)  # an agent's queue
    applied: list[int] = []
    started, caught_up = asyncio.Event(), asyncio.Event()

    async def on_message(message: Any) -> None:
        await queue.put(message)

    async def agent() -> None:
        while True:
            applied.append((await queue.get()).offset)
            if len(applied) >= 3:
                started.set()
            if set(applied) >= set(range(COMMITTED, END)):
                caught_up.set()
            await asyncio.sleep(0.002)

    consumer.callback = on_message
    app.flow_control.resume()
    consumer.resume_flow()
    fetcher = SimpleNamespace(_stopped=asyncio.Event())  # what the drain loop reads of it
    tasks = [
        asyncio.ensure_future(consumer._drain_messages(fetcher)),
        asyncio.ensure_future(agent()),
    ]
    try:
        await started.wait()
        await consumer.perform_seek()
        app.flow_control.resume()
        consumer.resume_flow()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(caught_up.wait(), timeout=2)
    finally:
        fetcher._stopped.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        consumer._thread.thread_loop.close()  # the consumer thread's loop; never started

    assert sorted(set(range(COMMITTED, END)) - set(applied)) == []
