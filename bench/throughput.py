"""Throughput benchmarks (issue 5, workloads 1 and 2).

1. ``throughput``: closed-loop runs of the 3-step workflow (command -> simulated service
   -> listener correlating on ``order_id`` -> executor) and of a 1-step workflow (one
   executor task), each on a fresh embedded broker with a `dagger worker` process and the
   simulated service process. Instances/s from the first submit to the last completion,
   end-to-end latency p50/p99 (submit to completion seen on the update topic), worker
   CPU seconds and RSS.
2. ``throughput_limit``: the same closed loop through a bare aiokafka pipeline process
   (``bench._limit_pipeline``) that moves the same records with no engine; the engine's
   3-step figure over this one is the ratio. Target: >= 0.5.

Every figure is the median of ``--runs`` runs (the variants alternate within each run).
Run: ``python -m bench.throughput`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench._common import (
    cpu_seconds,
    medians,
    ratio,
    record,
    rss_bytes,
    start_module,
    start_worker,
    stop_all,
    update_consumer,
)
from bench._load import Completions, Submit, closed_loop
from bench._workflows import ONE_STEP, THREE_STEP, build_templates
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker

PARTITIONS = 4
WARM_UP = 20
FIGURES = (
    "instances_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "process_cpu_s",
    "process_cpu_ms_per_instance",
    "process_rss_mb",
    "broker_cpu_s",
)
TARGET_RATIO = 0.5


@contextlib.asynccontextmanager
async def engine_client(
    broker: EmbeddedBroker, names: dict[str, str], template_name: str
) -> AsyncIterator[Submit]:
    """A client engine whose ``submit(id)`` creates and submits one instance."""
    client = Dagger(
        broker=broker.url,
        store="memory://",
        application_name=f"bench-client-{uuid.uuid4().hex[:6]}",
        kafka_partitions=PARTITIONS,
        tasks_topic=names["BENCH_TASKS_TOPIC"],
    )
    templates = build_templates(client, names["BENCH_ORDERS_TOPIC"], names["BENCH_READY_TOPIC"])
    template = templates[template_name]

    async def submit(instance_id: str) -> None:
        await template.create_instance(
            instance_id, "order_id", submit_task=True, order_id=instance_id
        )

    try:
        yield submit
    finally:
        await client.faust_app.producer.stop()


def engine_names(run: str, workdir: Path, store: str = "memory://") -> dict[str, str]:
    """The worker's environment: its own group, topics and data directory."""
    return {
        "BENCH_APP_ID": f"bench-{run}",
        "BENCH_STORE": store,
        "BENCH_DATADIR": str(workdir / "data"),
        "BENCH_PARTITIONS": str(PARTITIONS),
        "BENCH_TASKS_TOPIC": f"{run}_tasks",
        "BENCH_UPDATES_TOPIC": f"{run}_updates",
        "BENCH_DEAD_LETTER_TOPIC": f"{run}_dead_letters",
        "BENCH_ORDERS_TOPIC": f"{run}_orders",
        "BENCH_READY_TOPIC": f"{run}_ready",
    }


def engine_topics(names: dict[str, str]) -> dict[str, int]:
    """The topics a run needs, with their partition counts."""
    return {names[key]: PARTITIONS for key in names if key.endswith("_TOPIC")}


def start_service(broker: EmbeddedBroker, orders: str, ready: str, workdir: Path) -> Any:
    """Start the simulated service process (``bench._service``)."""
    return start_module(
        "bench._service",
        ["--broker", broker.bootstrap_servers, "--orders", orders, "--ready", ready],
        {},
        workdir / "service.log",
    )


