"""The chaos suite's scenarios (the command is :mod:`bench.chaos`).

Both scenarios run on a fresh embedded broker, real `dagger worker` processes over
``rocksdb://`` with 4 partitions, the simulated service and the 3-step workflow (command
-> simulated service -> listener -> executor, :mod:`bench._workflows`):

- ``kill-loop``: a no-fault baseline first (``--baseline`` instances with one worker, for
  the throughput to compare with); then ``--instances`` instances are submitted and the
  worker is SIGKILLed every 4-8 s (seeded by ``--seed``) for ``--loop-seconds``, a new
  one started at once; half the restarts keep the data directory, half delete it. Then
  the last worker finishes alone.
- ``rebalance``: two workers in one group and ``--instances`` instances; one is
  SIGKILLed mid-run and started again ``--down-seconds`` later; once it is back, the
  other is stopped with SIGTERM and the first finishes alone.

Then the last worker is stopped and the pass criteria are checked
(:mod:`bench._chaos_checks`); each is printed with its figure, the figures go to
``bench/results/results.jsonl``, and the exit status is non-zero if one failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._chaos_checks import TABLES, Criterion, changelog_state, check, disk_state, hook_runs
from bench._common import kill, ratio, record, start_worker, stop, update_consumer
from bench._load import Submit
from bench._restart_times import describe, phase_medians, restart_phases
from bench._update_log import UpdateLog
from bench._workflows import HOOK_LOG_ENV, THREE_STEP
from bench.throughput import engine_client, engine_names, engine_topics, start_service
from dagger.runtime._held import MESSAGE_MARK
from dagger.testing import EmbeddedBroker

APP = "bench._throughput_app"
CHUNK = 500
PROGRESS_EVERY = 5.0
KILL_EVERY = (4.0, 8.0)
EARLY_MESSAGE_WINDOW = 10.0
"""The workers' ``early_message_window`` (s): how long a message without a listener is held."""
HELD_WAIT = EARLY_MESSAGE_WINDOW + 8.0
"""The window and a sweep (every window / 4 s) and some slack."""
HELD_WAIT_MORE = 60.0
"""How much longer the check waits while held messages are still in their changelog: a
loaded last worker reads the replies left before the kills later than it is ready."""
STUCK_AFTER = 120.0
"""Seconds without a completion after which the run is over and its criteria checked."""


