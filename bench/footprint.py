"""Footprint benchmark (issue 5, workload 3): instances waiting on a listener.

``--instances`` (100,000) 3-step instances are created on a fresh embedded broker and one
`dagger worker` on ``rocksdb://``; no service answers, so each stays waiting on its
listener (its command sent, its key in the correlation index). Then: the worker's RSS;
bytes on disk per instance (the data directory, while the worker runs and after it
stopped); changelog bytes per instance (the key and value bytes of every record of the
engine's changelog topics, divided by the instances). Targets at 1,000,000 instances:
RSS <= 1 GiB and <= 1 KB on disk per waiting instance.

The worker's RSS is sampled every 2 s against the instances waiting so far. RSS at
1,000,000 is extrapolated with the growth per instance over the run's second half: the
stores' write buffers and caches are bounded and fill early. The straight line from the
baseline (which counts those fills as per-instance growth) is reported beside it.
The embedded broker cannot hold a 1,000,000-instance run: at about 370,000 instances its
fetches slowed to a few instances per second (memory storage, 5 GB, one core busy).

Run: ``python -m bench.footprint`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    directory_bytes,
    end_offsets,
    medians,
    record,
    rss_bytes,
    start_worker,
    stop,
    stop_all,
    topic_bytes,
    update_consumer,
)
from bench._load import Completions, closed_loop
from bench._workflows import ONE_STEP, THREE_STEP
from bench.throughput import engine_client, engine_names, engine_topics
from dagger.testing import EmbeddedBroker

TABLES = ("dagger_instances", "dagger_correlation", "dagger_early_messages", "dagger_timers")
TARGET_RSS_BYTES = 2**30
TARGET_DISK_BYTES = 1000
TARGET_AT = 1_000_000
CHUNK = 1000


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog topic faust gives ``table`` of app ``app_id`` (version 1)."""
    return f"{app_id}-{table}-changelog"


def extrapolate(baseline: float, measured: float, at: int, to: int) -> float:
    """Scale what ``at`` instances added to ``baseline`` up to ``to`` instances."""
    return baseline + (measured - baseline) * to / at


async def footprint_run(instances: int) -> dict[str, Any]:
    """One run on a fresh broker: create ``instances`` waiting instances and measure."""
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-footprint-"))
    names = engine_names("footprint", workdir, store="rocksdb://")
    datadir = Path(names["BENCH_DATADIR"])
    app_id = names["BENCH_APP_ID"]
    processes: list[subprocess.Popen[bytes]] = []
    async with EmbeddedBroker() as broker:
        try:
            await broker.acreate_topics(engine_topics(names))
            worker = start_worker(
                "bench._throughput_app",
                {"DAGGER_BROKER": broker.url, **names},
                workdir / "worker.log",
            )
            processes.append(worker)
            updates = update_consumer(broker.bootstrap_servers, names["BENCH_UPDATES_TOPIC"])
            async with (
                Completions(updates) as completions,
                engine_client(broker, names, ONE_STEP) as warm,
            ):
                await closed_loop(warm, completions, 1, 1, "warm", timeout=180)
            baseline_rss = rss_bytes(worker.pid)
            started = time.monotonic()
            index_topic = changelog_topic(app_id, "dagger_correlation")
            samples: list[tuple[int, int]] = []
            sampler = asyncio.create_task(
                _sample_rss(broker.bootstrap_servers, index_topic, worker.pid, samples)
            )
            try:
                async with engine_client(broker, names, THREE_STEP) as submit:
                    for chunk in range(0, instances, CHUNK):
                        end = min(chunk + CHUNK, instances)
                        await asyncio.gather(*(submit(f"wait-{n}") for n in range(chunk, end)))
                await _wait_for_records(broker.bootstrap_servers, index_topic, instances)
            finally:
                sampler.cancel()
            waiting_after = time.monotonic() - started
            await asyncio.sleep(5)  # let the last writes and commits settle
            rss = rss_bytes(worker.pid)
            samples.append((instances, rss))
            figures: dict[str, Any] = {
                "seconds_to_all_waiting": waiting_after,
                "worker_rss_mb": rss / 2**20,
                "worker_baseline_rss_mb": baseline_rss / 2**20,
                "rss_bytes_per_instance_second_half": late_slope(samples, instances),
                "rss_mb_by_instances_waiting": {
                    str(count): round(sample / 2**20, 1) for count, sample in samples[::5]
                },
                "disk_bytes_per_instance_running": directory_bytes(datadir) / instances,
            }
            changelog_total = 0
            for table in TABLES:
                _, size = await topic_bytes(
                    broker.bootstrap_servers, changelog_topic(app_id, table)
                )
                figures[f"changelog_bytes_per_instance_{table}"] = size / instances
                changelog_total += size
            figures["changelog_bytes_per_instance"] = changelog_total / instances
            _, engine_log = await topic_bytes(broker.bootstrap_servers, names["BENCH_TASKS_TOPIC"])
            figures["engine_topic_bytes_per_instance"] = engine_log / instances
            stop(worker)  # closes the stores: what stays on disk
            figures["disk_bytes_per_instance_stopped"] = directory_bytes(datadir) / instances
            return figures
        finally:
            stop_all(processes)
            shutil.rmtree(workdir, ignore_errors=True)


