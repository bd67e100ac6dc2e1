"""What a table write costs the worker: faust's own path against the engine's (issue 17).

One process, one embedded broker, two rocksdb tables of the engine's faust app. Each round
writes ``--writes`` 2 KB values (an instance's size) over 4 partitions, each write in the
event of its partition as a batch's commit makes it, then flushes the producer (so the
changelog records are on the broker):

- ``faust``: ``table[key] = value``, faust's write: its changelog record goes through
  faust's ``Topic`` layer and producer buffer, and its persisted offset is written per
  record;
- ``engine``: the same writes through :class:`dagger.runtime._logged_table.LoggedTable`,
  its records handed to the producer at the end of the commit, a persisted offset per
  partition.

The figure is this process's CPU (user + system) per write, the median over the rounds,
the two paths alternating; the broker runs in its own process and is not counted.

Run: ``python -m bench.table_writes`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import MutableMapping
from types import SimpleNamespace

from bench._common import median, record
from dagger import _faust_internals as faust_internals
from dagger.runtime._logged_table import LoggedTable
from dagger.serializers._passthrough import register_passthrough
from dagger.testing import EmbeddedBroker

PARTITIONS = 4
VALUE = b"x" * 2048


class _Event:
    """A stand-in for an engine-topic event of ``partition`` (what a write reads of it)."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(topic="bench_tasks", partition=partition)


def _events() -> list[_Event]:
    return [_Event(partition) for partition in range(PARTITIONS)]


def _write_round(table: MutableMapping[bytes, bytes], writes: int, first: int) -> None:
    events = _events()
    for number in range(first, first + writes):
        with faust_internals.as_current_event(events[number % PARTITIONS]):
            table[f"instance-{number}".encode()] = VALUE


async def main(writes: int, rounds: int) -> None:
    async with EmbeddedBroker() as broker:
        app = faust_internals.EngineFaustApp(
            "bench-table-writes",
            broker=broker.url,
            store="rocksdb://",
            datadir=tempfile.mkdtemp(prefix="dagger-bench-tables-"),
            key_serializer="raw",
            value_serializer=register_passthrough(),
            topic_partitions=PARTITIONS,
            consumer_fetch_max_wait=0.1,
        )
        tables = {
            path: app.Table(f"{path}_path", partitions=PARTITIONS, key_type=bytes, value_type=bytes)
            for path in ("faust", "engine")
        }
        await broker.acreate_topics(
            {table.changelog_topic_name: PARTITIONS for table in tables.values()}
        )
        await app.producer.start()
        logged = LoggedTable(app, tables["engine"])
        cpu_per_write: dict[str, list[float]] = {"faust": [], "engine": []}
        try:
            for round_number in range(rounds + 1):  # the first round warms up, not counted
                for path in ("faust", "engine"):
                    started = time.process_time()
                    target = tables[path] if path == "faust" else logged
                    _write_round(target, writes, round_number * writes)
                    if path == "engine":
                        await logged.send_changelog_queue()
                    await app.producer.flush()
                    if round_number:
                        cpu_per_write[path].append((time.process_time() - started) / writes)
        finally:
            await app.producer.stop()
    faust_us = 1e6 * median(cpu_per_write["faust"])
    engine_us = 1e6 * median(cpu_per_write["engine"])
    record(
        "table_writes",
        {
            "writes_per_round": writes,
            "rounds": rounds,
            "faust_cpu_us_per_write": faust_us,
            "engine_cpu_us_per_write": engine_us,
            "ratio_engine_to_faust": engine_us / faust_us,
        },
        f"table writes (2 KB, rocksdb, {writes:,} per round, median of {rounds}): faust's "
        f"path {faust_us:.1f} us of CPU per write, the engine's {engine_us:.1f} us "
        f"(ratio {engine_us / faust_us:.2f})",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20_000, help="writes per round")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.writes, arguments.rounds))
