"""Recovery benchmark (issue 5, workload 4): SIGKILL the worker with instances in flight.

``--instances`` 3-step instances are submitted at once on a fresh embedded broker, a
`dagger worker` on ``rocksdb://`` and the simulated service. When ``--kill-at`` of them
have completed, the worker is killed with SIGKILL and a new one is started at once, once
with the data directory kept and once with it deleted (every store is then restored from
its changelog). Reported from the kill: seconds until the new worker publishes its first
update (processing resumed) and until the last instance completed; instances that have
not completed after a minute without progress are counted as never completed, not waited
for. Target: <= 30 s until processing resumes.

Run: ``python -m bench.recovery`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import (
    kill,
    medians,
    record,
    start_worker,
    stop_all,
    update_consumer,
)
from bench._update_log import UpdateLog
from bench._workflows import THREE_STEP
from bench.throughput import engine_client, engine_names, engine_topics, start_service
from dagger.testing import EmbeddedBroker

TARGET_RESUME_S = 30.0
STUCK_AFTER = 60.0
"""Seconds without a completion after which the instances still running count as stuck."""
CHUNK = 1000
MODES = ("kept", "deleted")


async def recovery_run(instances: int, kill_at: float, mode: str) -> dict[str, Any]:
    """One run on a fresh broker: kill the worker once ``kill_at`` of them completed."""
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-recovery-"))
    names = engine_names("recovery", workdir, store="rocksdb://")
    env = {**names}
    processes: list[subprocess.Popen[bytes]] = []
    async with EmbeddedBroker() as broker:
        env["DAGGER_BROKER"] = broker.url
        log = UpdateLog(update_consumer(broker.bootstrap_servers, names["BENCH_UPDATES_TOPIC"]))
        reading = asyncio.create_task(log.run())
        try:
            await broker.acreate_topics(engine_topics(names))
            first = start_worker("bench._throughput_app", env, workdir / "worker-1.log")
            processes += [
                first,
                start_service(
                    broker, names["BENCH_ORDERS_TOPIC"], names["BENCH_READY_TOPIC"], workdir
                ),
            ]
            async with engine_client(broker, names, THREE_STEP) as submit:
                await submit("rec-warm")
                await log.until(1, timeout=180)
                for chunk in range(0, instances, CHUNK):
                    end = min(chunk + CHUNK, instances)
                    await asyncio.gather(*(submit(f"rec-{n}") for n in range(chunk, end)))
            await log.until(1 + int(instances * kill_at), timeout=1200)
            kill(first)
            killed_at = time.time()
            in_flight = instances + 1 - len(log.done)
            log.watch_after(killed_at)
            if mode == "deleted":
                shutil.rmtree(names["BENCH_DATADIR"], ignore_errors=True)
            processes.append(start_worker("bench._throughput_app", env, workdir / "worker-2.log"))
            await log.settle(instances + 1, idle=STUCK_AFTER)
            if log.first_update_after is None:
                raise TimeoutError(f"the new worker published nothing in {STUCK_AFTER} s")
            # An instance that never completes is a defect to report, not a hang.
            return {
                "in_flight_at_kill": in_flight,
                "resume_s": log.first_update_after - killed_at,
                "all_done_s": log.last_done_at - killed_at,
                "never_completed": instances + 1 - len(log.done),
            }
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            stop_all(processes)
            shutil.rmtree(workdir, ignore_errors=True)


async def main(instances: int, kill_at: float, runs: int) -> None:
    figures: dict[str, Any] = {"instances": instances, "kill_at_fraction": kill_at, "runs": runs}
    lines = []
    for mode in MODES:
        results = [await recovery_run(instances, kill_at, mode) for _ in range(runs)]
        found = medians(results, ("in_flight_at_kill", "resume_s", "all_done_s"))
        figures.update({f"{mode}_{key}": value for key, value in found.items()})
        figures[f"{mode}_per_run"] = results
        stuck = sum(run["never_completed"] for run in results)
        verdict = "met" if found["resume_s"] <= TARGET_RESUME_S else "not met"
        lines.append(
            f"recovery, data directory {mode}: {found['in_flight_at_kill']:,.0f} in flight, "
            f"processing again after {found['resume_s']:.1f} s (target <= 30 s: {verdict}), "
            f"all done after {found['all_done_s']:.1f} s"
            + (f"; {stuck} never completed (engine defect)" if stuck else "")
        )
    figures["target_resume_s"] = TARGET_RESUME_S
    record(
        "recovery",
        figures,
        "\n".join(lines) + f"\n({instances:,} instances, median of {runs} run(s))",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="recovery after SIGKILL")
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--kill-at", type=float, default=0.1, help="fraction completed at kill")
    parser.add_argument("--runs", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.instances, arguments.kill_at, arguments.runs))
