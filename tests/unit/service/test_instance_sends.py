"""How long creating an instance waits: for the broker outside an agent, not inside one.

Inside an agent the created event is only buffered: faust flushes the producer before it
commits the record being handled, so the event reaches the broker before its input counts
as done. Waiting for each one instead made an agent that creates an instance per input
run at one broker round trip per input (27 workflows/s on the original's workload).
The producer needs a broker, so a fake stands for the engine's record sender: its futures
resolve only when the test says the broker has the record.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import faust
import pytest

from dagger.service.services import Dagger
from tests.unit._workflows import OFFLINE_BROKER, RecordingTask, build_template


class PendingSender:
    """Stands in for the engine's RecordSender: every send's result stays pending."""

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, *, key: bytes | None, value: bytes, partition: int | None = None) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> PendingSender:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://", kafka_partitions=4)
    engine._declared = True  # no producer start nor topic declaration: there is no broker
    pending = PendingSender()
    monkeypatch.setattr(engine._runtime, "_records", pending)
    return pending


def _handling_a_record(monkeypatch: pytest.MonkeyPatch) -> None:
    event = SimpleNamespace(message=SimpleNamespace(topic="orders", partition=1))
    monkeypatch.setattr(faust, "current_event", lambda: event)


async def test_outside_an_agent_create_instance_returns_once_the_broker_has_the_event(
    sender: PendingSender,
) -> None:
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])

    creating = asyncio.ensure_future(template.create_instance("i-1", "k", k="v"))
    await asyncio.sleep(0.01)
    assert not creating.done()

    sender.futures[0].set_result("acked")
    await asyncio.wait_for(creating, 1)


async def test_inside_an_agent_create_instance_returns_with_the_event_buffered(
    sender: PendingSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    _handling_a_record(monkeypatch)
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])

    instance = await asyncio.wait_for(
        template.create_instance("i-1", "k", k="v", repartition=False, submit_task=True), 1
    )

    assert instance.owner_partition == 1
    assert len(sender.futures) == 1 and not sender.futures[0].done()
    sender.futures[0].set_result("acked")


async def test_a_buffered_event_the_broker_refuses_is_logged(
    sender: PendingSender, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _handling_a_record(monkeypatch)
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])
    await template.create_instance("i-1", "k", k="v", repartition=False)

    with caplog.at_level(logging.ERROR, logger="dagger.runtime._engine"):
        sender.futures[0].set_exception(RuntimeError("broker down"))
        await asyncio.sleep(0)

    assert "the broker refused InstanceCreated for instance i-1 on partition 1" in caplog.text
    assert "broker down" in caplog.text
