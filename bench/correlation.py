"""Correlation benchmarks (issue 3).

1. ``pizza_throughput``: pizza workflows per second on a fresh embedded broker, a
   `dagger worker` and the simulated order service: command -> service -> COOKING and
   READY replies -> listener -> delivery. Median of 3 runs.
2. ``correlation_scaling``: the engine's cost per listener message with 1,000 and with
   100,000 instances waiting, each on its own key. It runs in-process through
   :class:`dagger.testing.LocalEngine` (the worker's own owners, with dicts for stores), so
   it measures the engine's Python work per message (routing, index lookup, delivery,
   ``on_message``, storing the instance) without the broker. Median of 3 runs.

Run: ``python -m bench.correlation`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench._common import (
    cpu_seconds,
    median,
    record,
    rss_bytes,
    start_worker,
    stop,
    wait_for_updates,
)
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker, LocalEngine
from examples.pizza.order_service import OrderService
from examples.pizza.templates import build_pizza_template


async def pizza_run(pizzas: int) -> dict[str, Any]:
    """One run on a fresh broker: submit ``pizzas`` at once and wait for all to finish."""
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-"))
    async with EmbeddedBroker() as broker:
        names = {
            "ORDERS_APP_ID": "bench-pizza",
            "ORDERS_TASKS_TOPIC": "bench_tasks",
            "ORDERS_UPDATES_TOPIC": "bench_updates",
            "ORDERS_DEAD_LETTER_TOPIC": "bench_dead_letters",
            "ORDERS_DATADIR": str(workdir / "data"),
            "PIZZA_ORDERS_TOPIC": "bench_pizza_orders",
            "PIZZA_STATUS_TOPIC": "bench_pizza_status",
        }
        await broker.acreate_topics(
            {"bench_tasks": 4, "bench_updates": 4, "bench_dead_letters": 4}
            | {"bench_pizza_orders": 4, "bench_pizza_status": 4}
        )
        worker = start_worker(
            "examples.pizza.workflow",
            {"DAGGER_BROKER": broker.url, **names},
            workdir / "worker.log",
        )
        service = OrderService(
            broker.bootstrap_servers, "bench_pizza_orders", "bench_pizza_status", "bench-service"
        )
        serving = asyncio.create_task(service.run())
        engine = Dagger(
            broker=broker.url,
            store="memory://",
            application_name="bench-client",
            kafka_partitions=4,
            tasks_topic="bench_tasks",
        )
        template = build_pizza_template(
            engine, orders_topic="bench_pizza_orders", status_topic="bench_pizza_status"
        )
        updates = AIOKafkaConsumer(
            "bench_updates",
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
        )
        await updates.start()
        try:
            await _warm_up(template, updates)
            worker_cpu, broker_cpu = cpu_seconds(worker.pid), cpu_seconds(broker.pid)
            started = time.time()
            ids = {
                instance.id
                for instance in await asyncio.gather(
                    *(
                        template.create_instance(
                            uuid.uuid4(), "order_id", submit_task=True, order_id=f"b-{n}"
                        )
                        for n in range(pizzas)
                    )
                )
            }
            done = await wait_for_updates(updates, ids)
            elapsed = max(doc["time_completed"] for doc in done.values()) - started
            latencies = sorted(doc["time_completed"] - doc["time_created"] for doc in done.values())
            return {
                "instances": pizzas,
                "completed": sum(1 for doc in done.values() if doc["status"] == "COMPLETED"),
                "instances_per_s": pizzas / elapsed,
                "latency_p50_ms": 1000 * latencies[len(latencies) // 2],
                "latency_p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
                "worker_cpu_s": cpu_seconds(worker.pid) - worker_cpu,
                "broker_cpu_s": cpu_seconds(broker.pid) - broker_cpu,
                "worker_rss_mb": rss_bytes(worker.pid) / 2**20,
            }
        finally:
            await updates.stop()
            await engine.faust_app.producer.stop()
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            stop(worker)


async def _warm_up(template: Any, updates: AIOKafkaConsumer) -> None:
    """Wait until the worker serves: one pizza end to end."""
    instance = await template.create_instance(
        uuid.uuid4(), "order_id", submit_task=True, order_id="warm"
    )
    await wait_for_updates(updates, {instance.id}, timeout=120)


async def correlation_cost(waiting: int, messages: int) -> dict[str, float]:
    """Seconds per listener message with ``waiting`` instances waiting on their own keys."""
    os.environ.setdefault("DAGGER_BROKER", "kafka://127.0.0.1:9")
    engine = Dagger(
        store="memory://", application_name=f"bench-scaling-{waiting}", kafka_partitions=4
    )
    template = build_pizza_template(
        engine, template_name="pizza", orders_topic="scaling_orders", status_topic="scaling_status"
    )
    async with LocalEngine(engine) as local:
        started = time.perf_counter()
        for n in range(waiting):
            await template.create_instance(
                f"i-{n}", "order_id", submit_task=True, order_id=f"w-{n}"
            )
        create_s = time.perf_counter() - started
        local.sent.clear()
        local.updates.clear()
        targets = random.Random(7).choices(range(waiting), k=messages)
        started = time.perf_counter()
        for n in targets:
            await local.send_message("scaling_status", {"order_id": f"w-{n}", "status": "COOKING"})
        per_message = (time.perf_counter() - started) / messages
        assert len(local.updates) == messages, "every message must reach its instance"
    return {"per_message_us": per_message * 1e6, "create_per_instance_us": create_s / waiting * 1e6}


async def main(pizzas: int, runs: int, small: int, large: int, messages: int) -> None:
    throughput = [await pizza_run(pizzas) for _ in range(runs)]
    figures = {
        key: median([run[key] for run in throughput])
        for key in (
            "instances_per_s",
            "latency_p50_ms",
            "latency_p99_ms",
            "worker_cpu_s",
            "broker_cpu_s",
            "worker_rss_mb",
        )
    }
    figures["worker_cpu_ms_per_instance"] = figures["worker_cpu_s"] / pizzas * 1000
    figures["broker_cpu_ms_per_instance"] = figures["broker_cpu_s"] / pizzas * 1000
    figures.update(instances=pizzas, runs=runs)
    record(
        "pizza_throughput",
        figures,
        f"pizza: {figures['instances_per_s']:.0f} workflows/s, "
        f"p50 {figures['latency_p50_ms']:.0f} ms, p99 {figures['latency_p99_ms']:.0f} ms, "
        f"worker CPU {figures['worker_cpu_ms_per_instance']:.2f} ms and "
        f"broker CPU {figures['broker_cpu_ms_per_instance']:.2f} ms per workflow "
        f"(median of {runs} runs of {pizzas})",
    )
    scaling: dict[int, list[dict[str, float]]] = {small: [], large: []}
    for _ in range(runs):
        for waiting in (small, large):
            scaling[waiting].append(await correlation_cost(waiting, messages))
    small_us = median([run["per_message_us"] for run in scaling[small]])
    large_us = median([run["per_message_us"] for run in scaling[large]])
    record(
        "correlation_scaling",
        {
            "waiting_small": small,
            "waiting_large": large,
            "messages": messages,
            "per_message_us_small": small_us,
            "per_message_us_large": large_us,
            "ratio_large_to_small": large_us / small_us,
            "create_per_instance_us_large": median(
                [run["create_per_instance_us"] for run in scaling[large]]
            ),
            "target_ratio_max": 1.5,
            "runs": runs,
        },
        f"correlation: {small_us:.0f} us per message with {small:,} waiting, "
        f"{large_us:.0f} us with {large:,} waiting: ratio {large_us / small_us:.2f} "
        "(target <= 1.5)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="correlation benchmarks")
    parser.add_argument("--pizzas", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=2_000)
    arguments = parser.parse_args()
    asyncio.run(
        main(arguments.pizzas, arguments.runs, arguments.small, arguments.large, arguments.messages)
    )
