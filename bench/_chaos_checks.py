"""The chaos suite's pass criteria, read from what a run left behind.

Each criterion is checked from evidence the engine cannot fake: the update documents
(:class:`~bench._update_log.UpdateLog`), the final state of the engine's tables rebuilt
from their changelog topics (what any new owner would recover), the stores a stopped
worker left on disk, and the hook log the benchmark workflow writes
(:mod:`bench._workflows`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from rocksdict import AccessType, Rdict

from bench._update_log import UpdateLog
from bench._workflows import APPLIED
from dagger.runtime._held import MESSAGE_MARK

TABLES = ("dagger_instances", "dagger_correlation", "dagger_early_messages", "dagger_timers")
CHAIN = ("SendOrder", "AwaitReady", "Complete")
"""The three-step workflow's tasks (LEAF tasks, in the instance's order) as they complete."""


@dataclass(frozen=True)
class Criterion:
    """One pass criterion: its name, whether it held, and the figure that says so."""

    name: str
    passed: bool
    figure: str

    def line(self) -> str:
        return f"  [{'pass' if self.passed else 'FAIL'}] {self.name}: {self.figure}"


TableState = dict[bytes, tuple[int, bytes]]
"""A table's live keys -> (partition, value), as its changelog leaves them."""


@dataclass
class Changelog:
    """A table as its changelog topic leaves it."""

    state: TableState
    owners: dict[bytes, set[int]]
    """Each live key -> the partitions it is live on (two: an instance with two owners)."""
    history: list[tuple[int, bytes, bytes | None]]
    """Every record, in each partition's order."""


async def changelog_state(bootstrap_servers: str, topic: str, settle: float = 1.5) -> Changelog:
    """Replay ``topic`` from the beginning, until no record came for ``settle`` s."""
    history = await _replay(bootstrap_servers, topic, settle)
    live: dict[tuple[int, bytes], bytes | None] = {}
    for partition, key, value in history:
        live[partition, key] = value
    state: TableState = {}
    owners: defaultdict[bytes, set[int]] = defaultdict(set)
    for (partition, key), value in live.items():
        if value is not None:
            state[key] = (partition, value)
            owners[key].add(partition)
    return Changelog(state, dict(owners), history)


async def _replay(
    bootstrap_servers: str, topic: str, settle: float
) -> list[tuple[int, bytes, bytes | None]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=8 * 2**20,
    )
    await consumer.start()
    records: list[tuple[int, bytes, bytes | None]] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for messages in batches.values():
                records.extend((m.partition, m.key or b"", m.value) for m in messages)
                if messages:
                    quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return records


