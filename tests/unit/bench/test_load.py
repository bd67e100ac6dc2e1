"""The closed loop keeps its window in flight and measures each instance."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench._load import LoadResult, closed_loop


class InstantCompletions:
    """Completes each instance a little after it is submitted."""

    def __init__(self) -> None:
        self.futures: dict[str, asyncio.Future[float]] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    def expect(self, instance_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.futures[instance_id] = future
        return future

    async def submit(self, instance_id: str) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        asyncio.get_running_loop().call_later(0.001, self._complete, instance_id)

    def _complete(self, instance_id: str) -> None:
        self.in_flight -= 1
        self.futures[instance_id].set_result(time.time())


async def test_closed_loop_runs_every_instance_within_its_window() -> None:
    completions = InstantCompletions()
    fake: Any = completions
    result = await closed_loop(completions.submit, fake, total=50, window=4, prefix="t")
    assert sorted(completions.futures) == sorted(f"t-{n}" for n in range(50))
    assert completions.most_in_flight <= 4
    assert len(result.latencies) == 50
    assert all(latency >= 0 for latency in result.latencies)
    assert result.finished >= result.started


def test_load_result_figures() -> None:
    result = LoadResult(instances=4, started=10.0, finished=12.0, latencies=[0.1, 0.2, 0.3, 0.4])
    figures = result.figures()
    assert figures["instances_per_s"] == 2.0
    assert figures["latency_p50_ms"] == 200.0
    assert figures["latency_p99_ms"] == 400.0
