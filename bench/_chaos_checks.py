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


def check(
    ids: Iterable[str],
    log: UpdateLog,
    changelogs: Mapping[str, Changelog],
    disk: Mapping[str, Mapping[bytes, bytes]] | None,
    hooks: Mapping[str, Counter[str]],
) -> tuple[list[Criterion], dict[str, Any]]:
    """Every pass criterion of a finished run, and the figures behind them."""
    expected = set(ids)
    tables = {name: changelog.state for name, changelog in changelogs.items()}
    owners = changelogs["dagger_instances"].owners
    criteria: list[Criterion] = []
    figures: dict[str, Any] = {"instances": len(expected)}

    latest = {i: log.latest.get(i) for i in expected}
    not_completed = sorted(
        i for i, doc in latest.items() if not doc or doc["status"] != "COMPLETED"
    )
    stored = tables["dagger_instances"]
    stored_status = {key.decode(): _stored_parameters(value) for key, (_, value) in stored.items()}
    stored_not_completed = sorted(
        i for i in expected if stored_status.get(i, ("missing", {}))[0] != "COMPLETED"
    )
    figures.update(not_completed=len(not_completed), stored_not_completed=len(stored_not_completed))
    criteria.append(
        Criterion(
            "every instance COMPLETED",
            not not_completed and not stored_not_completed,
            f"{len(expected) - len(not_completed)}/{len(expected)} by their updates, "
            f"{len(expected) - len(stored_not_completed)}/{len(expected)} in the stored state"
            + (
                f" (e.g. {(not_completed or stored_not_completed)[:3]})"
                if not_completed or stored_not_completed
                else ""
            ),
        )
    )

    two_owners = sorted(k.decode() for k in expected_keys(expected) if len(owners.get(k, ())) > 1)
    figures["instances_on_two_partitions"] = len(two_owners)
    criteria.append(
        Criterion(
            "one owner per instance",
            not two_owners,
            f"{len(two_owners)} ids stored on more than one partition"
            + (f" (e.g. {two_owners[:3]})" if two_owners else ""),
        )
    )

    twice = sorted(
        f"{i}/task {position}"
        for (i, position), times in stored_completions(
            changelogs["dagger_instances"].history
        ).items()
        if i in expected and len(times) > 1
    )
    superseded = sum(
        1 for (i, _), times in log.completions.items() if i in expected and len(times) > 1
    )
    skipped = sorted(i for i, doc in latest.items() if doc and not _chain_in_order(doc))
    figures.update(
        tasks_completed_twice=len(twice),
        update_documents_superseded=superseded,
        instances_with_a_task_skipped=len(skipped),
    )
    criteria.append(
        Criterion(
            "no task completed twice",
            not twice,
            f"{len(twice)} tasks stored COMPLETED with two completion times"
            + (f" (e.g. {twice[:3]})" if twice else "")
            + f"; {superseded} tasks whose update documents showed a completion that a "
            "replay after a kill made again (updates are at-least-once)",
        )
    )
    criteria.append(
        Criterion(
            "no task skipped over",
            not skipped,
            f"{len(skipped)} instances whose {' -> '.join(CHAIN)} did not all complete in order"
            + (f" (e.g. {skipped[:3]})" if skipped else ""),
        )
    )

    applied = Counter(
        (doc["runtime_parameters"].get(APPLIED, 0) if doc else 0) for doc in latest.values()
    )
    stored_applied = Counter(stored_status.get(i, ("", {}))[1].get(APPLIED, 0) for i in expected)
    on_message_runs = hooks.get("on_message", Counter())
    figures.update(
        on_message_applied_not_once=len(expected) - applied[1],
        on_message_runs=sum(on_message_runs[i] for i in expected),
    )
    criteria.append(
        Criterion(
            "on_message applied once per instance",
            applied[1] == len(expected) and stored_applied[1] == len(expected),
            f"applied once in {applied[1]}/{len(expected)} (updates), "
            f"{stored_applied[1]}/{len(expected)} (stored); counts seen {dict(applied)}; "
            f"on_message ran {figures['on_message_runs']} times",
        )
    )

    held_ever = {
        key
        for _, key, value in changelogs["dagger_early_messages"].history
        if value is not None and MESSAGE_MARK.encode() in key
    }
    figures["messages_held_during_the_run"] = len(held_ever)
    left = {table: len(tables[table]) for table in TABLES[1:]}
    figures.update({f"left_in_{table}": count for table, count in left.items()})
    criteria.append(
        Criterion(
            "no index entry, timer or held message left (changelogs)",
            not any(left.values()),
            ", ".join(f"{table}: {count}" for table, count in left.items())
            + _examples(tables, TABLES[1:])
            + f"; {len(held_ever)} messages were held during the run (replies read again "
            "after a kill, whose listener had completed) and expired",
        )
    )
    if disk is not None:
        criteria.append(_disk_agrees(tables, disk, figures))

    completes = hooks.get("complete", Counter())
    missing_runs = sum(1 for i in expected if completes[i] == 0)
    figures["executor_runs"] = sum(completes[i] for i in expected)
    figures["executor_re_executions"] = sum(max(0, completes[i] - 1) for i in expected)
    criteria.append(
        Criterion(
            "executor ran for every instance (re-executions allowed)",
            missing_runs == 0,
            f"{figures['executor_runs']} runs, {figures['executor_re_executions']} re-executions, "
            f"{missing_runs} instances never ran it",
        )
    )
    return criteria, figures


def expected_keys(ids: Iterable[str]) -> list[bytes]:
    return [i.encode() for i in ids]


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