async def engine_run(
    template_name: str, total: int, window: int, worker_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """One closed-loop run of ``template_name`` on a fresh broker and worker (whose
    environment ``worker_env`` adds to)."""
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-throughput-"))
    names = engine_names(template_name, workdir)
    processes: list[subprocess.Popen[bytes]] = []
    async with EmbeddedBroker() as broker:
        try:
            await broker.acreate_topics(engine_topics(names))
            worker = start_worker(
                "bench._throughput_app",
                {"DAGGER_BROKER": broker.url, **names, **(worker_env or {})},
                workdir / "worker.log",
            )
            processes.append(worker)
            if template_name == THREE_STEP:
                processes.append(
                    start_service(
                        broker, names["BENCH_ORDERS_TOPIC"], names["BENCH_READY_TOPIC"], workdir
                    )
                )
            updates = update_consumer(broker.bootstrap_servers, names["BENCH_UPDATES_TOPIC"])
            async with (
                engine_client(broker, names, template_name) as submit,
                Completions(updates) as completions,
            ):
                return await _measure(submit, completions, total, window, worker.pid, broker.pid)
        finally:
            stop_all(processes)
            shutil.rmtree(workdir, ignore_errors=True)


async def limit_run(total: int, window: int) -> dict[str, Any]:
    """One closed-loop run through the bare aiokafka pipeline on a fresh broker."""
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-limit-"))
    topics = {name: f"limit_{name}" for name in ("input", "orders", "ready", "done")}
    processes: list[subprocess.Popen[bytes]] = []
    async with EmbeddedBroker() as broker:
        try:
            await broker.acreate_topics({topic: PARTITIONS for topic in topics.values()})
            arguments = ["--broker", broker.bootstrap_servers]
            for name, topic in topics.items():
                arguments += [f"--{name}", topic]
            pipeline = start_module("bench._limit_pipeline", arguments, {}, workdir / "pipe.log")
            processes += [
                pipeline,
                start_service(broker, topics["orders"], topics["ready"], workdir),
            ]
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            await producer.start()

            async def submit(order_id: str) -> None:
                await producer.send_and_wait(
                    topics["input"],
                    key=order_id.encode(),
                    value=json.dumps({"order_id": order_id}).encode(),
                )

            try:
                updates = update_consumer(broker.bootstrap_servers, topics["done"])
                async with Completions(updates) as completions:
                    return await _measure(
                        submit, completions, total, window, pipeline.pid, broker.pid
                    )
            finally:
                await producer.stop()
        finally:
            stop_all(processes)
            shutil.rmtree(workdir, ignore_errors=True)


async def _measure(
    submit: Submit, completions: Completions, total: int, window: int, pid: int, broker_pid: int
) -> dict[str, Any]:
    """Warm up (waits until the process serves), then run and read the process's cost."""
    await closed_loop(submit, completions, WARM_UP, 5, "warm", timeout=180)
    cpu, broker_cpu = cpu_seconds(pid), cpu_seconds(broker_pid)
    result = await closed_loop(submit, completions, total, window, "run")
    figures = result.figures()
    figures["process_cpu_s"] = cpu_seconds(pid) - cpu
    figures["process_cpu_ms_per_instance"] = figures["process_cpu_s"] / total * 1000
    figures["process_rss_mb"] = rss_bytes(pid) / 2**20
    figures["broker_cpu_s"] = cpu_seconds(broker_pid) - broker_cpu
    return figures


def prefixed(prefix: str, figures: dict[str, float]) -> dict[str, float]:
    """``figures`` with each key prefixed (``three_step_instances_per_s``, ...)."""
    return {f"{prefix}_{key}": value for key, value in figures.items()}


def _line(name: str, figures: dict[str, float]) -> str:
    return (
        f"{name}: {figures['instances_per_s']:.0f} instances/s, "
        f"p50 {figures['latency_p50_ms']:.0f} ms, p99 {figures['latency_p99_ms']:.0f} ms, "
        f"CPU {figures['process_cpu_ms_per_instance']:.2f} ms/instance, "
        f"RSS {figures['process_rss_mb']:.0f} MB"
    )


async def main(total: int, window: int, runs: int) -> None:
    results: dict[str, list[dict[str, Any]]] = {THREE_STEP: [], ONE_STEP: [], "limit": []}
    for _ in range(runs):
        results[THREE_STEP].append(await engine_run(THREE_STEP, total, window))
        results[ONE_STEP].append(await engine_run(ONE_STEP, total, window))
        results["limit"].append(await limit_run(total, window))
    three, one, limit = (medians(results[name], FIGURES) for name in results)
    common = {"instances": total, "window": window, "runs": runs}
    record(
        "throughput",
        {**prefixed(THREE_STEP, three), **prefixed(ONE_STEP, one), **common},
        f"{_line('engine 3-step', three)}\n{_line('engine 1-step', one)}\n"
        f"(closed loop, {window} in flight, {total:,} instances, median of {runs} runs)",
    )
    engine_to_limit = ratio(three["instances_per_s"], limit["instances_per_s"])
    per_run = [
        ratio(engine["instances_per_s"], bare["instances_per_s"])
        for engine, bare in zip(results[THREE_STEP], results["limit"], strict=True)
    ]
    verdict = "met" if engine_to_limit >= TARGET_RATIO else "not met"
    record(
        "throughput_limit",
        {
            **prefixed("limit", limit),
            "ratio_engine_to_limit": engine_to_limit,
            "ratio_per_run": per_run,
            "target_ratio_min": TARGET_RATIO,
            **common,
        },
        f"{_line('bare aiokafka limit', limit)}\n"
        f"engine 3-step / limit = {engine_to_limit:.2f} (target >= {TARGET_RATIO}: {verdict})",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="throughput and limit benchmarks")
    parser.add_argument("--instances", type=int, default=5000, help="instances per run")
    parser.add_argument("--window", type=int, default=200, help="instances in flight")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.instances, arguments.window, arguments.runs))
