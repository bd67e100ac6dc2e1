"""A reader of the task update topic for benchmarks that kill workers.

:class:`UpdateLog` runs in the background and keeps which instances finished and when, the
first update published after a given instant (processing resumed), and, for the chaos
suite, every distinct completion time recorded for each task (a task completed twice shows
two) and the latest document of each instance.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench._common import TERMINAL


class UpdateLog:
    """Reads the update topic: finished ids, when updates were published, task completions."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.done: set[str] = set()
        self.first_update_after: float | None = None
        self.last_done_at = 0.0
        self.documents = 0
        self.latest: dict[str, dict[str, Any]] = {}
        """The document with the highest ``update_count`` of each instance."""
        self.completions: defaultdict[tuple[str, str], set[float]] = defaultdict(set)
        """(instance id, task name) -> every ``time_completed`` a COMPLETED task showed."""
        self._since: float | None = None

    def watch_after(self, since: float) -> None:
        """Record the first update published after ``since`` (epoch seconds)."""
        self._since, self.first_update_after = since, None

    async def run(self) -> None:
        """Read until cancelled."""
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
                for messages in batches.values():
                    for message in messages:
                        self._see(json.loads(message.value))
        finally:
            await self._consumer.stop()

    def _see(self, document: dict[str, Any]) -> None:
        self.documents += 1
        published = document["time_updated"]
        if (
            self._since is not None
            and published > self._since
            and (self.first_update_after is None or published < self.first_update_after)
        ):
            self.first_update_after = published
        instance_id = document["id"]
        for task in document["tasks"]:
            if task["status"] == "COMPLETED" and task["kind"] == "LEAF":
                self.completions[instance_id, task["name"]].add(task["time_completed"])
        previous = self.latest.get(instance_id)
        if previous is None or document["update_count"] >= previous["update_count"]:
            self.latest[instance_id] = document
        if document["status"] in TERMINAL and instance_id not in self.done:
            self.done.add(instance_id)
            self.last_done_at = time.time()

    async def until(self, done: int, timeout: float) -> None:
        """Wait until ``done`` instances have finished."""
        deadline = time.monotonic() + timeout
        while len(self.done) < done:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.done)}/{done} completed")
            await asyncio.sleep(0.05)

    async def settle(self, done: int, idle: float) -> None:
        """Wait until ``done`` instances have finished, or none has for ``idle`` seconds."""
        seen, quiet_since = len(self.done), time.monotonic()
        while len(self.done) < done and time.monotonic() - quiet_since < idle:
            await asyncio.sleep(0.1)
            if len(self.done) != seen:
                seen, quiet_since = len(self.done), time.monotonic()
