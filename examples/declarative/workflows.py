"""The engine of the declarative examples and the functions their ``call`` stages run.

The three examples are YAML files beside this module (``daily_etl.yaml``, with the
child workflow ``etl-publish`` it triggers, ``order_saga.yaml``, ``rollout.yaml``),
loaded by ``Dagger(workflows=[...])``. The functions stand in for real work: they
compute their outputs instead of calling out.
Run them in memory with ``python -m examples.declarative.demo``, or on Kafka with
``dagger worker -A examples.declarative.workflows``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import dagger.declarative
from dagger.service.services import Dagger

HERE = Path(__file__).resolve().parent


def _id(*parts: Any) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8]


@dagger.declarative.task("extract-table")
def extract_table(table: str, day: str, limit: int) -> dict[str, Any]:
    """Pretend to extract ``limit`` rows of ``table`` for ``day`` to a file."""
    return {"path": f"/tmp/etl/{day}/{table}.parquet", "rows": limit}


@dagger.declarative.task("join-tables")
async def join_tables(paths: list[str]) -> dict[str, Any]:
    """Pretend to join the extracts (an async function works the same)."""
    return {"path": paths[0].replace(".parquet", "-joined.parquet"), "rows": 900 * len(paths)}


@dagger.declarative.task("load-table")
def load_table(path: str, target: str) -> dict[str, Any]:
    """Pretend to load a file into a table."""
    return {"loaded": path, "into": target}


@dagger.declarative.task("count-rows")
def count_rows(table: str) -> dict[str, Any]:
    """Pretend to count a table's rows."""
    return {"table": table, "rows": len(table) * 100}


@dagger.declarative.task("publish-dataset")
def publish_dataset(table: str, day: str) -> dict[str, Any]:
    """Pretend to publish a table as the dataset of ``day``."""
    return {"dataset": f"{table}@{day}"}


@dagger.declarative.task("remove-files")
def remove_files(prefix: str) -> dict[str, Any]:
    """Pretend to remove the day's temporary files."""
    return {"removed": prefix}


@dagger.declarative.task("reserve-stock")
def reserve_stock(order_id: str) -> dict[str, Any]:
    """Reserve the order's items; the reservation's id goes to the later jobs."""
    return {"reservation": f"res-{_id(order_id)}"}


@dagger.declarative.task("ship-order")
def ship_order(order_id: str) -> dict[str, Any]:
    """Hand the order to a carrier."""
    return {"tracking": f"TRK-{_id('ship', order_id)}"}


@dagger.declarative.task("release-stock")
def release_stock(reservation: str) -> dict[str, Any]:
    """Give a reservation back (the saga's compensation)."""
    return {"released": reservation}


@dagger.declarative.task("create-resource")
def create_resource(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Pretend to create a cloud resource; its id and address are its outputs."""
    return {"id": f"{kind}-{_id(kind, name)}", "address": f"{name}.internal:443", "spec": spec}


@dagger.declarative.task("smoke-test")
def smoke_test(url: str) -> dict[str, Any]:
    """Pretend to call the new service."""
    return {"url": url, "ok": True}


# daily_etl.yaml reads ${WAREHOUSE} when it loads; the example gives it a value.
os.environ.setdefault("WAREHOUSE", "bkk")

engine = Dagger(
    application_name="declarative-examples",
    store="memory://",
    # daily-etl's trigger stage waits for its child's end on the task update topic.
    task_update_topic="declarative-examples-updates",
    workflows=[str(HERE / "*.yaml")],
)
