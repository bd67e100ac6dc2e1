"""Worker subprocesses, isolated scenarios and an update-topic reader for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from integration_tests.apps.orders_workflow import build_orders_template

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_MODULE = "integration_tests.apps.orders_app"
TERMINAL = frozenset({"COMPLETED", "FAILURE", "SKIPPED", "STOPPED"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def worker_command(module: str = APP_MODULE) -> list[str]:
    """The `dagger worker` command line, with its web server on a free loopback port."""
    return [
        sys.executable,
        "-m",
        "dagger",
        "worker",
        "-A",
        module,
        "-l",
        "info",
        "--web-port",
        str(free_port()),
        "--web-bind",
        "127.0.0.1",
    ]


@dataclass
class Scenario:
    """The topics, consumer group and store of one test, isolated from the others."""

    tmp_path: Path
    store: str = "memory://"
    partitions: int = 4
    task_sleep: float = 0.0
    max_concurrent_hooks: int | None = None
    trigger_interval: float = 0.25
    # DAGGER_TANSU_COMPAT for the workers; None leaves it unset (the worker recognises
    # the embedded broker by itself).
    tansu_compat: str | None = "1"
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def app_id(self) -> str:
        return f"it-{self.name}"

    @property
    def tasks_topic(self) -> str:
        return f"tasks-{self.name}"

    @property
    def update_topic(self) -> str:
        return f"updates-{self.name}"

    @property
    def requests_topic(self) -> str:
        return f"requests-{self.name}"

    @property
    def listen_topic(self) -> str:
        return f"listen-a-{self.name}"

    @property
    def listen_topic_b(self) -> str:
        return f"listen-b-{self.name}"

    @property
    def dead_letter_topic(self) -> str:
        return f"dead-letters-{self.name}"

    @property
    def pizza_orders_topic(self) -> str:
        return f"pizza-orders-{self.name}"

    @property
    def pizza_status_topic(self) -> str:
        return f"pizza-status-{self.name}"

    @property
    def intake_topic(self) -> str:
        return f"intake-{self.name}"

    @property
    def hook_spans(self) -> Path:
        return self.tmp_path / "hook-spans.log"

    @property
    def exec_log(self) -> Path:
        return self.tmp_path / "executions.log"

    def topics(self) -> dict[str, int]:
        return {
            self.tasks_topic: self.partitions,
            self.update_topic: self.partitions,
            self.requests_topic: 1,
            self.listen_topic: 2,
            self.listen_topic_b: 2,
            self.dead_letter_topic: self.partitions,
            self.intake_topic: self.partitions,
            self.pizza_orders_topic: 2,
            self.pizza_status_topic: 2,
        }

    def env(self, broker: EmbeddedBroker, worker_name: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k != "DAGGER_TANSU_COMPAT"}
        if self.tansu_compat is not None:
            base["DAGGER_TANSU_COMPAT"] = self.tansu_compat
        return dict(
            base,
            PYTHONPATH=str(REPO_ROOT),
            DAGGER_BROKER=broker.url,
            TEST_APP_ID=self.app_id,
            TEST_STORE=self.store,
            TEST_DATADIR=str(self.tmp_path / f"data-{worker_name}"),
            TEST_PARTITIONS=str(self.partitions),
            TEST_TASKS_TOPIC=self.tasks_topic,
            TEST_UPDATE_TOPIC=self.update_topic,
            TEST_REQUESTS_TOPIC=self.requests_topic,
            TEST_EXEC_LOG=str(self.exec_log),
            TEST_TASK_SLEEP=str(self.task_sleep),
            TEST_HOOK_SPANS=str(self.hook_spans),
            TEST_MAX_CONCURRENT_HOOKS=str(self.max_concurrent_hooks or ""),
            TEST_TRIGGER_INTERVAL=str(self.trigger_interval),
            TEST_LISTEN_TOPIC=self.listen_topic,
            TEST_LISTEN_TOPIC_B=self.listen_topic_b,
            TEST_DEAD_LETTER_TOPIC=self.dead_letter_topic,
            TEST_INTAKE_TOPIC=self.intake_topic,
            ORDERS_APP_ID=self.app_id,
            ORDERS_STORE=self.store,
            ORDERS_DATADIR=str(self.tmp_path / f"data-{worker_name}"),
            ORDERS_TASKS_TOPIC=self.tasks_topic,
            ORDERS_UPDATES_TOPIC=self.update_topic,
            ORDERS_DEAD_LETTER_TOPIC=self.dead_letter_topic,
            PIZZA_ORDERS_TOPIC=self.pizza_orders_topic,
            PIZZA_STATUS_TOPIC=self.pizza_status_topic,
        )

    def most_hooks_at_once(self) -> int:
        """The most executor hooks that were between their begin and their end at once."""
        awaiting = most = 0
        for line in self.hook_spans.read_text().splitlines():
            awaiting += 1 if line.startswith("begin ") else -1
            most = max(most, awaiting)
        return most

    def executions(self) -> dict[tuple[str, str], list[int]]:
        """(instance id, task name) -> pids of every execute that ran."""
        runs: dict[tuple[str, str], list[int]] = {}
        if self.exec_log.exists():
            for line in self.exec_log.read_text().splitlines():
                instance_id, task, pid = line.split()
                runs.setdefault((instance_id, task), []).append(int(pid))
        return runs

    async def wait_for_runs(self, count: int, timeout: float) -> None:
        """Wait until ``count`` distinct (instance, task) pairs have started ``execute``.

        The execution log is written by the worker's hooks themselves, so this sees
        progress as it happens, with no lag of a topic reader in between.
        """
        deadline = time.monotonic() + timeout
        while len(self.executions()) < count:
            assert time.monotonic() < deadline, f"{len(self.executions())} of {count} ran"
            await asyncio.sleep(0.05)


class WorkerProcess:
    """A `dagger worker` subprocess, ended by its pid when the test ends."""

    def __init__(
        self, scenario: Scenario, broker: EmbeddedBroker, name: str, module: str = APP_MODULE
    ) -> None:
        self.log_path = scenario.tmp_path / f"worker-{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            worker_command(module),
            cwd=REPO_ROOT,
            env=scenario.env(broker, name),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "[^Worker]: Ready" in self.log_text():
                return
            if self.process.poll() is not None:
                raise AssertionError(
                    f"worker exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
                )
            await asyncio.sleep(0.2)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.log_text()[-3000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        terminate(self.process)
        self._log.close()


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a subprocess this test started, and SIGKILL it if it is not gone in 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextlib.asynccontextmanager
async def workers(
    scenario: Scenario, broker: EmbeddedBroker
) -> AsyncIterator[Callable[[str], WorkerProcess]]:
    """Yield a function that starts named workers; every one is stopped at exit."""
    started: list[WorkerProcess] = []

    def start(name: str, module: str = APP_MODULE) -> WorkerProcess:
        worker = WorkerProcess(scenario, broker, name, module)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@contextlib.asynccontextmanager
async def client(
    scenario: Scenario,
    broker: EmbeddedBroker,
    build: Callable[[Dagger], Any] = build_orders_template,
) -> AsyncIterator[Any]:
    """Yield what ``build`` makes on an engine that only sends (it runs no worker)."""
    engine = Dagger(
        broker=broker.url,
        store="memory://",
        application_name=f"{scenario.app_id}-client",
        kafka_partitions=scenario.partitions,
        tasks_topic=scenario.tasks_topic,
    )
    try:
        yield build(engine)
    finally:
        await engine.faust_app.producer.stop()


async def send_messages(
    broker: EmbeddedBroker,
    topic: str,
    messages: list[tuple[Any, dict[str, bytes] | None]],
) -> None:
    """Send ``(value, headers)`` pairs; values that are not bytes are sent as JSON."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for value, headers in messages:
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            await producer.send(topic, raw, headers=list((headers or {}).items()))
        await producer.flush()
    finally:
        await producer.stop()


