"""What reading one record costs a worker, by the way it is read (issue 17).

Every record the engine reads (its own topic's events, listener replies, inputs) passes
through faust's per-record path: the consumer's drain loop, the conductor, the agent's
queue and the stream iterator. This measures that path alone, with no engine work, beside
a bare aiokafka loop:

- ``aiokafka``: ``AIOKafkaConsumer.getmany`` and a loop over the records;
- ``faust``: a plain ``faust.App`` agent iterating ``stream.events()``;
- ``engine``: the same agent on the engine's faust app, whose consumer hands a record to
  the agent's queue without tasks (see architecture.md).

Each way runs in a reader process of its own (:mod:`bench._consumer_path_reader`) on a
fresh embedded broker: once it has read a first record, the driver sends ``--records``
small records (about 30 bytes each) and the reader reports its CPU (user + system, every
thread) from the first record to the last. Figures: µs of reader CPU per record and
records per second of wall time, each the median of ``--runs``, the ways alternating in
each run, and each faust way over the bare loop.

Run: ``python -m bench.consumer_path`` (or ``scripts/bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench._common import median, ratio, record, start_module, stop
from bench._consumer_path_reader import WAYS
from bench.original_workload import send_orders
from dagger.testing import EmbeddedBroker

TOPIC = "records"
START_TIMEOUT = 60.0
"""Seconds a reader may take to read its first record (a faust worker joins its group)."""
READ_TIMEOUT = 300.0


async def _wait_for_file(path: Path, timeout: float, log: Path) -> None:
    """Wait up to ``timeout`` for the reader to write ``path`` (its log is ``log``)."""
    deadline = time.monotonic() + timeout
    while not path.exists():  # noqa: ASYNC240 (one stat a tenth of a second)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path.name} after {timeout:.0f} s; see {log}")
        await asyncio.sleep(0.1)


async def measure(way: str, records: int, workdir: Path) -> dict[str, Any]:
    """One reader of ``way`` on a fresh broker: its figures for ``records`` records."""
    directory = workdir / way
    directory.mkdir(parents=True)
    log = directory / "reader.log"
    async with EmbeddedBroker() as broker:
        await broker.acreate_topics({TOPIC: 1})
        arguments = [way, broker.bootstrap_servers, TOPIC, str(records), str(directory)]
        reader = start_module("bench._consumer_path_reader", arguments, {}, log)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5)
        await producer.start()
        try:
            await send_orders(producer, TOPIC, ["order-0"])
            await _wait_for_file(directory / "first", START_TIMEOUT, log)
            await send_orders(producer, TOPIC, [f"order-{n}" for n in range(1, records + 1)])
            await _wait_for_file(directory / "result.json", READ_TIMEOUT, log)
            result: dict[str, Any] = json.loads((directory / "result.json").read_text())
        finally:
            await producer.stop()
            stop(reader)
    return {
        "cpu_us_per_record": result["cpu_s"] / records * 1e6,
        "records_per_s": records / result["wall_s"],
    }


async def main(records: int, runs: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dagger-bench-consumer-path-"))
    results: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
    try:
        for number in range(1, runs + 1):
            for way in WAYS:
                figures = await measure(way, records, workdir / f"run{number}")
                results[way].append(figures)
                print(
                    f"run {number}/{runs} {way:>8}: {figures['cpu_us_per_record']:7.1f} µs "
                    f"of CPU per record, {figures['records_per_s']:8.0f} records/s",
                    flush=True,
                )
    except BaseException:
        print(f"the run failed; the readers' logs are in {workdir}")
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        f"{way}_{key}": median([run[key] for run in results[way]])
        for way in WAYS
        for key in ("cpu_us_per_record", "records_per_s")
    }
    bare = summary["aiokafka_cpu_us_per_record"]
    ratios = {
        f"{way}_to_aiokafka_cpu": ratio(summary[f"{way}_cpu_us_per_record"], bare)
        for way in ("faust", "engine")
    }
    lines = [
        f"{way:>8}: {summary[f'{way}_cpu_us_per_record']:.1f} µs of CPU per record, "
        f"{summary[f'{way}_records_per_s']:.0f} records/s"
        for way in WAYS
    ]
    lines += [f"{name} = {value:.1f}" for name, value in ratios.items()]
    lines.append(f"({records:,} records per run, median of {runs})")
    record(
        "consumer_path",
        {"records": records, "runs": runs, **summary, **ratios},
        "\n".join(lines),
    )


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="what reading one record costs, by way")
    parser.add_argument("--records", type=_positive, default=30_000)
    parser.add_argument("--runs", type=_positive, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.records, arguments.runs))
