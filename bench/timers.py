"""Timer benchmarks (issue 4).

1. ``timer_lateness``: 100,000 trigger workflows whose timers fall due within one minute,
   on a fresh embedded broker and one `dagger worker` (its tick wakes at each due time,
   and at least every 0.25 s, its ``trigger_interval``). Lateness is
   the time a trigger's ``execute`` ran minus its due time. Target: p99 <= 1 s. The first
   timer falls due only after the worker has stored every instance (the run checks it and
   reports the margin), so creation does not count as lateness.
2. ``timer_tick_cost``: the cost of a tick (``TimerIndex.pop_due`` over 4 partitions) with
   nothing due, with 1,000 and with 1,000,000 timers pending, in-process. Target: it does
   not grow with the pending count.

Run: ``python -m bench.timers`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench._common import cpu_seconds, median, record, start_worker, stop
from dagger.runtime._timers import TimerIndex
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from integration_tests.apps.timer_workflows import build_timer_templates

PARTITIONS = 4
CREATION_RATE = 1000
"""Instances/s the worker is assumed to store at least, to set how far ahead timers fall due."""


async def lateness_run(timers: int, window: float, profile: Path | None = None) -> dict[str, Any]:
    """One run: ``timers`` triggers due within ``window`` seconds; return lateness figures.

    With ``profile``, the worker runs under cProfile and writes its statistics there.
    """
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-timers-"))
    async with EmbeddedBroker() as broker:
        topics = {"timer_tasks": PARTITIONS, "timer_updates": PARTITIONS, "timer_dead": PARTITIONS}
        await broker.acreate_topics(topics)
        env = {
            "DAGGER_BROKER": broker.url,
            "TEST_APP_ID": "bench-timers",
            "TEST_TASKS_TOPIC": "timer_tasks",
            "TEST_UPDATE_TOPIC": "timer_updates",
            "TEST_DEAD_LETTER_TOPIC": "timer_dead",
            "TEST_DATADIR": str(workdir),
            "TEST_TRIGGER_INTERVAL": "0.25",
        }
        worker = start_worker(
            "integration_tests.apps.timer_app", env, workdir / "worker.log", profile=profile
        )
        engine = Dagger(
            broker=broker.url,
            store="memory://",
            application_name="bench-timers-client",
            kafka_partitions=PARTITIONS,
            tasks_topic="timer_tasks",
        )
        trigger = build_timer_templates(engine)["trigger"]
        updates = AIOKafkaConsumer(
            "timer_updates",
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
        )
        await updates.start()
        watch = _TimerWatch(updates, timers)
        try:
            # Due only once the worker can have stored every instance, so the figure is
            # the lateness of firing, not of creation (every timer is registered before
            # the first falls due; the run fails otherwise).
            lead = 30 + timers / CREATION_RATE
            due_from = time.time() + lead
            for chunk in range(0, timers, 1000):
                await asyncio.gather(
                    *(
                        trigger.create_instance(
                            uuid.uuid4(),
                            "key",
                            submit_task=True,
                            key=f"t-{n}",
                            run_at=due_from + window * n / timers,
                        )
                        for n in range(chunk, min(chunk + 1000, timers))
                    )
                )
            await watch.until(lambda: len(watch.seen) >= timers, timeout=lead + 60)
            margin = due_from - time.time()
            if margin < 0:
                raise RuntimeError(
                    f"the worker stored the last instance {-margin:.1f} s after the first "
                    f"timer fell due; lower CREATION_RATE (the storing rate assumed) to start later"
                )
            worker_cpu = cpu_seconds(worker.pid)
            await watch.until(lambda: len(watch.lateness) >= timers, timeout=margin + window + 300)
            lateness = sorted(watch.lateness.values())
            return {
                "timers": timers,
                "window_s": window,
                "seconds_all_stored_before_first_due": margin,
                "lateness_p50_ms": 1000 * lateness[len(lateness) // 2],
                "lateness_p99_ms": 1000 * lateness[int(len(lateness) * 0.99) - 1],
                "lateness_max_ms": 1000 * lateness[-1],
                "worker_cpu_s_while_firing": cpu_seconds(worker.pid) - worker_cpu,
            }
        finally:
            await updates.stop()
            await engine.faust_app.producer.stop()
            stop(worker)


class _TimerWatch:
    """Reads the update topic: which instances the worker stored, and each one's lateness."""

    def __init__(self, updates: AIOKafkaConsumer, timers: int) -> None:
        self._updates = updates
        self._timers = timers
        self.seen: set[str] = set()
        self.lateness: dict[str, float] = {}

    async def until(self, done: Callable[[], bool], timeout: float) -> None:
        """Read updates until ``done()``; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self.seen):,} stored, {len(self.lateness):,} fired "
                    f"of {self._timers:,} timers"
                )
            batches = await self._updates.getmany(timeout_ms=500, max_records=10000)
            for messages in batches.values():
                for message in messages:
                    document = json.loads(message.value)
                    self.seen.add(document["id"])
                    params = document["runtime_parameters"]
                    if document["status"] == "COMPLETED" and "fired_at" in params:
                        self.lateness[document["id"]] = params["fired_at"] - params["run_at"]


def tick_cost(pending: int, repeats: int = 2000) -> float:
    """Microseconds per tick over 4 partitions with ``pending`` timers and none due."""
    index = TimerIndex({})
    far = time.time() + 3600
    for n in range(pending):
        index.schedule(n % PARTITIONS, f"i-{n}", "t", far + n / 1000)
    now = time.time()

    def tick() -> None:
        for partition in range(PARTITIONS):
            assert not index.pop_due(partition, now, 2000)

    return min(timeit.repeat(tick, number=repeats, repeat=5)) / repeats * 1e6


async def main(timers: int, window: float, runs: int, profile: Path | None) -> None:
    late = [await lateness_run(timers, window, profile) for _ in range(runs)]
    figures = {key: median([run[key] for run in late]) for key in late[0] if key != "timers"}
    figures.update(timers=timers, runs=runs, target_p99_ms=1000)
    record(
        "timer_lateness",
        figures,
        f"timers: {timers:,} due within {window:.0f}s: "
        f"lateness p50 {figures['lateness_p50_ms']:.0f} ms, "
        f"p99 {figures['lateness_p99_ms']:.0f} ms, max {figures['lateness_max_ms']:.0f} ms "
        f"(target p99 <= 1000 ms; median of {runs} run(s))",
    )
    small = median([tick_cost(1_000) for _ in range(3)])
    large = median([tick_cost(1_000_000) for _ in range(3)])
    record(
        "timer_tick_cost",
        {
            "pending_small": 1_000,
            "pending_large": 1_000_000,
            "tick_us_small": small,
            "tick_us_large": large,
            "ratio_large_to_small": large / small,
            "runs": 3,
        },
        f"tick with nothing due: {small:.2f} us with 1,000 pending, {large:.2f} us with 1,000,000 "
        f"pending (ratio {large / small:.2f}; target: does not grow)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="timer benchmarks")
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the worker under cProfile and write its statistics to this file "
        "(the last run's, with --runs above 1); the figures then include its overhead",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.timers, arguments.window, arguments.runs, arguments.profile))
