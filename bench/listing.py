"""What a page of the instance listing costs as the instance table grows (docs/dashboard.md).

``python -m bench.listing [--sizes 10000,50000] [--runs 3]``: one worker's listing
(:meth:`dagger.web._local.LocalInstances.window`, what ``GET /tasks/instances`` and the
dashboard run on every worker) over an in-memory table of N stored instances (copies of
one completed 1-step instance, under N ids), for the dashboard's first page (25, newest
update first), a status filter and a partition-key search. No broker, no HTTP: the scan
alone. Prints the median time of each per size and the cost per stored instance, which
says what a million would cost; appends one line to bench/results/results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Any

from bench._common import median, record
from bench._workflows import ONE_STEP, build_templates
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._local import LocalInstances
from dagger.web._query import parse_list_query

QUERIES = {
    "first_page": {"order": "updated", "limit": "25"},
    "status_filter": {"order": "updated", "limit": "25", "status": "FAILURE"},
    "key_search": {"order": "updated", "limit": "25", "partition_key": "nobody"},
}


class _View:
    def __init__(self, store: Mapping[bytes, bytes]) -> None:
        self._store = store

    def store(self) -> Mapping[bytes, bytes]:
        return self._store

    def owned_partitions(self) -> frozenset[int]:
        return frozenset(range(4))

    def is_ready(self) -> bool:
        return True

    def listing_index(self) -> None:
        return None

    def ownership_generation(self) -> int:
        return 0


async def _one_stored_instance() -> bytes:
    engine = Dagger(
        broker="kafka://127.0.0.1:9",
        store="memory://",
        application_name="bench-listing",
        kafka_partitions=4,
        tasks_topic="bench-listing-tasks",
    )
    template = build_templates(engine, "bench-orders", "bench-ready")[ONE_STEP]
    engine.template_dags[ONE_STEP] = template
    async with LocalEngine(engine) as local:
        await template.create_instance("sample", "order_id", order_id="o-1", submit_task=True)
        return bytes(local.store[b"sample"])


async def _measure(size: int, raw: bytes, runs: int) -> dict[str, Any]:
    store = {f"i-{number:08d}".encode(): raw for number in range(size)}
    local = LocalInstances(_View(store))
    figures: dict[str, Any] = {"instances": size}
    for name, params in QUERIES.items():
        query = parse_list_query(params)
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            await local.window(query)
            timings.append(time.perf_counter() - started)
        figures[f"{name}_s"] = round(median(timings), 3)
        figures[f"{name}_us_per_instance"] = round(median(timings) / size * 1e6, 2)
    return figures


async def main(sizes: list[int], runs: int) -> None:
    """Measure every size; record the medians."""
    raw = await _one_stored_instance()
    results = [await _measure(size, raw, runs) for size in sizes]
    largest = results[-1]
    projected = largest["first_page_us_per_instance"] * 1_000_000 / 1e6
    summary = "; ".join(
        f"{r['instances']:,}: first page {r['first_page_s']} s, status filter "
        f"{r['status_filter_s']} s, key search {r['key_search_s']} s"
        for r in results
    )
    record(
        "listing",
        {
            "runs": runs,
            "stored_bytes": len(raw),
            "sizes": results,
            "first_page_1m_projected_s": round(projected, 1),
        },
        f"listing scan ({len(raw)} B per instance, median of {runs}): {summary}; "
        f"a first page at 1,000,000 ~ {projected:.1f} s per worker",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main([int(size) for size in arguments.sizes.split(",")], arguments.runs))