async def read_topic(broker: EmbeddedBroker, topic: str, settle: float = 1.0) -> list[Any]:
    """Read every record of ``topic`` from the start until none arrives for ``settle`` seconds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                records.extend(messages)
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()
    return records


async def index_entries(broker: EmbeddedBroker, scenario: Scenario) -> dict[str, list[list[Any]]]:
    """The worker's correlation index, rebuilt from its changelog: key -> entries.

    A key with no entry left is not in it (its head record may stay a while, remembering
    the messages it delivered: see ``dagger.runtime._keys_owner``).
    """
    changelog = f"{scenario.app_id}-dagger_correlation-changelog"
    state: dict[str, list[list[Any]]] = {}
    for record in await read_topic(broker, changelog, settle=0.5):
        key = record.key.decode()
        entries = None if record.value is None else json.loads(record.value)["l"]
        if entries:
            state[key] = entries
        else:
            state.pop(key, None)
    return state


async def send_requests(broker: EmbeddedBroker, topic: str, requests: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for request in requests:
            await producer.send(topic, json.dumps(request).encode())
        await producer.flush()
    finally:
        await producer.stop()


class Updates:
    """Reads the task update topic; keeps the latest document of every instance."""

    def __init__(self, broker: EmbeddedBroker, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
        )
        self.latest: dict[str, dict[str, Any]] = {}
        self.received = 0

    async def __aenter__(self) -> Updates:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    def finished(self) -> dict[str, dict[str, Any]]:
        return {key: doc for key, doc in self.latest.items() if doc["status"] in TERMINAL}

    async def poll(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200)
        for messages in batches.values():
            for message in messages:
                document = json.loads(message.value)
                self.latest[document["id"]] = document
                self.received += 1

    async def wait_until(self, done: Callable[[Updates], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            if time.monotonic() > deadline:
                counts = Counter(doc["status"] for doc in self.latest.values())
                unfinished = [
                    {
                        "id": doc["id"],
                        "status": doc["status"],
                        "tasks": {task["name"]: task["status"] for task in doc["tasks"]},
                        "parameters": doc["runtime_parameters"],
                    }
                    for doc in self.latest.values()
                    if doc["status"] not in TERMINAL
                ]
                raise AssertionError(
                    f"timed out waiting for {what}; seen {len(self.latest)} instances, "
                    f"{dict(counts)}; unfinished (first 5): {unfinished[:5]}"
                )
            await self.poll()

    async def wait_finished(self, count: int, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        await self.wait_until(
            lambda u: len(u.finished()) >= count, timeout, f"{count} finished instances"
        )
        return self.finished()