@dataclass
class ChaosRun:
    """One scenario's broker, names, worker processes and update log."""

    broker: EmbeddedBroker
    workdir: Path
    names: dict[str, str]
    log: UpdateLog
    quiet: bool = False
    session_timeout: float = 6.0
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: list[tuple[str, float, Path]] = field(default_factory=list)
    """(worker name, epoch seconds it was started, its log) of every worker start."""
    ids: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)

    @property
    def hook_log(self) -> Path:
        return self.workdir / "hooks.log"

    def datadir(self, worker: str) -> Path:
        return self.workdir / f"data-{worker}"

    def start(self, worker: str) -> subprocess.Popen[bytes]:
        """Start (or start again) the worker called ``worker``, with its own data directory."""
        env = {
            "DAGGER_BROKER": self.broker.url,
            **self.names,
            "BENCH_DATADIR": str(self.datadir(worker)),
            HOOK_LOG_ENV: str(self.hook_log),
            "BENCH_EARLY_MESSAGE_WINDOW": str(EARLY_MESSAGE_WINDOW),
            "BENCH_SESSION_TIMEOUT": str(self.session_timeout),
            # faust's and aiokafka's start-up lines, with timestamps (bench._restart_times)
            "DAGGER_LIBRARY_LOG_LEVEL": "info",
        }
        log_path = self.workdir / f"{worker}-{len(self.started)}.log"
        self.started.append((worker, time.time(), log_path))
        process = start_worker(APP, env, log_path, level="info")
        self.workers[worker] = process
        return process

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[chaos {time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    async def submit_all(self, submit: Submit, ids: Sequence[str]) -> None:
        self.ids.extend(ids)
        for chunk in range(0, len(ids), CHUNK):
            await asyncio.gather(*(submit(i) for i in ids[chunk : chunk + CHUNK]))

    async def progress(self) -> None:
        """Print how many instances are done every few seconds (until cancelled)."""
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            self.say(f"{len(self.log.done):,}/{len(self.ids):,} done")

    async def finish(self, idle: float = STUCK_AFTER) -> float:
        """Wait until every instance is done (or none finished for ``idle`` s); the time."""
        await self.log.settle(len(self.ids), idle=idle)
        return self.log.last_done_at

    async def _until_nothing_held(self, longest: float) -> None:
        """Wait (at most ``longest`` s) until the held-message changelog holds no message.

        A message held after the last worker is ready expires a window after it was held,
        not after the worker was ready; what is still there at the end was never going
        to go, and the criterion fails on it.
        """
        changelog = f"{self.names['BENCH_APP_ID']}-dagger_early_messages-changelog"
        deadline = time.monotonic() + longest
        while time.monotonic() < deadline:
            held = await changelog_state(self.broker.bootstrap_servers, changelog, settle=0.5)
            waiting = [key for key in held.state if MESSAGE_MARK.encode() in key]
            if not waiting:
                return
            self.say(f"{len(waiting)} messages still held; waiting for them to expire")
            await asyncio.sleep(EARLY_MESSAGE_WINDOW / 4)

    async def verdicts(self, last_worker: str) -> tuple[list[Criterion], dict[str, Any]]:
        """Stop every worker, read what they left and check the pass criteria.

        A reply read again after a kill finds its listener gone and is held as an early
        message; the workers hold messages for ``EARLY_MESSAGE_WINDOW`` s, so the check
        waits that long (and a sweep) first: what is left then was never going to go.
        """
        # Replies read again by the last worker are held from when it starts processing.
        await _ready(self.started[-1][2], timeout=120)
        self.say(
            f"{len(self.log.done):,}/{len(self.ids):,} done; waiting {HELD_WAIT:.0f} s for "
            "the held-message window to pass"
        )
        await asyncio.sleep(HELD_WAIT)
        await self._until_nothing_held(HELD_WAIT_MORE)
        for name, process in self.workers.items():
            began = time.monotonic()
            stop(process)
            self.say(f"worker {name} stopped in {time.monotonic() - began:.1f} s")
        await asyncio.sleep(1.0)  # the update log reads the last documents
        app_id = self.names["BENCH_APP_ID"]
        changelogs = {
            table: await changelog_state(
                self.broker.bootstrap_servers, f"{app_id}-{table}-changelog"
            )
            for table in TABLES
        }
        disk = {table: disk_state(self.datadir(last_worker), table) for table in TABLES}
        return check(self.ids, self.log, changelogs, disk, hook_runs(self.hook_log))


@contextlib.asynccontextmanager
async def chaos_run(
    run_name: str, quiet: bool, workdir: Path | None = None, session_timeout: float = 6.0
) -> AsyncIterator[tuple[ChaosRun, Submit]]:
    """A fresh broker, topics, the simulated service and an update log; stopped at exit.

    The worker logs stay in ``workdir`` (a new temporary directory if None, deleted when
    ``quiet``).
    """
    keep = workdir is not None or not quiet
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"dagger-chaos-{run_name}-"))
    names = engine_names(run_name, workdir, store="rocksdb://")
    async with EmbeddedBroker() as broker:
        await broker.acreate_topics(engine_topics(names))
        log = UpdateLog(update_consumer(broker.bootstrap_servers, names["BENCH_UPDATES_TOPIC"]))
        reading = asyncio.create_task(log.run())
        run = ChaosRun(broker, workdir, names, log, quiet=quiet, session_timeout=session_timeout)
        run.others.append(
            start_service(broker, names["BENCH_ORDERS_TOPIC"], names["BENCH_READY_TOPIC"], workdir)
        )
        printing = asyncio.create_task(run.progress())
        try:
            async with engine_client(broker, names, THREE_STEP) as submit:
                yield run, submit
        finally:
            for task in (printing, reading):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for process in [*run.workers.values(), *run.others]:
                kill(process)
            if keep:
                print(f"worker logs kept in {workdir}", flush=True)
            else:
                shutil.rmtree(workdir, ignore_errors=True)


