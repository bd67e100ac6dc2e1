"""The Tansu end-offset correction is needed, and it works (aiokafka and faust recovery)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dagger.broker._tansu_compat import (
    ENV_VAR,
    apply_if_requested,
    install_offset_correction,
    offset_correction_installed,
    uninstall_offset_correction,
)
from dagger.testing import EmbeddedBroker

pytestmark = pytest.mark.integration

APP_SCRIPT = Path(__file__).with_name("_faust_table_app.py")
BATCH_RECORDS = 5
TABLE_UPDATES = 20
WORKER_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0
LOG_TAIL_CHARS = 3000


@contextlib.contextmanager
def correction_removed() -> Iterator[None]:
    """Remove the correction for the block, whoever installed it, then put it back."""
    released = 0
    while offset_correction_installed():
        uninstall_offset_correction()
        released += 1
    try:
        yield
    finally:
        for _ in range(released):
            install_offset_correction()


@contextlib.asynccontextmanager
async def offsets_consumer(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def end_offset(broker: EmbeddedBroker, tp: TopicPartition) -> int:
    async with offsets_consumer(broker) as consumer:
        offsets: dict[TopicPartition, int] = await consumer.end_offsets([tp])
        return offsets[tp]


async def produce_one_batch(broker: EmbeddedBroker, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        batch = producer.create_batch()
        for index in range(count):
            assert batch.append(key=None, value=b"record-%d" % index, timestamp=None)
        batch.close()
        delivery = await producer.send_batch(batch, topic, partition=0)
        await delivery
    finally:
        await producer.stop()


def test_correction_install_is_refcounted() -> None:
    with correction_removed():
        install_offset_correction()
        install_offset_correction()
        uninstall_offset_correction()
        assert offset_correction_installed()
        uninstall_offset_correction()
        assert not offset_correction_installed()
        uninstall_offset_correction()
        assert not offset_correction_installed()


def test_apply_if_requested_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with correction_removed():
        monkeypatch.delenv(ENV_VAR, raising=False)
        assert apply_if_requested() is False
        assert not offset_correction_installed()
        monkeypatch.setenv(ENV_VAR, "0")
        assert apply_if_requested() is False
        assert not offset_correction_installed()
        monkeypatch.setenv(ENV_VAR, "true")
        assert apply_if_requested() is True
        assert apply_if_requested() is True
        assert offset_correction_installed()
        uninstall_offset_correction()
        assert not offset_correction_installed()


async def test_end_offsets_are_too_low_without_the_correction(broker: EmbeddedBroker) -> None:
    topic = f"one-batch-{uuid.uuid4().hex}"
    tp = TopicPartition(topic, 0)
    await broker.acreate_topics({topic: 1})
    await produce_one_batch(broker, topic, BATCH_RECORDS)

    with correction_removed():
        assert await end_offset(broker, tp) < BATCH_RECORDS

    assert offset_correction_installed()
    assert await end_offset(broker, tp) == BATCH_RECORDS


async def test_seek_to_end_is_corrected(broker: EmbeddedBroker) -> None:
    topic = f"seek-end-{uuid.uuid4().hex}"
    tp = TopicPartition(topic, 0)
    await broker.acreate_topics({topic: 1})
    await produce_one_batch(broker, topic, BATCH_RECORDS)

    async with offsets_consumer(broker) as consumer:
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        assert await consumer.position(tp) == BATCH_RECORDS
        assert await consumer.end_offsets([tp]) == {tp: BATCH_RECORDS}


async def test_empty_and_single_record_partitions_are_unchanged(broker: EmbeddedBroker) -> None:
    topic = f"small-{uuid.uuid4().hex}"
    await broker.acreate_topics({topic: 2})
    await produce_one_batch(broker, topic, 1)

    async with offsets_consumer(broker) as consumer:
        offsets = await consumer.end_offsets([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        assert offsets == {TopicPartition(topic, 0): 1, TopicPartition(topic, 1): 0}
        assert await consumer.beginning_offsets([TopicPartition(topic, 0)]) == {
            TopicPartition(topic, 0): 0
        }


async def test_faust_table_recovery_needs_and_gets_every_update(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    app_id = f"recovery-{uuid.uuid4().hex[:12]}"
    changelog = TopicPartition(f"{app_id}-values-changelog", 0)
    await broker.acreate_topics(
        {f"{app_id}-updates": 1, changelog.topic: 1, f"{app_id}-__assignor-__leader": 1}
    )
    expected = {f"key-{index}": index * 7 for index in range(TABLE_UPDATES)}
    await produce_updates(broker, f"{app_id}-updates", expected)

    with faust_worker("write", broker, app_id, tmp_path, compat=True) as writer:
        await writer.wait_for_result(lambda applied: applied == TABLE_UPDATES)
        await writer.wait_until(lambda: end_offset(broker, changelog), TABLE_UPDATES)
        writer.stop()

    # The changelog really holds multi-record batches: the broker's own end offset is low.
    with correction_removed():
        assert await end_offset(broker, changelog) < TABLE_UPDATES

    with faust_worker("recover", broker, app_id, tmp_path, compat=False) as uncorrected:
        lossy = await uncorrected.wait_for_result(lambda _: True)
        uncorrected.stop()
    assert len(lossy) < TABLE_UPDATES
    assert lossy.items() <= expected.items()

    with faust_worker("recover", broker, app_id, tmp_path, compat=True) as corrected:
        table = await corrected.wait_for_result(lambda _: True)
        corrected.stop()
    assert table == expected


async def produce_updates(broker: EmbeddedBroker, topic: str, updates: dict[str, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        for key, value in updates.items():
            await producer.send(topic, json.dumps(value).encode(), key=json.dumps(key).encode())
        await producer.flush()
    finally:
        await producer.stop()


@dataclasses.dataclass
class FaustWorker:
    """A faust test app running in a subprocess, with its log and result files."""

    proc: subprocess.Popen[bytes]
    log: Path
    result: Path

    async def wait_for_result(self, done: Callable[[Any], bool]) -> Any:
        """Return the JSON the worker wrote to its result file once `done(result)` holds."""
        deadline = time.monotonic() + WORKER_TIMEOUT
        while time.monotonic() < deadline:
            self.check_alive()
            if self.result.exists():
                result = json.loads(self.result.read_text())
                if done(result):
                    return result
            await asyncio.sleep(0.1)
        self.fail(f"no final result in {self.result.name} after {WORKER_TIMEOUT:g} s")

    async def wait_until(self, probe: Callable[[], Awaitable[int]], expected: int) -> None:
        """Poll `probe()` until it returns `expected`."""
        deadline = time.monotonic() + WORKER_TIMEOUT
        value = None
        while time.monotonic() < deadline:
            self.check_alive()
            value = await probe()
            if value == expected:
                return
            await asyncio.sleep(0.1)
        self.fail(f"expected {expected}, still {value} after {WORKER_TIMEOUT:g} s")

    def stop(self) -> None:
        """Stop the worker gracefully (SIGTERM), killing it if it does not stop in time."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            self.fail(f"the worker exited early with code {self.proc.returncode}")

    def fail(self, reason: str) -> NoReturn:
        tail = self.log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        pytest.fail(f"faust worker {self.log.stem}: {reason}. Log tail:\n{tail}")


@contextlib.contextmanager
def faust_worker(
    mode: str, broker: EmbeddedBroker, app_id: str, directory: Path, *, compat: bool
) -> Iterator[FaustWorker]:
    """Run the faust test app in a subprocess; kill it by its pid when the block ends."""
    name = f"{mode}-{'corrected' if compat else 'uncorrected'}"
    log, result = directory / f"{name}.log", directory / f"{name}.json"
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    if compat:
        env[ENV_VAR] = "1"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(APP_SCRIPT), mode, broker.url, app_id, str(result)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,  # faust keeps its data directory in the working directory
        )
        try:
            yield FaustWorker(proc, log, result)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
