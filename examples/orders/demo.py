"""The demo: an embedded broker, a `dagger worker` and a few hundred orders, end to end.

Usage: ``python -m examples.orders.demo [--orders N]``. It starts the embedded Kafka
broker, creates the engine's topics, starts ``dagger worker -A examples.orders.workflow``
as a subprocess, submits N order workflows, shows progress from the task update topic,
prints the final count per status, and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from dagger.testing import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run(orders: int, timeout: float) -> int:
    datadir = tempfile.mkdtemp(prefix="dagger-demo-")
    async with EmbeddedBroker() as broker:
        print(f"embedded broker: {broker.url}", flush=True)
        os.environ.update(DAGGER_BROKER=broker.url, ORDERS_DATADIR=datadir)
        await broker.acreate_topics({"orders_demo_tasks": 4, "orders_demo_updates": 4})
        worker_log = Path(datadir) / "worker.log"
        with open(worker_log, "wb") as log:  # noqa: ASYNC230 - once, at startup
            worker = subprocess.Popen(  # noqa: ASYNC220 - the worker runs on its own
                [
                    sys.executable,
                    "-m",
                    "dagger",
                    "worker",
                    "-A",
                    "examples.orders.workflow",
                    "-l",
                    "warning",
                    "--web-port",
                    str(_free_port()),
                    "--web-bind",
                    "127.0.0.1",
                ],
                cwd=ROOT,
                env=dict(os.environ, DAGGER_TANSU_COMPAT="1", PYTHONPATH=str(ROOT)),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            return await _drive(broker, orders, timeout, worker, worker_log)
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()


async def _drive(
    broker: EmbeddedBroker,
    orders: int,
    timeout: float,
    worker: subprocess.Popen[bytes],
    worker_log: Path,
) -> int:
    from examples.orders.workflow import engine

    template = engine.get_template("order_fulfilment")
    updates = AIOKafkaConsumer(
        "orders_demo_updates",
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await updates.start()
    try:
        started = time.monotonic()
        await asyncio.gather(
            *(
                template.create_instance(
                    uuid.uuid4(),
                    "order_id",
                    submit_task=True,
                    order_id=f"order-{n:04d}",
                    quantity=1 + n % 3,
                )
                for n in range(orders)
            )
        )
        print(
            f"submitted {orders} orders in {time.monotonic() - started:.2f}s; "
            "waiting for the worker",
            flush=True,
        )
        latest: dict[str, dict] = {}
        last_report = 0.0
        first_done = None
        while True:
            batches = await updates.getmany(timeout_ms=250)
            for messages in batches.values():
                for message in messages:
                    document = json.loads(message.value)
                    latest[document["id"]] = document
            finished = [doc for doc in latest.values() if doc["status"] in TERMINAL]
            if finished and first_done is None:
                first_done = time.monotonic()
            now = time.monotonic()
            if now - last_report >= 1.0 or len(finished) == orders:
                if finished:
                    print(f"  progress: {len(finished):>4}/{orders} finished", flush=True)
                else:
                    print(
                        f"  waiting for the worker to join its group ({now - started:.0f}s)",
                        flush=True,
                    )
                last_report = now
            if len(finished) == orders:
                break
            if worker.poll() is not None:
                print(worker_log.read_text()[-2000:], file=sys.stderr)  # noqa: ASYNC240
                raise SystemExit(f"the worker exited with status {worker.returncode}")
            if now - started > timeout:
                raise SystemExit(
                    f"only {len(finished)}/{orders} finished after {timeout:.0f}s; see {worker_log}"
                )
        elapsed = time.monotonic() - started
        processing = time.monotonic() - (first_done or started)
    finally:
        await updates.stop()
        await engine.faust_app.producer.stop()
    counts = Counter(doc["status"] for doc in latest.values())
    sample = next(doc for doc in latest.values() if doc["status"] == "COMPLETED")
    print(
        "final count per status:",
        ", ".join(f"{status}={count}" for status, count in sorted(counts.items())),
    )
    print(
        f"{orders} workflows in {elapsed:.2f}s from first submit (including the worker's start); "
        f"first to last completion {processing:.2f}s: "
        f"{orders / max(processing, 1e-9):.0f} instances/s"
    )
    params = sample["runtime_parameters"]
    print(
        f"sample {params['order_id']}: amount={params['amount']} payment={params['payment_id']} "
        f"warehouse={params['warehouse']} tracking={params['tracking_number']}"
    )
    return 0 if counts.get("COMPLETED") == orders else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    return asyncio.run(run(args.orders, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
