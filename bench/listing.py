"""What a page of the instance listing costs as the instance table grows (docs/dashboard.md).

``python -m bench.listing [--sizes 1000,10000,100000,1000000] [--runs 3] [--scan-max N]``:
one worker's listing (:meth:`dagger.web._local.LocalInstances.window`, what
``GET /tasks/instances`` and the dashboard run on every worker) over an in-memory table of
N stored instances (a completed 1-step instance under N ids, spread over 4 partitions, 2%
FAILURE and 10% EXECUTING, each with its own update time and partition key), for the
dashboard's first page (25, newest update first), a status filter (FAILURE) and a
partition-key search (a key no instance has), each read from the listing index and by a
scan of the table, and (from the index) an update-time range holding the newest 1%. The
scan is measured up to ``--scan-max`` instances only (default 100,000; about 7 s a page at
a million: pass ``--scan-max 1000000`` to measure it too). No broker, no HTTP.

Also measured per size: the index's build (the first page after the worker owns its
partitions: one scan of the table), its memory per instance (tracemalloc, up to
``--traced-max`` instances; the RSS growth of the build above it) and the owner's cost of
telling it of one write (an instance's new update time). Prints the medians; appends one
line to bench/results/results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import tracemalloc
from collections.abc import Mapping
from typing import Any

from bench._common import median, record
from bench._workflows import ONE_STEP, build_templates
from dagger.core import _codec as codec
from dagger.runtime._listing_index import ListingIndex
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._local import LocalInstances
from dagger.web._query import parse_list_query

PARTITIONS = 4
QUERIES = {
    "first_page": {"order": "updated", "limit": "25"},
    "status_filter": {"order": "updated", "limit": "25", "status": "FAILURE"},
    "key_search": {"order": "updated", "limit": "25", "partition_key": "nobody"},
}
HOT_PATH_WRITES = 20_000
"""Writes timed per size for the owner's cost of keeping the index."""


class _View:
    def __init__(self, store: Mapping[bytes, bytes], index: ListingIndex | None) -> None:
        self._store = store
        self._index = index

    def store(self) -> Mapping[bytes, bytes]:
        return self._store

    def owned_partitions(self) -> frozenset[int]:
        return frozenset(range(PARTITIONS))

    def is_ready(self) -> bool:
        return True

    def listing_index(self) -> ListingIndex | None:
        return self._index

    def ownership_generation(self) -> int:
        return 0


async def _one_stored_instance() -> bytes:
    engine = Dagger(
        broker="kafka://127.0.0.1:9",
        store="memory://",
        application_name="bench-listing",
        kafka_partitions=PARTITIONS,
        tasks_topic="bench-listing-tasks",
    )
    template = build_templates(engine, "bench-orders", "bench-ready")[ONE_STEP]
    engine.template_dags[ONE_STEP] = template
    async with LocalEngine(engine) as local:
        await template.create_instance("sample", "order_id", order_id="o-1", submit_task=True)
        return bytes(local.store[b"sample"])


def _table(raw: bytes, size: int) -> dict[bytes, bytes]:
    """``size`` stored instances made from ``raw``, each with its own root fields."""
    document = json.loads(raw)
    fields = document["f"]
    base = float(fields["lastupdated"])
    for name, mark in (
        ("id", "@I@"),
        ("root_id", "@I@"),
        ("owner_partition", "@P@"),
        ("status", "@S@"),
        ("lastupdated", "@U@"),
        ("time_created", "@C@"),
    ):
        fields[name] = mark
    fields["runtime_parameters"]["order_id"] = "@K@"
    pattern = json.dumps(document, separators=(",", ":")).replace("%", "%%")
    for mark, slot in (
        ('"@I@"', '"%(id)s"'),
        ('"@P@"', "%(p)d"),
        ('"@S@"', '"%(s)s"'),
        ('"@U@"', "%(u)r"),
        ('"@C@"', "%(c)r"),
        ('"@K@"', '"%(k)s"'),
    ):
        pattern = pattern.replace(mark, slot)
    table = {}
    for number in range(size):
        instance_id = f"i-{number:08d}"
        status = "FAILURE" if number % 50 == 0 else "EXECUTING" if number % 10 == 1 else "COMPLETED"
        updated = base + number / 1000  # as _updated says
        values = {
            "id": instance_id,
            "p": number % PARTITIONS,
            "s": status,
            "u": updated,
            "c": updated - 1,
            "k": f"o-{number}",
        }
        table[instance_id.encode()] = (pattern % values).encode()
    return table


def _updated(raw: bytes, number: float) -> float:
    """The update time :func:`_table` gives instance ``number``."""
    return float(json.loads(raw)["f"]["lastupdated"]) + number / 1000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


