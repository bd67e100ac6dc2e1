"""The bad-input suite (issue 15, item 3): a flood of malformed records beside normal work.

One `dagger worker` on ``rocksdb://`` and the embedded broker, the simulated order service,
and the 3-step order workflow (command -> service -> listener -> executor). First
``--orders`` orders run with no flood (all in flight at once), then a flooder sends
``--records`` malformed records (``bench._flood``: every kind a listener topic or the
engine topic may carry) at up to ``--rate`` records/s, and once it is under way the same
number of orders runs again. The worker's ``GET /service/ready`` is polled throughout,
and its RSS sampled.

Pass criteria, each printed with its figure (exit status 1 when one fails):

- the worker never dies and ``/service/ready`` stays true;
- every normal order completes, in both rounds;
- every malformed record is accounted for: in the dead-letter topic with the reason its
  kind expects (matched by origin topic, partition and offset), or held as an early
  message (``dagger.messages_held``) or dead-lettered ``early_buffer_full`` beyond the
  bound, or dropped and counted (``dagger.inputs_dropped`` by reason); the counts per
  reason are reconciled with what was sent, and no other dead letter appears;
- peak RSS of the worker under ``--max-rss-mb``;
- timings (skipped by :func:`run` with ``timings=False``): at least 5,000 malformed
  records per second of the worker's CPU (its CPU time over the flood: what one worker
  with a core of its own handles, whatever else runs on the machine; the wall-clock rate
  of dead letters is reported beside it), and the orders during the flood at least half
  as fast as without it.

Run: ``python -m bench.bad_input`` (or ``scripts/bench``); ``--records 5000 --orders 50``
is the short form the integration test runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench._common import (
    cpu_seconds,
    free_port,
    record,
    rss_bytes,
    start_worker,
    stop_all,
    update_consumer,
)
from bench._flood import ALREADY_HELD, DROPPED, ENGINE, HELD, REPLAYED, Record, flood, kind_names
from bench._load import Completions, closed_loop
from bench._workflows import THREE_STEP
from bench.throughput import engine_client, engine_names, engine_topics, start_service
from dagger.testing import EmbeddedBroker

T = TypeVar("T")

TARGET_DEAD_LETTERS_PER_S = 5000.0
TARGET_FLOOD_RATIO = 0.5
EARLY_BUFFER_FULL = "early_buffer_full"
HELD_EXPIRED = "held_expired"
WARM_UP = 10
READY_TIMEOUT_S = 10.0
"""A ``/service/ready`` answer slower than this counts as not ready."""
SETTLE_S = 30.0
"""Seconds without a new dead letter after which the flood counts as fully handled."""


@dataclass
class Criterion:
    """One pass criterion: its name, whether it held, its figure, and if it is a timing."""

    name: str
    passed: bool
    figure: str
    timing: bool = False


@dataclass
class Watch:
    """What the watchers saw: readiness, liveness and memory of the worker."""

    ready_polls: int = 0
    not_ready: list[str] = field(default_factory=list)
    peak_rss: int = 0
    died: str | None = None


async def _watch(worker: subprocess.Popen[bytes], url: str, watch: Watch) -> None:
    """Poll ``url`` (``/service/ready``) and the worker's RSS every 0.25 s until cancelled."""
    timeout = aiohttp.ClientTimeout(total=READY_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            if worker.poll() is not None:
                watch.died = f"exited with {worker.returncode}"
                return
            watch.peak_rss = max(watch.peak_rss, rss_bytes(worker.pid))
            try:
                async with session.get(url) as response:
                    body = await response.json(content_type=None)
                    if response.status != 200 or body.get("is_ready") is not True:
                        watch.not_ready.append(f"{response.status} {body}")
            except Exception as exc:  # a refused connection or a timeout is not ready
                watch.not_ready.append(f"{type(exc).__name__}: {exc}")
            watch.ready_polls += 1
            await asyncio.sleep(0.25)


async def _until_ready(worker: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode}")
            with contextlib.suppress(Exception):
                async with session.get(url) as response:
                    if (await response.json(content_type=None)).get("is_ready") is True:
                        return
            await asyncio.sleep(0.25)
    raise TimeoutError(f"the worker was not ready after {timeout} s")


@dataclass
class Flood:
    """The records sent, by where they landed: (topic, partition, offset) -> record."""

    sent: dict[tuple[str, int, int], Record] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    def expected(self) -> Counter[str]:
        """How many records expect each outcome."""
        return Counter(record.expected for record in self.sent.values())


async def _send_flood(
    bootstrap: str, topics: dict[str, str], records: list[Record], rate: float, into: Flood
) -> None:
    """Send ``records`` at up to ``rate`` records/s (0: as fast as possible)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=2 * 2**20,
        acks=1,
    )
    await producer.start()
    try:
        into.started = time.time()
        tick, per_tick = 0.05, max(1, int(rate * 0.05)) if rate else len(records)
        pending: list[tuple[Record, asyncio.Future[Any]]] = []
        for start in range(0, len(records), per_tick):
            began = time.monotonic()
            for n, item in enumerate(records[start : start + per_tick], start):
                topic = topics[item.target]
                sent = await producer.send(
                    topic, item.value, key=item.key, partition=n % 4, headers=item.headers
                )
                pending.append((item, sent))
            if rate:
                await asyncio.sleep(max(0.0, tick - (time.monotonic() - began)))
            if len(pending) >= 5000:
                await _collect(pending, into)
        await producer.flush()
        await _collect(pending, into)
        into.finished = time.time()
    finally:
        await producer.stop()


async def _collect(pending: list[tuple[Record, asyncio.Future[Any]]], into: Flood) -> None:
    for item, sent in pending:
        metadata = await sent
        into.sent[(metadata.topic, metadata.partition, metadata.offset)] = item
    pending.clear()


class DeadLetters:
    """Reads the dead-letter topic: each letter's reason and time by its origin."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.by_origin: dict[tuple[str, int, int], tuple[str, float]] = {}
        self.other: list[dict[str, Any]] = []
        self.last_seen = time.monotonic()

    async def run(self) -> None:
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
                for messages in batches.values():
                    for message in messages:
                        self._see(json.loads(message.value))
                    self.last_seen = time.monotonic()
        finally:
            await self._consumer.stop()

    def _see(self, letter: dict[str, Any]) -> None:
        origin = letter.get("origin") or {}
        try:
            where = (str(origin["topic"]), int(origin["partition"]), int(origin["offset"]))
        except (KeyError, TypeError, ValueError):
            self.other.append(letter)
            return
        self.by_origin[where] = (str(letter["reason"]), float(letter["time"]))

    async def settle(self, wanted: int, idle: float) -> None:
        """Wait until ``wanted`` letters are read, or none came for ``idle`` seconds."""
        while len(self.by_origin) < wanted:
            if time.monotonic() - self.last_seen >= idle:
                return
            await asyncio.sleep(0.2)


async def _metrics(session: aiohttp.ClientSession, url: str) -> dict[str, dict[str, float]]:
    async with session.get(url) as response:
        body: dict[str, dict[str, float]] = await response.json(content_type=None)
        return body


async def _settled_metrics(url: str, flood_sent: Flood) -> dict[str, dict[str, float]]:
    """The worker's metrics once they account for every held or dropped record sent, or
    have not moved for ``SETTLE_S`` (the engine topic's events may lag the dead letters)."""
    wanted = sum(
        count
        for outcome, count in flood_sent.expected().items()
        if outcome == HELD or outcome.startswith(DROPPED)
    )
    seen, quiet_since = -1, time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            metrics = await _metrics(session, url)
            held, dropped = _accounts(metrics)
            counted = held + sum(dropped.values()) - dropped[HELD_EXPIRED]
            if counted >= wanted or time.monotonic() - quiet_since >= SETTLE_S:
                return metrics
            if counted != seen:
                seen, quiet_since = counted, time.monotonic()
            await asyncio.sleep(1.0)


def _accounts(metrics: dict[str, dict[str, float]]) -> tuple[int, Counter[str]]:
    """Messages held, and inputs dropped by reason, as the worker counted them."""
    return _counter(metrics, "dagger.messages_held")[""], _counter(metrics, "dagger.inputs_dropped")


def _counter(metrics: dict[str, dict[str, float]], name: str) -> Counter[str]:
    """A metric's sums by its ``dagger.reason`` (or the whole sum under ``""``)."""
    counts: Counter[str] = Counter()
    for labels, value in metrics.get(name, {}).items():
        reason = ""
        for label in labels.split(","):
            if label.startswith("dagger.reason="):
                reason = label.removeprefix("dagger.reason=")
        counts[reason] += int(value)
    return counts


def reconcile(
    flood_sent: Flood, letters: DeadLetters, metrics: dict[str, dict[str, float]]
) -> tuple[list[Criterion], dict[str, Any]]:
    """Check every malformed record is accounted for; the criteria and the counts."""
    wrong: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    dead_lettered: Counter[str] = Counter()
    held_refused = 0
    for origin, item in flood_sent.sent.items():
        found = letters.by_origin.get(origin)
        if item.expected == HELD or item.expected.startswith(DROPPED):
            if found is not None and found[0] == EARLY_BUFFER_FULL and item.expected == HELD:
                held_refused += 1
            elif found is not None:
                wrong[f"{item.kind}: {found[0]}"] += 1
            continue
        if found is None:
            missing[item.kind] += 1
        elif found[0] != item.expected:
            wrong[f"{item.kind}: {found[0]} (not {item.expected})"] += 1
        else:
            dead_lettered[found[0]] += 1
    expected = flood_sent.expected()
    unexpected = [
        f"{reason} from {origin}"
        for origin, (reason, _) in letters.by_origin.items()
        if origin not in flood_sent.sent
    ] + [str(letter.get("reason")) for letter in letters.other]
    held, dropped = _accounts(metrics)
    # A held message, a repeat of one (dropped), or beyond the bound: the sum is what was
    # sent, also when held ones expired during the run and a later repeat was held again.
    # A repeated reply whose key no longer remembered it (a run longer than the window)
    # was held instead of dropped as replayed: it counts with the held ones.
    replayed = dropped[REPLAYED.removeprefix(DROPPED)]
    forgotten_repeats = max(0, expected[REPLAYED] - replayed)
    held_sent = expected[HELD] + expected[ALREADY_HELD] + forgotten_repeats
    repeats = dropped[ALREADY_HELD.removeprefix(DROPPED)]
    held_counted = held + repeats + held_refused
    wanted_drops = {
        reason.removeprefix(DROPPED): count
        for reason, count in expected.items()
        if reason.startswith(DROPPED) and reason not in (ALREADY_HELD, REPLAYED)
    }
    got_drops = {reason: dropped.get(reason, 0) for reason in wanted_drops}
    accepted = {
        *wanted_drops,
        ALREADY_HELD.removeprefix(DROPPED),
        REPLAYED.removeprefix(DROPPED),
        HELD_EXPIRED,
    }
    extra_drops = {r: c for r, c in dropped.items() if r not in accepted and c}
    counts = {
        "sent_by_expected_outcome": dict(expected),
        "dead_lettered_by_reason": dict(dead_lettered),
        "missing_dead_letters_by_kind": dict(missing),
        "wrong_outcome": dict(wrong),
        "unexpected_dead_letters": unexpected[:20],
        "held": held,
        "held_refused_early_buffer_full": held_refused,
        "dropped_by_reason": dict(dropped),
    }
    criteria = [
        Criterion(
            "every dead-letter kind is in the dead-letter topic with its reason",
            not missing and not wrong,
            f"{sum(dead_lettered.values()):,} dead-lettered as expected; "
            f"missing {dict(missing) or 0}, wrong {dict(wrong) or 0}",
        ),
        Criterion(
            "every early message is held, a repeat of one dropped, or early_buffer_full",
            held_counted == held_sent,
            f"{held:,} held + {repeats:,} repeats + {held_refused:,} refused = "
            f"{held_counted:,} of {held_sent:,} sent ({dropped[HELD_EXPIRED]:,} held ones "
            "expired since)",
        ),
        Criterion(
            "every deliberately dropped record is counted by reason",
            got_drops == wanted_drops and not extra_drops and replayed <= expected[REPLAYED],
            f"counted {got_drops}, sent {wanted_drops}; repeated replies dropped as replayed "
            f"{replayed:,} of {expected[REPLAYED]:,} (the rest held)"
            + (f", other drops {extra_drops}" if extra_drops else ""),
        ),
        Criterion("no other dead letter", not unexpected, f"{len(unexpected)} other dead letters"),
    ]
    return criteria, counts


def dead_letter_rate(flood_sent: Flood, letters: DeadLetters) -> tuple[float, float]:
    """Dead letters of the flood per second (first to last letter), and the span in s."""
    times = sorted(
        found[1] for origin in flood_sent.sent if (found := letters.by_origin.get(origin))
    )
    if len(times) < 2:
        return 0.0, 0.0
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else 0.0, span


async def _while_alive(work: Awaitable[T], watching: asyncio.Task[None], watch: Watch) -> T:
    """Await ``work``, unless the worker dies first (``watching`` returns): then raise."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task, watching}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise RuntimeError(f"the worker died ({watch.died}): the run cannot go on")


@contextlib.asynccontextmanager
async def _task(coroutine: Any) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run(
    records: int,
    rate: float,
    orders: int,
    *,
    max_rss_mb: float = 1024,
    timings: bool = True,
    profile: Path | None = None,
    kinds: list[str] | None = None,
    progress: Callable[[str], None] = print,
) -> tuple[list[Criterion], dict[str, Any]]:
    """One run of the suite on a fresh broker and worker: the criteria and the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-bad-input-"))
    names = engine_names(f"badinput{uuid.uuid4().hex[:6]}", workdir, store="rocksdb://")
    env = {**names, "BENCH_METRICS": "1"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    async with EmbeddedBroker() as broker:
        try:
            await broker.acreate_topics(engine_topics(names))
            env["DAGGER_BROKER"] = broker.url
            worker = start_worker(
                "bench._throughput_app", env, workdir / "worker.log", web_port=port, profile=profile
            )
            processes += [
                worker,
                start_service(
                    broker, names["BENCH_ORDERS_TOPIC"], names["BENCH_READY_TOPIC"], workdir
                ),
            ]
            progress("waiting for the worker to be ready")
            await _until_ready(worker, f"{base}/service/ready", timeout=180)
            topics = {"listener": names["BENCH_READY_TOPIC"], ENGINE: names["BENCH_TASKS_TOPIC"]}
            letters = DeadLetters(
                update_consumer(broker.bootstrap_servers, names["BENCH_DEAD_LETTER_TOPIC"])
            )
            watch = Watch()
            updates = update_consumer(broker.bootstrap_servers, names["BENCH_UPDATES_TOPIC"])
            async with (
                engine_client(broker, names, THREE_STEP) as submit,
                Completions(updates) as completions,
                _task(_watch(worker, f"{base}/service/ready", watch)) as watching,
                _task(letters.run()),
            ):
                await _while_alive(
                    closed_loop(submit, completions, WARM_UP, WARM_UP, "warm", timeout=180),
                    watching,
                    watch,
                )
                progress(f"{orders} orders without a flood")
                calm = (
                    await _while_alive(
                        closed_loop(submit, completions, orders, orders, "calm"), watching, watch
                    )
                ).figures()
                progress(f"  {calm['instances_per_s']:.1f} orders/s")
                done = [f"calm-{n}" for n in range(orders)]
                malformed = list(flood(records, done, kinds=kinds))
                flood_sent = Flood()
                cpu_before = cpu_seconds(worker.pid), cpu_seconds(broker.pid)
                progress(f"flooding {records:,} malformed records at up to {rate:,.0f}/s")
                async with _task(
                    _send_flood(broker.bootstrap_servers, topics, malformed, rate, flood_sent)
                ) as sending:
                    while len(letters.by_origin) < min(records // 10, 2000):
                        if sending.done() or watch.died:
                            break
                        await asyncio.sleep(0.05)
                    progress(f"{orders} orders during the flood")
                    stormy = (
                        await _while_alive(
                            closed_loop(submit, completions, orders, orders, "flood"),
                            watching,
                            watch,
                        )
                    ).figures()
                    orders_done_at = time.time()
                    progress(f"  {stormy['instances_per_s']:.1f} orders/s")
                    while not sending.done():
                        await asyncio.sleep(2.0)
                        progress(f"  {len(letters.by_origin):,} dead letters so far")
                    await sending
                wanted = sum(
                    1
                    for item in flood_sent.sent.values()
                    if item.expected != HELD and not item.expected.startswith(DROPPED)
                )
                await letters.settle(wanted, idle=SETTLE_S)
                flood_cpu = cpu_seconds(worker.pid) - cpu_before[0]
                broker_cpu = cpu_seconds(broker.pid) - cpu_before[1]
                metrics = await _settled_metrics(f"{base}/bench/metrics", flood_sent)
            alive = worker.poll() is None and watch.died is None
        finally:
            stop_all(processes)
    log_tail = (workdir / "worker.log").read_text(errors="replace")[-3000:]
    shutil.rmtree(workdir, ignore_errors=True)
    criteria, counts = reconcile(flood_sent, letters, metrics)
    rate_found, span = dead_letter_rate(flood_sent, letters)
    per_cpu_s = records / flood_cpu if flood_cpu else 0.0
    ratio = stormy["instances_per_s"] / calm["instances_per_s"] if calm["instances_per_s"] else 0
    peak_mb = watch.peak_rss / 2**20
    criteria = [
        Criterion("the worker never died", alive, watch.died or "alive at the end"),
        Criterion(
            "/service/ready stayed true",
            not watch.not_ready,
            f"{watch.ready_polls} polls, {len(watch.not_ready)} not ready"
            + (f" (first: {watch.not_ready[0]})" if watch.not_ready else ""),
        ),
        Criterion(
            "every normal order completed",
            calm["instances"] == orders and stormy["instances"] == orders,
            f"{calm['instances']} + {stormy['instances']} of {2 * orders}",
        ),
        *criteria,
        Criterion(
            "peak RSS bounded", peak_mb <= max_rss_mb, f"{peak_mb:.0f} MB (<= {max_rss_mb:.0f})"
        ),
        Criterion(
            "malformed records per second of worker CPU",
            per_cpu_s >= TARGET_DEAD_LETTERS_PER_S,
            f"{per_cpu_s:,.0f}/s ({flood_cpu / records * 1e6:,.0f} us of worker CPU each; "
            f">= {TARGET_DEAD_LETTERS_PER_S:,.0f}); dead-lettered at {rate_found:,.0f}/s "
            f"of wall time over {span:.1f} s on the shared machine",
            timing=True,
        ),
        Criterion(
            "orders keep half their throughput during the flood",
            ratio >= TARGET_FLOOD_RATIO and orders_done_at <= flood_sent.finished,
            f"{stormy['instances_per_s']:.1f} vs {calm['instances_per_s']:.1f} orders/s = "
            f"{ratio:.2f} (>= {TARGET_FLOOD_RATIO}); p50 {stormy['latency_p50_ms']:.0f} vs "
            f"{calm['latency_p50_ms']:.0f} ms"
            + ("" if orders_done_at <= flood_sent.finished else "; the flood ended first"),
            timing=True,
        ),
    ]
    if not timings:
        criteria = [criterion for criterion in criteria if not criterion.timing]
    figures = {
        "records": records,
        "rate_limit": rate,
        "orders": orders,
        "flood_send_s": flood_sent.finished - flood_sent.started,
        "flood_sent_per_s": len(flood_sent.sent) / (flood_sent.finished - flood_sent.started),
        "dead_letters_per_s": rate_found,
        "flood_worker_cpu_s": flood_cpu,
        "flood_worker_cpu_us_per_record": flood_cpu / records * 1e6,
        "records_per_worker_cpu_s": per_cpu_s,
        "flood_broker_cpu_s": broker_cpu,
        "orders_per_s_calm": calm["instances_per_s"],
        "orders_per_s_flood": stormy["instances_per_s"],
        "orders_p50_ms_calm": calm["latency_p50_ms"],
        "orders_p50_ms_flood": stormy["latency_p50_ms"],
        "flood_ratio": ratio,
        "peak_rss_mb": peak_mb,
        "ready_polls": watch.ready_polls,
        **counts,
        "passed": all(criterion.passed for criterion in criteria),
    }
    if not figures["passed"]:
        figures["worker_log_tail"] = log_tail
    return criteria, figures


def report(criteria: list[Criterion]) -> str:
    """One line per criterion: PASS or FAIL, its name and its figure."""
    return "\n".join(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.figure}" for c in criteria)


async def main(arguments: argparse.Namespace) -> int:
    criteria, figures = await run(
        arguments.records,
        arguments.rate,
        arguments.orders,
        max_rss_mb=arguments.max_rss_mb,
        profile=arguments.profile,
        kinds=arguments.kinds,
    )
    record("bad_input", figures, report(criteria))
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a flood of malformed records beside orders")
    parser.add_argument("--records", type=int, default=100_000, help="malformed records")
    parser.add_argument("--rate", type=float, default=2000, help="records/s; 0: no limit")
    parser.add_argument("--orders", type=int, default=200, help="orders per round")
    parser.add_argument("--max-rss-mb", type=float, default=1024, help="peak RSS bound")
    parser.add_argument(
        "--profile", type=Path, help="run the worker under cProfile, statistics to this file"
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=kind_names(), help="flood with these kinds only"
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
