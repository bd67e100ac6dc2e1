"""The demo: an embedded broker, a `dagger worker`, and a few hundred workflows end to end.

Usage: ``python -m examples.orders.demo [--orders N] [--pizzas M]``. It starts the
embedded Kafka broker, creates the topics, starts ``dagger worker -A
examples.pizza.workflow`` as a subprocess and the simulated pizza order service in this
process, then submits N order-fulfilment workflows (executor tasks only) and M pizza
workflows (a command to the order service, a listener waiting for READY, a delivery).
It shows progress from the task update topic, prints the final count per workflow and
status, and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from typing import Any

from aiokafka import AIOKafkaConsumer

from dagger.testing import EmbeddedBroker
from examples.pizza.order_service import OrderService

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"}
TOPICS = {
    "orders_demo_tasks": 4,
    "orders_demo_updates": 4,
    "pizza_orders": 4,
    "pizza_status": 4,
    "dagger_dead_letters": 4,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_worker(broker: EmbeddedBroker, log_path: Path, web_port: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "dagger", "worker", "-A", "examples.pizza.workflow",
        "-l", "warning", "--web-port", str(web_port), "--web-bind", "127.0.0.1",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(os.environ, DAGGER_TANSU_COMPAT="1", PYTHONPATH=str(ROOT)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def run(orders: int, pizzas: int, timeout: float, keep_running: bool) -> int:
    """Run the demo; return 0 when every workflow completed."""
    datadir = tempfile.mkdtemp(prefix="dagger-demo-")
    async with EmbeddedBroker() as broker:
        print(f"embedded broker: {broker.url}", flush=True)
        os.environ.update(DAGGER_BROKER=broker.url, ORDERS_DATADIR=datadir)
        await broker.acreate_topics(TOPICS)
        worker_log = Path(datadir) / "worker.log"
        web_port = _free_port()
        api_url = f"http://127.0.0.1:{web_port}"
        worker = _start_worker(broker, worker_log, web_port)
        service = OrderService(
            broker.bootstrap_servers, "pizza_orders", "pizza_status", "pizza-order-service"
        )
        serving = asyncio.create_task(service.run())
        try:
            status = await _drive(broker, orders, pizzas, timeout, worker, worker_log)
            await _show_where_to_look(api_url, broker.url)
            if keep_running:
                await _wait_for_interrupt(worker)
            return status
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()


async def _drive(
    broker: EmbeddedBroker,
    orders: int,
    pizzas: int,
    timeout: float,
    worker: subprocess.Popen[bytes],
    worker_log: Path,
) -> int:
    from examples.pizza.workflow import engine

    fulfilment = engine.get_template("order_fulfilment")
    pizza = engine.get_template("pizza")
    total = orders + pizzas
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
                fulfilment.create_instance(
                    uuid.uuid4(),
                    "order_id",
                    submit_task=True,
                    order_id=f"order-{n:04d}",
                    quantity=1 + n % 3,
                )
                for n in range(orders)
            ),
            *(
                pizza.create_instance(
                    uuid.uuid4(), "order_id", submit_task=True, order_id=f"pizza-{n:04d}"
                )
                for n in range(pizzas)
            ),
        )
        print(
            f"submitted {orders} orders and {pizzas} pizzas in {time.monotonic() - started:.2f}s",
            flush=True,
        )
        latest, first_done = await _follow(updates, total, started, timeout, worker, worker_log)
        elapsed = time.monotonic() - started
        processing = time.monotonic() - (first_done or started)
    finally:
        await updates.stop()
        await engine.faust_app.producer.stop()
    counts = Counter((doc["template"], doc["status"]) for doc in latest.values())
    print(
        "final count per workflow and status:",
        ", ".join(f"{name} {status}={count}" for (name, status), count in sorted(counts.items())),
    )
    print(
        f"{total} workflows in {elapsed:.2f}s from first submit (including the worker's start); "
        f"first to last completion {processing:.2f}s: "
        f"{total / max(processing, 1e-9):.0f} instances/s"
    )
    _print_samples(latest)
    completed = sum(count for (_, status), count in counts.items() if status == "COMPLETED")
    return 0 if completed == total else 1


async def _follow(
    updates: AIOKafkaConsumer,
    total: int,
    started: float,
    timeout: float,
    worker: subprocess.Popen[bytes],
    worker_log: Path,
) -> tuple[dict[str, dict[str, Any]], float | None]:
    latest: dict[str, dict[str, Any]] = {}
    last_report = 0.0
    first_done: float | None = None
    while True:
        for messages in (await updates.getmany(timeout_ms=250)).values():
            for message in messages:
                document = json.loads(message.value)
                latest[document["id"]] = document
        finished = sum(1 for doc in latest.values() if doc["status"] in TERMINAL)
        now = time.monotonic()
        if finished and first_done is None:
            first_done = now
        if now - last_report >= 1.0 or finished == total:
            if finished:
                print(f"  progress: {finished:>4}/{total} finished", flush=True)
            else:
                print(
                    f"  waiting for the worker to join its group ({now - started:.0f}s)", flush=True
                )
            last_report = now
        if finished == total:
            return latest, first_done
        if worker.poll() is not None:
            print(worker_log.read_text()[-2000:], file=sys.stderr)  # noqa: ASYNC240
            raise SystemExit(f"the worker exited with status {worker.returncode}")
        if now - started > timeout:
            raise SystemExit(
                f"only {finished}/{total} finished after {timeout:.0f}s; see {worker_log}"
            )


def _where_to_look(api_url: str, broker_url: str) -> list[tuple[str, list[str]]]:
    return [
        ("five of the instances", ["instances", "list", "--url", api_url, "--limit", "5"]),
        ("the dead letters", ["dlq", "list", "--broker", broker_url]),
    ]


async def _show_where_to_look(api_url: str, broker_url: str) -> None:
    """Print the API's address and the operations commands, and run them once."""
    print(f"\nwhere to look while the worker runs (its HTTP API: {api_url}):")
    print(f"  {api_url}/ui/                       the dashboard: instances, graphs, actions")
    print(f"  {api_url}/tasks/instances?limit=5   the instances, as JSON")
    print(f"  {api_url}/openapi.json              every endpoint")
    for what, arguments in _where_to_look(api_url, broker_url):
        print(f"\n$ dagger {' '.join(arguments)}      # {what}", flush=True)
        shown = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dagger", *arguments, cwd=ROOT
        )
        await shown.wait()


async def _wait_for_interrupt(worker: subprocess.Popen[bytes]) -> None:
    print("\nthe broker and the worker keep running: press Ctrl-C to stop them", flush=True)
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        await asyncio.to_thread(worker.wait)


def _print_samples(latest: dict[str, dict[str, Any]]) -> None:
    for document in latest.values():
        if document["template"] == "order_fulfilment" and document["status"] == "COMPLETED":
            params = document["runtime_parameters"]
            print(
                f"sample {params['order_id']}: amount={params['amount']} "
                f"payment={params['payment_id']} warehouse={params['warehouse']} "
                f"tracking={params['tracking_number']}"
            )
            break
    for document in latest.values():
        if document["template"] == "pizza" and document["status"] == "COMPLETED":
            params = document["runtime_parameters"]
            print(
                f"sample {params['order_id']}: statuses={params['statuses']} "
                f"driver={params['driver']}"
            )
            break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="order-fulfilment workflows")
    parser.add_argument("--pizzas", type=int, default=200, help="pizza workflows")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the broker and the worker up after the run, to try the API and the CLI",
    )
    args = parser.parse_args()
    try:
        return asyncio.run(run(args.orders, args.pizzas, args.timeout, args.keep_running))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