def disk_state(datadir: Path, table: str) -> dict[bytes, bytes]:
    """The live keys of a stopped worker's rocksdb table (its partition files under ``datadir``)."""
    state: dict[bytes, bytes] = {}
    for path in sorted(datadir.rglob(f"{table}-*.db")):
        db = Rdict(str(path), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                if not key.startswith(b"__faust"):
                    state[key] = value
        finally:
            db.close()
    return state


def hook_runs(path: Path) -> dict[str, Counter[str]]:
    """Hook name -> instance id -> how many times it ran (from the hook log)."""
    runs: defaultdict[str, Counter[str]] = defaultdict(Counter)
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                runs[parts[0]][parts[1]] += 1
    return dict(runs)


def _code(fields: Mapping[str, Any]) -> str:
    status = fields.get("status", {})
    return str(status.get("code") if isinstance(status, dict) else status)


def _stored_parameters(value: bytes) -> tuple[str, dict[str, Any]]:
    """(status, runtime parameters) of a stored instance document (dagger.core._codec)."""
    fields = json.loads(value)["f"]
    return _code(fields), fields.get("runtime_parameters", {})


def stored_completions(
    history: Iterable[tuple[int, bytes, bytes | None]],
) -> defaultdict[tuple[str, int], set[float]]:
    """(instance id, task position) -> every completion time a stored version recorded.

    A task applied once keeps its completion time in every later version; two times mean
    the task was completed twice (by two owners, or by an event applied twice).
    """
    completions: defaultdict[tuple[str, int], set[float]] = defaultdict(set)
    for _, key, value in history:
        if value is None:
            continue
        for position, (_, fields) in enumerate(json.loads(value)["t"]):
            if _code(fields) == "COMPLETED" and fields.get("time_completed") is not None:
                completions[key.decode(), position].add(fields["time_completed"])
    return completions


@dataclass
class _Run:
    """What one check reads: the expected ids and the run's evidence."""

    expected: set[str]
    log: UpdateLog
    changelogs: Mapping[str, Changelog]
    hooks: Mapping[str, Counter[str]]
    figures: dict[str, Any]

    @property
    def tables(self) -> dict[str, TableState]:
        return {name: changelog.state for name, changelog in self.changelogs.items()}

    @property
    def latest(self) -> dict[str, dict[str, Any] | None]:
        return {i: self.log.latest.get(i) for i in self.expected}

    @property
    def stored(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Instance id -> (status, runtime parameters) as the instance changelog leaves it."""
        return {
            key.decode(): _stored_parameters(value)
            for key, (_, value) in self.changelogs["dagger_instances"].state.items()
        }


def check(
    ids: Iterable[str],
    log: UpdateLog,
    changelogs: Mapping[str, Changelog],
    disk: Mapping[str, Mapping[bytes, bytes]] | None,
    hooks: Mapping[str, Counter[str]],
) -> tuple[list[Criterion], dict[str, Any]]:
    """Every pass criterion of a finished run, and the figures behind them."""
    expected = set(ids)
    run = _Run(expected, log, changelogs, hooks, {"instances": len(expected)})
    criteria = [
        _all_completed(run),
        _one_owner(run),
        *_each_task_once_and_in_order(run),
        _applied_once(run),
        _nothing_left(run),
    ]
    if disk is not None:
        criteria.append(_disk_agrees(run.tables, disk, run.figures))
    criteria.append(_executor_runs(run))
    return criteria, run.figures


def _examples_of(found: list[str]) -> str:
    return f" (e.g. {found[:3]})" if found else ""


def _all_completed(run: _Run) -> Criterion:
    total = len(run.expected)
    by_updates = sorted(
        i for i, doc in run.latest.items() if not doc or doc["status"] != "COMPLETED"
    )
    stored = run.stored
    by_store = sorted(i for i in run.expected if stored.get(i, ("missing", {}))[0] != "COMPLETED")
    run.figures.update(not_completed=len(by_updates), stored_not_completed=len(by_store))
    return Criterion(
        "every instance COMPLETED",
        not by_updates and not by_store,
        f"{total - len(by_updates)}/{total} by their updates, "
        f"{total - len(by_store)}/{total} in the stored state"
        + _examples_of(by_updates or by_store)
        + _changelog_versions(run, by_store[:3]),
    )


def _changelog_versions(run: _Run, ids: list[str]) -> str:
    """What the instance changelog recorded of ``ids``: each version's partition, offset
    in the replay, status and applied-event count (was a completion written, then lost?)."""
    if not ids:
        return ""
    wanted = {i.encode(): i for i in ids}
    versions: dict[str, list[str]] = {i: [] for i in ids}
    for position, (partition, key, value) in enumerate(run.changelogs["dagger_instances"].history):
        if key in wanted:
            if value is None:
                versions[wanted[key]].append(f"p{partition}#{position}:deleted")
                continue
            fields = json.loads(value)["f"]
            applied = len(fields.get("applied_events", []))
            versions[wanted[key]].append(f"p{partition}#{position}:{_code(fields)}/{applied}")
    return "; changelog versions: " + ", ".join(f"{i}: {v}" for i, v in versions.items())


def _one_owner(run: _Run) -> Criterion:
    owners = run.changelogs["dagger_instances"].owners
    two = sorted(i for i in run.expected if len(owners.get(i.encode(), ())) > 1)
    run.figures["instances_on_two_partitions"] = len(two)
    return Criterion(
        "one owner per instance",
        not two,
        f"{len(two)} ids stored on more than one partition" + _examples_of(two),
    )


def _each_task_once_and_in_order(run: _Run) -> list[Criterion]:
    history = run.changelogs["dagger_instances"].history
    twice = sorted(
        f"{i}/task {position}"
        for (i, position), times in stored_completions(history).items()
        if i in run.expected and len(times) > 1
    )
    superseded = sum(
        1 for (i, _), times in run.log.completions.items() if i in run.expected and len(times) > 1
    )
    skipped = sorted(i for i, doc in run.latest.items() if doc and not _chain_in_order(doc))
    run.figures.update(
        tasks_completed_twice=len(twice),
        update_documents_superseded=superseded,
        instances_with_a_task_skipped=len(skipped),
    )
    return [
        Criterion(
            "no task completed twice",
            not twice,
            f"{len(twice)} tasks stored COMPLETED with two completion times"
            + _examples_of(twice)
            + f"; {superseded} tasks whose update documents showed a completion that a "
            "replay after a kill made again (updates are at-least-once)",
        ),
        Criterion(
            "no task skipped over",
            not skipped,
            f"{len(skipped)} instances whose {' -> '.join(CHAIN)} did not all complete in order"
            + _examples_of(skipped),
        ),
    ]


def _applied_once(run: _Run) -> Criterion:
    total = len(run.expected)
    applied = Counter(
        (doc["runtime_parameters"].get(APPLIED, 0) if doc else 0) for doc in run.latest.values()
    )
    stored = run.stored
    stored_applied = Counter(stored.get(i, ("", {}))[1].get(APPLIED, 0) for i in run.expected)
    runs = run.hooks.get("on_message", Counter())
    run.figures.update(
        on_message_applied_not_once=total - applied[1],
        on_message_runs=sum(runs[i] for i in run.expected),
    )
    return Criterion(
        "on_message applied once per instance",
        applied[1] == total and stored_applied[1] == total,
        f"applied once in {applied[1]}/{total} (updates), "
        f"{stored_applied[1]}/{total} (stored); counts seen {dict(applied)}; "
        f"on_message ran {run.figures['on_message_runs']} times",
    )


def _nothing_left(run: _Run) -> Criterion:
    held_ever = {
        key
        for _, key, value in run.changelogs["dagger_early_messages"].history
        if value is not None and MESSAGE_MARK.encode() in key
    }
    run.figures["messages_held_during_the_run"] = len(held_ever)
    tables = run.tables
    left = {table: len(tables[table]) for table in TABLES[1:]}
    run.figures.update({f"left_in_{table}": count for table, count in left.items()})
    return Criterion(
        "no index entry, timer or held message left (changelogs)",
        not any(left.values()),
        ", ".join(f"{table}: {count}" for table, count in left.items())
        + _examples(tables, TABLES[1:])
        + f"; {len(held_ever)} messages were held during the run (replies read again "
        "after a kill, whose listener had completed) and expired",
    )


def _executor_runs(run: _Run) -> Criterion:
    completes = run.hooks.get("complete", Counter())
    never = sum(1 for i in run.expected if completes[i] == 0)
    run.figures["executor_runs"] = sum(completes[i] for i in run.expected)
    run.figures["executor_re_executions"] = sum(max(0, completes[i] - 1) for i in run.expected)
    return Criterion(
        "executor ran for every instance (re-executions allowed)",
        never == 0,
        f"{run.figures['executor_runs']} runs, "
        f"{run.figures['executor_re_executions']} re-executions, {never} instances never ran it",
    )


def _chain_in_order(document: Mapping[str, Any]) -> bool:
    """Every task COMPLETED, and the command, listener and executor in that order."""
    if any(task["status"] != "COMPLETED" for task in document["tasks"]):
        return False
    times = [task["time_completed"] for task in document["tasks"] if task["kind"] == "LEAF"]
    if len(times) != len(CHAIN) or None in times:
        return False
    return all(a <= b for a, b in itertools.pairwise(times))


def _examples(tables: Mapping[str, TableState], names: Iterable[str]) -> str:
    shown = [repr(key[:60]) for name in names for key in list(tables[name])[:2]]
    return f" (e.g. {', '.join(shown)})" if shown else ""


def _disk_agrees(
    tables: Mapping[str, TableState],
    disk: Mapping[str, Mapping[bytes, bytes]],
    figures: dict[str, Any],
) -> Criterion:
    """The last worker's stores hold what the changelogs say, no more, no less."""
    parts = []
    total = 0
    for table in TABLES:
        logged = {key: value for key, (_, value) in tables[table].items()}
        on_disk = disk[table]
        missing = sum(1 for key in logged if key not in on_disk)
        extra = sum(1 for key in on_disk if key not in logged)
        stale = sum(1 for key, value in logged.items() if key in on_disk and on_disk[key] != value)
        figures[f"disk_{table}_missing"] = missing
        figures[f"disk_{table}_extra"] = extra
        figures[f"disk_{table}_stale"] = stale
        total += missing + extra + stale
        if missing or extra or stale:
            parts.append(f"{table}: {missing} missing, {extra} extra, {stale} stale")
    return Criterion(
        "the last worker's stores agree with the changelogs",
        total == 0,
        "; ".join(parts) or f"{sum(len(d) for d in disk.values())} keys, all as logged",
    )
