"""Shared benchmark plumbing: results file, medians, percentiles, CPU and memory readings,
worker and helper processes, the update topic and topic sizes."""

from __future__ import annotations

import asyncio
import datetime
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "results.jsonl"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TERMINAL = frozenset({"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"})
"""Instance statuses after which nothing more happens."""


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def record(workload: str, figures: dict[str, Any], summary: str) -> dict[str, Any]:
    """Print one JSON line and a readable summary; append the line to the results file."""
    line = {
        "workload": workload,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as results:
        results.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)
    print(summary, flush=True)
    return line


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def medians(runs: Sequence[Mapping[str, Any]], keys: Iterable[str]) -> dict[str, float]:
    """The median over ``runs`` of each of ``keys`` (each run is a dict of figures)."""
    return {key: median([run[key] for run in runs]) for key in keys}


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0 < q <= 100) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q!r}")
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when the denominator is zero."""
    return numerator / denominator if denominator else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_worker(
    module: str,
    env: dict[str, str],
    log_path: Path,
    level: str = "warning",
    web_port: int | None = None,
    profile: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `dagger worker -A module -l level` with ``env`` on top of this environment.

    Its HTTP API listens on 127.0.0.1 at ``web_port`` (default: a free port). With
    ``profile``, the worker runs under cProfile and writes its statistics there when it
    stops.
    """
    port = web_port if web_port is not None else free_port()
    arguments = ["worker", "-A", module, "-l", level, "--web-port", str(port),
                 "--web-bind", "127.0.0.1"]  # fmt: skip
    if profile is not None:
        return start_module("cProfile", ["-o", str(profile), "-m", "dagger", *arguments], env,
                            log_path)  # fmt: skip
    return start_module("dagger", arguments, env, log_path)


def start_module(
    module: str, arguments: Sequence[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start `python -m module arguments` from the repository root, logging to ``log_path``.

    Tansu's end-offset correction is requested for it (``DAGGER_TANSU_COMPAT``).
    """
    command = [sys.executable, "-m", module, *arguments]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "DAGGER_TANSU_COMPAT": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this benchmark started."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def stop_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop processes this benchmark started, the last started first."""
    for process in reversed(processes):
        stop(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process this benchmark started and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)


def directory_bytes(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 if it does not exist)."""
    if not path.exists():
        return 0
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def update_consumer(bootstrap_servers: str, topic: str) -> AIOKafkaConsumer:
    """A consumer of the update topic from its beginning (not started)."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 2**20,
    )


async def wait_for_updates(
    updates: AIOKafkaConsumer, ids: set[str], timeout: float = 600
) -> dict[str, dict[str, Any]]:
    """Read update documents until every instance in ``ids`` is in a terminal status."""
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(done)}/{len(ids)} finished")
        for messages in (await updates.getmany(timeout_ms=200)).values():
            for message in messages:
                document = json.loads(message.value)
                if document["id"] in ids and document["status"] in TERMINAL:
                    done[document["id"]] = document
    return done


async def end_offsets(bootstrap_servers: str, topics: Sequence[str]) -> dict[str, int]:
    """The number of records ever written to each of ``topics`` (sum of partition ends)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers)
    await consumer.start()
    try:
        totals: dict[str, int] = {}
        for topic in topics:
            partitions = await _partitions(consumer, topic)
            ends = await consumer.end_offsets(partitions) if partitions else {}
            totals[topic] = sum(ends.values())
        return totals
    finally:
        await consumer.stop()


async def topic_bytes(bootstrap_servers: str, topic: str) -> tuple[int, int]:
    """Read ``topic`` from the beginning: (records, sum of key and value bytes)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 2**20,
        fetch_max_bytes=32 * 2**20,
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        if not partitions:
            return 0, 0
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records = size = 0
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=50_000)
            for tp, messages in batches.items():
                for message in messages:
                    records += 1
                    size += len(message.key or b"") + len(message.value or b"")
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        return records, size
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, partition) for partition in sorted(found)]
        await consumer._client.force_metadata_update()  # no public refresh
        await asyncio.sleep(0.1)
    return []
