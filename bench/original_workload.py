"""The original engine's own workload, on the original and on ours, side by side (issue 17).

One program, :mod:`bench.original_app`, written for wf-dagger 0.2.6, runs unchanged on
both engines: on the original, installed from PyPI into a virtual environment of its own
(``bench/.original-venv``, made on first use from ``bench/original-requirements.txt``:
both packages are called ``dagger``, so they cannot share one), and on ours. Beside them
the bare aiokafka pipeline (:mod:`bench._limit_pipeline`) moves the same records with no
engine: the limit.

Each variant runs on a fresh embedded broker with the simulated order service
(:mod:`bench._service`, a separate aiokafka process). After a warm-up of
:data:`WARM_UP` orders has gone through, a driver sends ``--instances`` inputs in one
burst and counts distinct order ids on the done topic. Reported per variant, from the
first input of the burst to the last order done:

- workflows/s;
- worker CPU per workflow (utime + stime over the measured phase / N) and the worker's
  CPU use in percent of one core;
- the broker's and the service's CPU per workflow beside it;
- the worker's peak RSS (VmHWM).

Ratios come from the same run: ours over the original (CPU and throughput) and each
engine over the limit. Every figure is the median of ``--runs`` runs; the variants
alternate within a run. Partitions: ``--partitions 1 4`` runs each count.

Paced (``--rate R``): the driver sends the ``--instances`` inputs at ``R`` per second
instead of in one burst, and reports each order's latency end to end (from its input's
send to its done record's arrival at the driver, whose consumer waits at most
:data:`PACED_FETCH_WAIT_MS` per fetch) as p50, p99 and max, beside the same CPU figures:
a worker that polls while idle shows it as CPU per workflow above the burst's.

Run: ``python -m bench.original_workload`` (or ``scripts/bench``); a quick look:
``python -m bench.original_workload --instances 2000 --runs 1 --partitions 1``; paced:
``python -m bench.original_workload --rate 50 --instances 1500 --partitions 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench._common import (
    ROOT,
    cpu_seconds,
    free_port,
    medians,
    percentile,
    ratio,
    record,
    start_module,
    stop_all,
)
from bench.throughput import start_service
from dagger.testing import EmbeddedBroker

APP = ROOT / "bench" / "original_app.py"
LAUNCHER = ROOT / "bench" / "_original_launcher.py"
REQUIREMENTS = ROOT / "bench" / "original-requirements.txt"
ORIGINAL_VENV = ROOT / "bench" / ".original-venv"
WARM_UP = 20
STALL_TIMEOUT = 60.0
"""Seconds without a new order done after which a run is given up (and reported)."""
ORIGINAL, OURS, LIMIT = "original", "ours", "limit"
VARIANTS = (ORIGINAL, OURS, LIMIT)
FIGURES = (
    "workflows_per_s",
    "worker_cpu_ms_per_workflow",
    "worker_cpu_percent",
    "broker_cpu_ms_per_workflow",
    "service_cpu_ms_per_workflow",
    "worker_peak_rss_mb",
)
PACED_FIGURES = (*FIGURES, "latency_p50_ms", "latency_p99_ms", "latency_max_ms")
BURST_FETCH_WAIT_MS = 50
PACED_FETCH_WAIT_MS = 5
"""The driver's own fetch wait when it times each order: small beside the figures."""


class StalledRunError(RuntimeError):
    """A run stopped making progress before every order was done."""


