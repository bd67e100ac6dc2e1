"""Hooks that await I/O: 3-step instances whose executor awaits 50 ms (issue 17).

``python -m bench.io_hooks [--instances 2000] [--window 200] [--runs 3] [--seconds 0.05]``

Each run starts a fresh embedded broker, one `dagger worker` (memory store, 4 partitions)
and the simulated service, and runs the closed loop of ``bench.throughput`` three times:

- ``no_io``: the 3-step workflow as it is;
- ``io``: its ``Complete`` executor awaits ``--seconds`` first, as a task calling a remote
  service does; the worker runs up to 100 hooks at once (its default);
- ``io_serial``: the same with ``max_concurrent_hooks=1``, which is how the original and
  this engine before hooks ran concurrently behaved: at most 1/``seconds`` instances/s.

Prints the medians (throughput, latency p50/p99) and the ratio io / no_io (target: at
least 0.5, "within 2x"); appends one line to bench/results/results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench._common import medians, ratio, record
from bench._workflows import COMPLETE_SECONDS_ENV, THREE_STEP
from bench.throughput import engine_run

FIGURES = ("instances_per_s", "latency_p50_ms", "latency_p99_ms", "process_cpu_ms_per_instance")
TARGET_RATIO = 0.5


def variants(seconds: float) -> dict[str, dict[str, str]]:
    """Each variant's worker environment, by name."""
    awaiting = {COMPLETE_SECONDS_ENV: str(seconds)}
    return {
        "no_io": {},
        "io": awaiting,
        "io_serial": {**awaiting, "BENCH_MAX_CONCURRENT_HOOKS": "1"},
    }


def _line(name: str, figures: dict[str, float]) -> str:
    return (
        f"{name}: {figures['instances_per_s']:.0f} instances/s, "
        f"p50 {figures['latency_p50_ms']:.0f} ms, p99 {figures['latency_p99_ms']:.0f} ms"
    )


async def main(total: int, window: int, runs: int, seconds: float) -> None:
    environments = variants(seconds)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in environments}
    for run in range(runs):
        for name, environment in environments.items():
            # The serial variant runs fewer instances: at 1/seconds per second it would
            # take total * seconds alone. Its throughput does not depend on how many.
            count = total if name != "io_serial" else max(50, total // 20)
            results[name].append(await engine_run(THREE_STEP, count, window, environment))
            print(f"run {run + 1}/{runs} {_line(name, results[name][-1])}", flush=True)
    figures = {name: medians(found, FIGURES) for name, found in results.items()}
    io_to_no_io = ratio(figures["io"]["instances_per_s"], figures["no_io"]["instances_per_s"])
    verdict = "met" if io_to_no_io >= TARGET_RATIO else "not met"
    record(
        "io_hooks",
        {
            **{
                f"{name}_{key}": value
                for name, found in figures.items()
                for key, value in found.items()
            },
            "ratio_io_to_no_io": io_to_no_io,
            "target_ratio_min": TARGET_RATIO,
            "hook_seconds": seconds,
            "instances": total,
            "window": window,
            "runs": runs,
        },
        "\n".join(_line(name, found) for name, found in figures.items())
        + f"\nio / no_io = {io_to_no_io:.2f} (target >= {TARGET_RATIO}: {verdict}); "
        f"one hook at a time would allow {1 / seconds:.0f}/s"
        f" (closed loop, {window} in flight, median of {runs} runs)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--window", type=int, default=200, help="instances in flight")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.05, help="the executor's await")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.instances, arguments.window, arguments.runs, arguments.seconds))