def kill_schedule(seed: int, loop_seconds: float) -> list[tuple[float, bool]]:
    """(seconds to wait, keep the data directory) of each kill in the loop.

    The waits are drawn from 4-8 s until the loop is full; half the restarts keep the
    data directory and half delete it, in a seeded random order.
    """
    rng = random.Random(seed)
    waits: list[float] = []
    while sum(waits) + KILL_EVERY[0] <= loop_seconds:
        waits.append(min(rng.uniform(*KILL_EVERY), loop_seconds - sum(waits)))
    keeps = [n % 2 == 0 for n in range(len(waits))]
    rng.shuffle(keeps)
    return list(zip(waits, keeps, strict=True))


async def kill_loop(
    instances: int,
    loop_seconds: float,
    seed: int,
    baseline: int,
    quiet: bool = False,
    workdir: Path | None = None,
    session_timeout: float = 6.0,
) -> tuple[list[Criterion], dict[str, Any]]:
    """The kill-loop scenario; its criteria and figures."""
    schedule = kill_schedule(seed, loop_seconds)
    async with chaos_run("chaos_kill", quiet, workdir, session_timeout) as (run, submit):
        run.start("w")
        await run.submit_all(submit, ["warm"])
        await run.log.until(1, timeout=180)
        run.say(f"worker ready; no-fault baseline of {baseline:,} instances")
        began = time.time()
        await run.submit_all(submit, [f"base-{n}" for n in range(baseline)])
        await run.log.until(1 + baseline, timeout=600)
        baseline_rate = ratio(baseline, run.log.last_done_at - began)
        run.say(f"baseline: {baseline_rate:.0f} instances/s; submitting {instances:,}")
        await run.submit_all(submit, [f"chaos-{n}" for n in range(instances)])
        loop_start, done_at_start = time.time(), len(run.log.done)
        keeps = 0
        run.say(f"kill loop: {len(schedule)} kills over {loop_seconds:.0f} s (seed {seed})")
        for wait, keep in schedule:
            await asyncio.sleep(wait)
            kill(run.workers["w"])
            if not keep:
                shutil.rmtree(run.datadir("w"), ignore_errors=True)
            keeps += keep
            run.start("w")
            run.say(f"killed the worker ({'kept' if keep else 'deleted'} its data); restarted")
        last_kill = time.time()
        done_in_loop = len(run.log.done) - done_at_start
        # Over the whole loop, or until the last instance finished if it finished first.
        finished_in_loop = len(run.log.done) == len(run.ids)
        busy = (run.log.last_done_at if finished_in_loop else last_kill) - loop_start
        loop_rate = ratio(done_in_loop, busy)
        run.say(f"loop over: {done_in_loop:,} completed during it ({loop_rate:.1f}/s)")
        all_done = await run.finish()
        criteria, figures = await run.verdicts("w")
    figures.update(
        scenario="kill-loop",
        session_timeout_s=session_timeout,
        seed=seed,
        loop_seconds=loop_seconds,
        kills=len(schedule),
        restarts_keeping_data=keeps,
        baseline_instances=baseline,
        baseline_instances_per_s=baseline_rate,
        completed_during_loop=done_in_loop,
        loop_instances_per_s=loop_rate,
        loop_to_baseline=ratio(loop_rate, baseline_rate),
        last_kill_to_all_done_s=max(0.0, all_done - last_kill),
        restarts=restart_phases(run.started),
    )
    figures["restart_phase_medians_s"] = phase_medians(figures["restarts"])
    criteria.append(
        Criterion(
            "time from the last kill to all done",
            figures["not_completed"] == 0,
            f"{figures['last_kill_to_all_done_s']:.1f} s",
        )
    )
    criteria.append(
        Criterion(
            "progress during the loop (reported, not a pass criterion)",
            True,
            f"{loop_rate:.1f} instances/s during the loop vs {baseline_rate:.1f}/s without "
            f"faults ({figures['loop_to_baseline']:.2f}, target >= 0.5)",
        )
    )
    criteria.append(Criterion("restarts (reported)", True, describe(figures["restarts"])))
    return criteria, figures


