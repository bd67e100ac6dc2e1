"""A faust worker whose table changelog is written in multi-record batches (test helper).

Usage: python _faust_table_app.py write|recover BROKER_URL APP_ID RESULT_PATH

`write` copies every record of the `APP_ID-updates` topic into the table, then writes the
number of records applied to RESULT_PATH. `recover` leaves the table alone, waits for the
table's changelog recovery to finish, then writes the table's contents to RESULT_PATH as
JSON. The worker runs until it gets SIGTERM.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator

from dagger.broker._tansu_compat import apply_if_requested

apply_if_requested()

import faust  # noqa: E402

mode, broker_url, app_id, result_path = sys.argv[1:5]

app = faust.App(
    app_id,
    broker=broker_url,
    store="memory://",
    web_enabled=False,
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    topic_partitions=1,
    table_standby_replicas=0,
    key_serializer="json",
    value_serializer="json",
    # Lingering makes the producer put all the table's changelog writes in one record batch.
    producer_linger=0.5,
)
updates = app.topic(
    f"{app_id}-updates",
    key_type=str,
    value_type=int,
    partitions=1,
)
table = app.Table(
    "values",
    default=int,
    key_type=str,
    value_type=int,
    partitions=1,
)


def _write_result(payload: object) -> None:
    temporary = f"{result_path}.tmp"
    with open(temporary, "w") as result:
        json.dump(payload, result)
    os.replace(temporary, result_path)


@app.agent(updates)
async def copy_updates(stream: AsyncIterator[tuple[str, int]]) -> None:
    applied = 0
    async for key, value in stream.items():  # type: ignore[attr-defined]
        if mode == "write":
            table[key] = value
            applied += 1
            _write_result(applied)


if mode == "recover":

    @app.task
    async def dump_table() -> None:
        await app.tables.recovery.completed.wait()
        _write_result(dict(table.items()))


if __name__ == "__main__":
    faust.Worker(app, loglevel="INFO").execute_from_commandline()
