"""A closed-loop load: a fixed number of instances in flight until N have completed.

:class:`Completions` reads a topic of JSON documents (the engine's update topic, or the
limit pipeline's done topic) and resolves a future per instance id when its status is
terminal. :func:`closed_loop` keeps ``window`` instances in flight: each completion starts
the next submit, so latency is a step's real cost rather than time queued behind a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench._common import TERMINAL, percentile

Submit = Callable[[str], Awaitable[None]]
"""Start the instance with the given id."""


class Completions:
    """Completion times by instance id, read from a topic of JSON documents."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._early: dict[str, float] = {}
        self._reading: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Completions:
        await self._consumer.start()
        self._reading = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        await self._consumer.stop()

    def expect(self, instance_id: str) -> asyncio.Future[float]:
        """A future of the time ``instance_id`` was seen complete (call before submitting)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if instance_id in self._early:
            future.set_result(self._early.pop(instance_id))
        else:
            self._waiters[instance_id] = future
        return future

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for messages in batches.values():
                for message in messages:
                    document = json.loads(message.value)
                    if document.get("status") not in TERMINAL:
                        continue
                    waiter = self._waiters.pop(document["id"], None)
                    if waiter is None:
                        self._early[document["id"]] = now
                    elif not waiter.done():
                        waiter.set_result(now)


@dataclass
class LoadResult:
    """What a closed-loop run measured."""

    instances: int
    started: float
    finished: float
    latencies: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Instances/s (first submit to last completion) and latency percentiles in ms."""
        elapsed = self.finished - self.started
        return {
            "instances": self.instances,
            "elapsed_s": elapsed,
            "instances_per_s": self.instances / elapsed if elapsed > 0 else 0.0,
            "latency_p50_ms": 1000 * percentile(self.latencies, 50),
            "latency_p99_ms": 1000 * percentile(self.latencies, 99),
        }


async def closed_loop(
    submit: Submit,
    completions: Completions,
    total: int,
    window: int,
    prefix: str,
    timeout: float = 600,
) -> LoadResult:
    """Run ``total`` instances with ``window`` in flight; ids are ``{prefix}-{n}``."""
    counter = iter(range(total))
    latencies: list[float] = []
    finished = 0.0

    async def lane() -> None:
        nonlocal finished
        for n in counter:
            instance_id = f"{prefix}-{n}"
            done = completions.expect(instance_id)
            submitted = time.time()
            await submit(instance_id)
            completed = await asyncio.wait_for(done, timeout)
            latencies.append(completed - submitted)
            finished = max(finished, completed)

    started = time.time()
    await asyncio.gather(*(lane() for _ in range(min(window, total))))
    return LoadResult(total, started, finished, latencies)
