"""A reader process for :mod:`bench.consumer_path`: counts a topic's records one way.

``python -m bench._consumer_path_reader WAY BOOTSTRAP TOPIC COUNT WORKDIR``, where
``WAY`` is

- ``aiokafka``: a bare ``AIOKafkaConsumer.getmany`` loop;
- ``faust``: a plain ``faust.App`` agent iterating ``stream.events()``;
- ``engine``: the same agent on the engine's faust app
  (:class:`dagger._faust_internals.EngineFaustApp`, its consumer's hand-over included).

It writes ``WORKDIR/first`` when it has read the first record (the driver then sends the
measured ones) and, after ``COUNT`` more, ``WORKDIR/result.json``: the process's CPU
seconds (user + system, every thread) and wall seconds from the first record to the last.
A faust worker keeps its data directory in ``WORKDIR`` too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import cpu_seconds
from dagger.broker._tansu_compat import apply_if_requested

WAYS = ("aiokafka", "faust", "engine")


class Counter:
    """Counts records; reports once the last one is read, and ends the process."""

    def __init__(self, way: str, count: int, workdir: Path) -> None:
        self._way = way
        self._workdir = workdir
        self._last = count + 1  # the first record, then the measured ones
        self._seen = 0
        self._cpu = 0.0
        self._wall = 0.0

    def seen(self) -> None:
        self._seen += 1
        if self._seen == 1:
            self._cpu, self._wall = cpu_seconds(os.getpid()), time.monotonic()
            (self._workdir / "first").touch()
        elif self._seen == self._last:
            figures = {
                "way": self._way,
                "records": self._last - 1,
                "cpu_s": cpu_seconds(os.getpid()) - self._cpu,
                "wall_s": time.monotonic() - self._wall,
            }
            (self._workdir / "result.json").write_text(json.dumps(figures))
            os._exit(0)  # a faust worker's shutdown is not what is measured


async def _read_with_aiokafka(bootstrap: str, topic: str, counter: Counter) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id="bench-consumer-path",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,  # the engine's default consumer_fetch_max_wait
    )
    await consumer.start()
    while True:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for _record in records:
                counter.seen()


def _faust_app(way: str, bootstrap: str, workdir: Path) -> Any:
    import faust

    settings: dict[str, Any] = {
        "broker": f"kafka://{bootstrap}",
        "topic_partitions": 1,
        "web_enabled": False,
        "consumer_auto_offset_reset": "earliest",
        "store": "memory://",
        "datadir": str(workdir / "data"),
    }
    if way == "engine":
        from dagger._faust_internals import EngineFaustApp

        return EngineFaustApp(f"bench-{way}", consumer_fetch_max_wait=0.05, **settings)
    return faust.App(f"bench-{way}", **settings)  # its fetch wait is faust's own 1.5 s


def main(way: str, bootstrap: str, topic: str, count: int, workdir: Path) -> None:
    apply_if_requested()
    counter = Counter(way, count, workdir)
    if way == "aiokafka":
        asyncio.run(_read_with_aiokafka(bootstrap, topic, counter))
        return
    app = _faust_app(way, bootstrap, workdir)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")

    async def count_records(stream: Any) -> None:
        async for _event in stream.events():
            counter.seen()

    app.agent(source, name="count_records")(count_records)
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] not in WAYS:
        sys.exit(f"usage: python -m bench._consumer_path_reader {{{','.join(WAYS)}}} "
                 "BOOTSTRAP TOPIC COUNT WORKDIR")  # fmt: skip
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