async def rebalance(
    instances: int,
    down_seconds: float,
    kill_at: float,
    quiet: bool = False,
    workdir: Path | None = None,
) -> tuple[list[Criterion], dict[str, Any]]:
    """The rebalance scenario; its criteria and figures.

    The instances go in three waves, so that each fault lands mid-run however fast the
    machine is: 40 % at the start (worker a is killed once ``kill_at`` of them are
    done), 30 % while a is down, and 30 % once a is back (worker b is stopped as soon as
    the first of those completes).
    """
    waves = [f"reb-{n}" for n in range(instances)]
    first, second = int(instances * 0.4), int(instances * 0.7)
    async with chaos_run("chaos_rebalance", quiet, workdir) as (run, submit):
        run.start("a")
        run.start("b")
        await run.submit_all(submit, ["warm"])
        await run.log.until(1, timeout=180)
        await run.submit_all(submit, waves[:first])
        await run.log.until(1 + int(first * kill_at), timeout=600)
        kill(run.workers["a"])
        run.say(f"killed worker a at {len(run.log.done):,} done; back in {down_seconds:.0f} s")
        await run.submit_all(submit, waves[first:second])
        await asyncio.sleep(down_seconds)
        restarted_at = time.time()
        run.start("a")
        await _ready(run.started[-1][2], timeout=180)
        done_before = len(run.log.done)
        await run.submit_all(submit, waves[second:])
        await run.log.until(done_before + 1, timeout=600)
        run.say(f"worker a is back, {len(run.log.done):,} done; stopping worker b (SIGTERM)")
        term_at, left_at_term = time.time(), len(run.ids) - len(run.log.done)
        began = time.monotonic()
        stop(run.workers.pop("b"))
        b_stop = time.monotonic() - began
        run.say(f"worker b stopped in {b_stop:.1f} s")
        all_done = await run.finish()
        criteria, figures = await run.verdicts("a")
    figures.update(
        scenario="rebalance",
        down_seconds=down_seconds,
        kill_at_fraction=kill_at,
        sigterm_stop_s=b_stop,
        unfinished_at_sigterm=left_at_term,
        restart_to_all_done_s=max(0.0, all_done - restarted_at),
        sigterm_to_all_done_s=max(0.0, all_done - term_at),
        restarts=restart_phases(run.started),
    )
    figures["restart_phase_medians_s"] = phase_medians(figures["restarts"])
    criteria.append(Criterion("restarts (reported)", True, describe(figures["restarts"])))
    criteria.append(
        Criterion(
            "the SIGTERMed worker stopped within 30 s",
            b_stop < 30,
            f"{b_stop:.1f} s",
        )
    )
    criteria.append(
        Criterion(
            "time from the last fault to all done",
            figures["not_completed"] == 0,
            f"{figures['sigterm_to_all_done_s']:.1f} s after the SIGTERM",
        )
    )
    return criteria, figures


async def _ready(log_path: Path, timeout: float) -> None:
    """Wait until the worker logging to ``log_path`` says it is ready."""
    deadline = time.monotonic() + timeout
    while "[^Worker]: Ready" not in await asyncio.to_thread(log_path.read_text, errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker not ready after {timeout} s; see {log_path}")
        await asyncio.sleep(0.2)


def report(workload: str, criteria: list[Criterion], figures: dict[str, Any]) -> bool:
    """Record the figures, print each criterion; whether all passed."""
    passed = all(criterion.passed for criterion in criteria)
    figures["passed"] = passed
    figures["criteria"] = [
        {"name": c.name, "passed": c.passed, "figure": c.figure} for c in criteria
    ]
    lines = [f"{workload}: {'PASS' if passed else 'FAIL'}", *(c.line() for c in criteria)]
    record(workload, figures, "\n".join(lines))
    return passed