def original_python() -> Path:
    """The interpreter of the original's virtual environment, made when missing or stale.

    The environment is rebuilt when ``original-requirements.txt`` changes (a stamp holds
    its hash).
    """
    python = ORIGINAL_VENV / "bin" / "python"
    stamp = ORIGINAL_VENV / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing the original engine into {ORIGINAL_VENV} ...", flush=True)
    shutil.rmtree(ORIGINAL_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(ORIGINAL_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True
    )
    stamp.write_text(wanted)
    return python


def start_engine_worker(
    variant: str,
    python: Path,
    broker: EmbeddedBroker,
    run: str,
    partitions: int,
    workdir: Path,
    profile: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``original_app.py worker`` with ``python`` (the original's or ours); with
    ``profile``, under cProfile, which writes its statistics there when the worker stops.

    The script is run by path, so ``dagger`` is whatever ``python`` has installed: the
    repository root is not on its path. The original runs through
    :mod:`bench._original_launcher`, without which its ``rocksdb://`` store cannot write.
    """
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(
        ORIGINAL_BENCH_RUN=run,
        ORIGINAL_BENCH_BROKER=broker.url,
        ORIGINAL_BENCH_PARTITIONS=str(partitions),
        ORIGINAL_BENCH_DATADIR=str(workdir / "data"),
        ORIGINAL_BENCH_WEB_PORT=str(free_port()),
    )
    launcher = [str(LAUNCHER)] if variant == ORIGINAL else []
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    command = [str(python), *profiler, *launcher, str(APP), "worker", "-l", "warning"]
    with open(workdir / "worker.log", "wb") as log:
        return subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def topics(run: str) -> dict[str, str]:
    """The topics of a run, by role (the names original_app.py derives from ``run``)."""
    return {role: f"{run}_{role}" for role in ("input", "orders", "ready", "done")}


class DoneCounter:
    """Distinct order ids seen on the done topic, when each was first seen, and when the
    last new one was seen."""

    def __init__(
        self, bootstrap_servers: str, topic: str, fetch_wait_ms: int = BURST_FETCH_WAIT_MS
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_wait_ms,
        )
        self.seen: dict[str, float] = {}
        self.last_new = time.time()

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def wait_for(self, ids: set[str]) -> float:
        """Read until every id in ``ids`` is done; the time the last one was seen."""
        missing = ids - self.seen.keys()
        while missing:
            if time.time() - self.last_new > STALL_TIMEOUT:
                raise StalledRunError(
                    f"{len(ids) - len(missing)} of {len(ids)} orders done, "
                    f"none for {STALL_TIMEOUT:.0f} s"
                )
            for messages in (await self._consumer.getmany(timeout_ms=200)).values():
                now = time.time()
                for message in messages:
                    document = json.loads(message.value)
                    order_id = document.get("order_id", document.get("id"))
                    if order_id not in self.seen:
                        self.seen[order_id] = now
                        self.last_new = now
                        missing.discard(order_id)
        return self.last_new


async def send_orders(
    producer: AIOKafkaProducer, topic: str, ids: Sequence[str], rate: float | None = None
) -> dict[str, float]:
    """Send one input per order id, as fast as the producer takes them or, with ``rate``,
    ``rate`` per second on a fixed schedule (a late send does not shift the later ones);
    when each was sent."""
    pending = []
    sent: dict[str, float] = {}
    started = time.time()
    for number, order_id in enumerate(ids):
        if rate is not None:
            await asyncio.sleep(max(0.0, started + number / rate - time.time()))
        value = json.dumps({"order_id": order_id}).encode()
        sent[order_id] = time.time()
        pending.append(await producer.send(topic, key=order_id.encode(), value=value))
    await asyncio.gather(*pending)
    return sent


def latency_figures(sent: dict[str, float], seen: dict[str, float]) -> dict[str, float]:
    """p50, p99 and max of each order's time from ``sent`` to ``seen``, in ms."""
    latencies = [1000 * (seen[order_id] - at) for order_id, at in sent.items()]
    return {
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "latency_max_ms": max(latencies),
    }


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a running process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_variant(
    variant: str,
    partitions: int,
    total: int,
    original: Path | None,
    profile: Path | None = None,
    rate: float | None = None,
) -> dict[str, Any]:
    """One measured burst (or, with ``rate``, paced run) of ``variant`` on a fresh broker
    (an engine under cProfile, writing to ``profile``, when one is named)."""
    run = f"{variant}{partitions}_{uuid.uuid4().hex[:6]}"
    names = topics(run)
    workdir = Path(tempfile.mkdtemp(prefix=f"dagger-bench-original-{variant}-"))
    processes: list[subprocess.Popen[bytes]] = []
    async with EmbeddedBroker() as broker:
        try:
            every_topic = (*names.values(), f"{run}_tasks", f"{run}_bootstrap")
            await broker.acreate_topics({topic: partitions for topic in every_topic})
            if variant == LIMIT:
                arguments = ["--broker", broker.bootstrap_servers]
                for role, topic in names.items():
                    arguments += [f"--{role}", topic]
                worker = start_module(
                    "bench._limit_pipeline", arguments, {}, workdir / "worker.log"
                )
            else:
                python = original if variant == ORIGINAL else Path(sys.executable)
                assert python is not None
                worker = start_engine_worker(
                    variant, python, broker, run, partitions, workdir, profile
                )
            service = start_service(broker, names["orders"], names["ready"], workdir)
            processes += [worker, service]
            return await _measure(broker, names, total, worker, service, rate)
        except BaseException:
            stop_all(processes)
            print(f"{variant}: the run failed; its logs are in {workdir}", file=sys.stderr)
            raise
        finally:
            stop_all(processes)
        shutil.rmtree(workdir, ignore_errors=True)


async def _measure(
    broker: EmbeddedBroker,
    names: dict[str, str],
    total: int,
    worker: subprocess.Popen[bytes],
    service: subprocess.Popen[bytes],
    rate: float | None,
) -> dict[str, Any]:
    paced = rate is not None
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, linger_ms=0 if paced else 5
    )
    done = DoneCounter(
        broker.bootstrap_servers,
        names["done"],
        PACED_FETCH_WAIT_MS if paced else BURST_FETCH_WAIT_MS,
    )
    await producer.start()
    await done.start()
    try:
        warm = {f"warm-{n}" for n in range(WARM_UP)}
        await send_orders(producer, names["input"], sorted(warm))
        try:
            await done.wait_for(warm)
        except StalledRunError as error:
            raise StalledRunError(f"warm-up: {error}") from error
        ids = [f"order-{n}" for n in range(total)]
        pids = {"worker": worker.pid, "broker": broker.pid, "service": service.pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.time()
        sent, finished = await asyncio.gather(
            send_orders(producer, names["input"], ids, rate), done.wait_for(set(ids))
        )
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        elapsed = finished - started
        latency = latency_figures(sent, done.seen) if paced else {}
        return {
            **latency,
            "workflows_per_s": total / elapsed,
            "elapsed_s": elapsed,
            "worker_cpu_ms_per_workflow": cpu["worker"] / total * 1000,
            "worker_cpu_percent": 100 * cpu["worker"] / elapsed,
            "broker_cpu_ms_per_workflow": cpu["broker"] / total * 1000,
            "service_cpu_ms_per_workflow": cpu["service"] / total * 1000,
            "worker_peak_rss_mb": peak_rss_mb(worker.pid),
        }
    finally:
        await done.stop()
        await producer.stop()


def _line(name: str, figures: dict[str, float]) -> str:
    latency = ""
    if "latency_p50_ms" in figures:
        latency = (
            f"latency p50 {figures['latency_p50_ms']:.0f} ms, p99 "
            f"{figures['latency_p99_ms']:.0f} ms, max {figures['latency_max_ms']:.0f} ms; "
        )
    return (
        f"{name:>9}: {latency}{figures['workflows_per_s']:6.0f} workflows/s, worker CPU "
        f"{figures['worker_cpu_ms_per_workflow']:.2f} ms/workflow "
        f"({figures['worker_cpu_percent']:.0f}% of a core), broker "
        f"{figures['broker_cpu_ms_per_workflow']:.2f} ms, service "
        f"{figures['service_cpu_ms_per_workflow']:.2f} ms, peak RSS "
        f"{figures['worker_peak_rss_mb']:.0f} MB"
    )


async def main(
    total: int,
    runs: int,
    partition_counts: Sequence[int],
    variants: Sequence[str],
    profiles: Path | None = None,
    rate: float | None = None,
) -> None:
    original = original_python() if ORIGINAL in variants else None
    keys = FIGURES if rate is None else PACED_FIGURES
    for partitions in partition_counts:
        results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
        for number in range(1, runs + 1):
            for variant in variants:
                print(f"run {number}/{runs}, {partitions} partition(s): {variant} ...", flush=True)
                profile = None
                if profiles is not None and variant != LIMIT:
                    profile = profiles / f"{variant}-{partitions}p-run{number}.prof"
                figures = await run_variant(variant, partitions, total, original, profile, rate)
                print(_line(variant, figures), flush=True)
                results[variant].append(figures)
        summary = {variant: medians(results[variant], keys) for variant in variants}
        ratios: dict[str, float] = {}
        if ORIGINAL in summary and OURS in summary:
            ratios["ours_to_original_cpu"] = ratio(
                summary[OURS]["worker_cpu_ms_per_workflow"],
                summary[ORIGINAL]["worker_cpu_ms_per_workflow"],
            )
            ratios["ours_to_original_throughput"] = ratio(
                summary[OURS]["workflows_per_s"], summary[ORIGINAL]["workflows_per_s"]
            )
        if LIMIT in summary:
            for engine in (ORIGINAL, OURS):
                if engine in summary:
                    ratios[f"{engine}_to_limit"] = ratio(
                        summary[engine]["workflows_per_s"], summary[LIMIT]["workflows_per_s"]
                    )
        lines = [_line(variant, summary[variant]) for variant in variants]
        lines += [f"{name} = {value:.2f}" for name, value in ratios.items()]
        sending = "in one burst" if rate is None else f"at {rate:g}/s"
        lines.append(
            f"({total:,} {sending}, {partitions} partition(s), rocksdb://, median of {runs})"
        )
        if profiles is not None:
            print("\n".join([*lines, f"(under cProfile: not recorded; profiles in {profiles})"]))
            continue
        record(
            "original_workload" if rate is None else "original_workload_paced",
            {
                **({} if rate is None else {"rate": rate}),
                "partitions": partitions,
                "instances": total,
                "runs": runs,
                **{f"{v}_{k}": value for v in variants for k, value in summary[v].items()},
                **ratios,
            },
            "\n".join(lines),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the original's workload on both engines")
    parser.add_argument("--instances", type=int, default=10_000, help="orders in the burst")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--rate",
        type=float,
        help="send the inputs at this many per second and report latency (default: a burst)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the engines under cProfile, writing <variant>-<P>p-run<N>.prof here "
        "(the figures then include the profiler's cost: profile, then measure apart)",
    )
    arguments = parser.parse_args()
    if arguments.rate is not None and arguments.rate <= 0:
        parser.error(f"--rate must be above 0, got {arguments.rate:g}")
    if arguments.profile is not None:
        arguments.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        main(
            arguments.instances,
            arguments.runs,
            arguments.partitions,
            arguments.variants,
            arguments.profile,
            arguments.rate,
        )
    )