async def _timed(local: LocalInstances, params: dict[str, str], runs: int) -> float:
    query = parse_list_query(params)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await local.window(query)
        timings.append(time.perf_counter() - started)
    return median(timings)


async def _build(store: Mapping[bytes, bytes], traced: bool) -> tuple[ListingIndex, float, int]:
    """A built index, how long the build took and the bytes it holds."""
    gc.collect()
    index = ListingIndex()
    owned = frozenset(range(PARTITIONS))
    index.follow(owned, 0)
    if traced:
        tracemalloc.start()
    rss = _rss_bytes()
    started = time.perf_counter()
    await index.build(owned, store)
    took = time.perf_counter() - started
    if traced:
        held, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    else:
        held = _rss_bytes() - rss
    return index, took, held


def _hot_path(index: ListingIndex, raw: bytes, size: int) -> tuple[float, float]:
    """µs per write the owner spends on the index: built, and for an untracked partition."""
    instance = codec.decode(raw)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        for number in range(HOT_PATH_WRITES):
            target = (number * 7919) % size
            instance.id = f"i-{target:08d}"
            instance.owner_partition = target % PARTITIONS
            instance.lastupdated = 2e9 + number
            index.stored(instance, raw)
        timings.append((time.perf_counter() - started) / HOT_PATH_WRITES * 1e6)
    built = median(timings)
    instance.owner_partition = PARTITIONS  # no index kept for it
    started = time.perf_counter()
    for _ in range(HOT_PATH_WRITES):
        index.stored(instance, raw)
    untracked = (time.perf_counter() - started) / HOT_PATH_WRITES * 1e6
    return built, untracked


async def _measure(
    size: int, raw: bytes, runs: int, scan_max: int, traced_max: int
) -> dict[str, Any]:
    store = _table(raw, size)
    figures: dict[str, Any] = {"instances": size}
    traced = size <= traced_max
    if traced:  # tracing slows the build: its time is read from a build without it
        _index, _took, held = await _build(store, traced=True)
        del _index
    index, took, rss = await _build(store, traced=False)
    held = held if traced else rss
    figures["build_s"] = round(took, 3)
    figures["index_bytes_per_instance"] = round(held / size)
    figures["index_memory"] = "tracemalloc" if size <= traced_max else "rss"
    indexed = LocalInstances(_View(store, index))
    for name, params in QUERIES.items():
        figures[f"indexed_{name}_ms"] = round(await _timed(indexed, params, runs) * 1e3, 2)
    # The newest 1% of the instances by update time: a range walks what lies in it.
    newest = {**QUERIES["first_page"], "updated_after": repr(_updated(raw, size * 0.99))}
    figures["indexed_time_range_1pct_ms"] = round(await _timed(indexed, newest, runs) * 1e3, 2)
    if size <= scan_max:
        scanning = LocalInstances(_View(store, None))
        for name, params in QUERIES.items():
            figures[f"scan_{name}_s"] = round(await _timed(scanning, params, runs), 3)
    built, untracked = _hot_path(index, raw, size)
    figures["write_us"] = round(built, 2)
    figures["write_untracked_us"] = round(untracked, 3)
    return figures


async def main(sizes: list[int], runs: int, scan_max: int, traced_max: int) -> None:
    """Measure every size; record the medians."""
    raw = await _one_stored_instance()
    results = []
    for size in sizes:
        results.append(await _measure(size, raw, runs, scan_max, traced_max))
        print(json.dumps(results[-1]), flush=True)
    summary = "; ".join(
        f"{r['instances']:,}: indexed first page {r['indexed_first_page_ms']} ms, status "
        f"filter {r['indexed_status_filter_ms']} ms, key search {r['indexed_key_search_ms']} ms"
        + (f" (scan {r['scan_first_page_s']} s)" if "scan_first_page_s" in r else "")
        + f", build {r['build_s']} s, {r['index_bytes_per_instance']} B/instance"
        f", write {r['write_us']} µs"
        for r in results
    )
    record(
        "listing",
        {
            "runs": runs,
            "stored_bytes": len(raw),
            "scan_max": scan_max,
            "sizes": results,
        },
        f"listing ({len(raw)} B per instance, median of {runs}): {summary}",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scan-max", type=int, default=100_000, help="largest size whose scan is measured"
    )
    parser.add_argument(
        "--traced-max",
        type=int,
        default=100_000,
        help="largest size whose index memory is traced (RSS growth above it)",
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            [int(size) for size in arguments.sizes.split(",")],
            arguments.runs,
            arguments.scan_max,
            arguments.traced_max,
        )
    )
