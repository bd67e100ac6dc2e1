"""What waiting for child workflows costs a worker that sees every instance's updates.

``python -m bench.trigger_updates [--documents 2000] [--runs 5]``: an engine that has a
``trigger`` stage loaded listens on its own task update topic, so each of its workers
reads every update document of every instance, decodes it and asks the trigger's
listener for keys; only a child's final document yields one (docs/declarative.md). This
measures that reading for documents that are not a child's (the common case), against
what the owner already spends to write each document (``update_document`` + ``dumps``).
No broker: the listener router of a LocalEngine, fed the bytes the broker would carry.
Prints the median cost per document of each and their ratio; appends one line to
bench/results/results.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._common import median, record
from dagger.core._codec import dumps
from dagger.runtime._updates import update_document
from dagger.service.services import Dagger
from dagger.testing import LocalEngine

UPDATES = "bench-trigger-updates"


def _engine(folder: Path) -> Dagger:
    from examples.declarative import workflows  # registers the examples' functions

    path = folder / "etl.yaml"
    path.write_text((workflows.HERE / "daily_etl.yaml").read_text(), encoding="utf-8")
    return Dagger(
        broker="kafka://127.0.0.1:9",
        store="memory://",
        application_name="bench-trigger",
        task_update_topic=UPDATES,
        workflows=[str(path)],
    )


async def _measure(documents: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        engine = _engine(Path(folder))
        async with LocalEngine(engine, start=1_800_000_000.0) as local:
            params: dict[str, Any] = {"run-date": dt.date(2027, 1, 31)}
            etl = await engine.get_template("daily-etl").create_instance(
                uuid.uuid4(), submit_task=True, **params
            )
            instance = local.get_instance(etl.id)
            assert instance is not None and instance.status.code == "COMPLETED"
            raw = dumps(update_document(instance))
            started = time.perf_counter()
            for _ in range(documents):
                dumps(update_document(instance))
            written = (time.perf_counter() - started) / documents
            router = local._listeners
            started = time.perf_counter()
            for offset in range(documents):
                origin = {"topic": UPDATES, "partition": 0, "offset": offset}
                keys = await router.route(UPDATES, raw, origin, None)
                assert keys == 0  # the parent's document: no child waits for it
            read = (time.perf_counter() - started) / documents
    return {"bytes": len(raw), "write_us": written * 1e6, "read_us": read * 1e6}


def main() -> None:
    """Run the measurement ``--runs`` times and record the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [asyncio.run(_measure(args.documents)) for _ in range(args.runs)]
    read = median([run["read_us"] for run in runs])
    write = median([run["write_us"] for run in runs])
    figures = {
        "documents": args.documents,
        "runs": args.runs,
        "document_bytes": runs[0]["bytes"],
        "read_us_median": round(read, 1),
        "write_us_median": round(write, 1),
        "read_to_write": round(read / write, 2),
    }
    record(
        "trigger_updates",
        figures,
        f"a {runs[0]['bytes']}-byte update document: read by the trigger listener in "
        f"{read:.1f} us, written by the owner in {write:.1f} us (ratio {read / write:.2f})",
    )


if __name__ == "__main__":
    main()