async def _sample_rss(
    bootstrap_servers: str, index_topic: str, pid: int, samples: list[tuple[int, int]]
) -> None:
    """Every 2 s, append (instances waiting, as the index changelog counts them, worker RSS)."""
    while True:
        waiting = (await end_offsets(bootstrap_servers, [index_topic]))[index_topic]
        samples.append((waiting, rss_bytes(pid)))
        await asyncio.sleep(2)


def late_slope(samples: list[tuple[int, int]], instances: int) -> float:
    """RSS bytes per instance over the second half of the run (least squares).

    Caches and write buffers are bounded: they fill early and then stop growing, so the
    growth per instance once they are full is what a larger run would add.
    """
    late = [(count, rss) for count, rss in samples if count >= instances // 2]
    if len(late) < 2:
        return float("nan")
    mean_count = sum(count for count, _ in late) / len(late)
    mean_rss = sum(rss for _, rss in late) / len(late)
    spread = sum((count - mean_count) ** 2 for count, _ in late)
    if spread == 0:
        return float("nan")
    return sum((count - mean_count) * (rss - mean_rss) for count, rss in late) / spread


async def _wait_for_records(bootstrap_servers: str, topic: str, count: int) -> None:
    """Wait until ``topic`` holds ``count`` records (every listener is in the index)."""
    deadline = time.monotonic() + 1800
    while (await end_offsets(bootstrap_servers, [topic]))[topic] < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic} did not reach {count} records")
        await asyncio.sleep(2)


async def main(instances: int, runs: int) -> None:
    results = [await footprint_run(instances) for _ in range(runs)]
    numeric = [key for key, value in results[0].items() if isinstance(value, int | float)]
    figures: dict[str, Any] = medians(results, numeric)
    figures["rss_mb_by_instances_waiting"] = results[-1]["rss_mb_by_instances_waiting"]
    baseline, rss = figures["worker_baseline_rss_mb"], figures["worker_rss_mb"]
    figures["worker_rss_mb_linear_from_baseline_to_1m"] = extrapolate(
        baseline, rss, instances, TARGET_AT
    )
    slope = figures["rss_bytes_per_instance_second_half"]
    # RSS that shrank over the second half (a flush, the allocator giving memory back)
    # is taken as flat: a lower figure than the one measured would claim too much.
    figures["worker_rss_mb_extrapolated_to_1m"] = (
        rss + max(0.0, slope) * max(0, TARGET_AT - instances) / 2**20
    )
    disk = figures["disk_bytes_per_instance_stopped"]
    figures.update(
        instances=instances,
        runs=runs,
        target_rss_mb_at_1m=TARGET_RSS_BYTES / 2**20,
        target_disk_bytes_per_instance=TARGET_DISK_BYTES,
    )
    record(
        "footprint",
        figures,
        f"footprint: {instances:,} instances waiting on a listener, rocksdb://: "
        f"worker RSS {rss:.0f} MB (baseline {baseline:.0f} MB; growing "
        f"{slope:.0f} B/instance over the second half: "
        f"{figures['worker_rss_mb_extrapolated_to_1m']:.0f} MB extrapolated to 1,000,000, "
        f"target <= 1024 MB), disk {disk:.0f} B/instance after stop "
        f"({figures['disk_bytes_per_instance_running']:.0f} B running; target <= 1000 B), "
        f"changelog {figures['changelog_bytes_per_instance']:.0f} B/instance, "
        f"all waiting after {figures['seconds_to_all_waiting']:.0f} s "
        f"(median of {runs} run(s))",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="footprint of waiting instances")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.instances, arguments.runs))
