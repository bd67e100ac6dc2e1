"""Correction 6: the engine's producer flush waits for every record in faust's buffer.

faust's table writes put their changelog records in the producer's buffer, and faust
flushes the producer before it commits the consumed offsets. A flush that returns with a
record still in the buffer lets an offset be committed before the changelog record that
its event wrote is sent: a SIGKILL then loses the write for good (the chaos suite's kill
loop found an instance whose completion was in the update topic and not in the changelog).
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import Producer, ProducerBuffer

from dagger._faust_internals._producer import _DrainingBuffer, _Producer
from dagger.service.services import Dagger
from tests.unit._workflows import OFFLINE_BROKER

HAND_OVER_SECONDS = 0.25
"""How long each record takes to reach the Kafka producer: longer than faust's 0.1 s wait."""


class _SlowChannel:
    """A channel whose records take :data:`HAND_OVER_SECONDS` each to be handed over."""

    def __init__(self) -> None:
        self.handed_over: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(HAND_OVER_SECONDS)
        self.handed_over.append(fut.number)


def _record(channel: _SlowChannel, number: int) -> Any:
    return SimpleNamespace(number=number, message=SimpleNamespace(channel=channel))


async def _started(make: Callable[..., ProducerBuffer]) -> AsyncIterator[ProducerBuffer]:
    buffer = make()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    try:
        yield buffer
    finally:
        while buffer.size:  # faust's buffer refuses to stop with records in it
            await buffer.flush()
        await buffer.stop()


@pytest.fixture
async def faust_buffer() -> AsyncIterator[ProducerBuffer]:
    async for buffer in _started(ProducerBuffer):
        yield buffer


@pytest.fixture
async def engine_buffer() -> AsyncIterator[ProducerBuffer]:
    async for buffer in _started(_DrainingBuffer):
        yield buffer


async def test_faust_s_flush_returns_with_records_still_in_its_buffer(
    faust_buffer: ProducerBuffer,
) -> None:
    channel = _SlowChannel()
    for number in range(3):
        faust_buffer.put(_record(channel, number))

    await faust_buffer.flush()

    assert len(channel.handed_over) < 3  # why the engine's producer has its own buffer


async def test_the_engine_s_flush_returns_once_every_record_is_handed_over(
    engine_buffer: ProducerBuffer,
) -> None:
    channel = _SlowChannel()
    for number in range(3):
        engine_buffer.put(_record(channel, number))

    await engine_buffer.flush()

    assert channel.handed_over == [0, 1, 2]


async def test_the_engine_s_flush_waits_for_the_record_being_handed_over(
    engine_buffer: ProducerBuffer,
) -> None:
    channel = _SlowChannel()
    engine_buffer.put(_record(channel, 0))
    await asyncio.sleep(HAND_OVER_SECONDS / 5)  # the buffer's task has taken it: size is 0
    assert engine_buffer.size == 0

    await engine_buffer.flush()

    assert channel.handed_over == [0]


async def test_an_empty_buffer_flushes_at_once(engine_buffer: ProducerBuffer) -> None:
    await asyncio.wait_for(engine_buffer.flush(), timeout=HAND_OVER_SECONDS)


def test_the_producer_buffer_internals_the_correction_relies_on_are_there() -> None:
    assert list(inspect.signature(ProducerBuffer._send_pending).parameters) == ["self", "fut"]
    handle_pending = inspect.getsource(ProducerBuffer._handle_pending.fun)
    assert "await send_pending(msg)" in handle_pending
    assert "self.message_sent.set()" in handle_pending
    assert re.search(r"self\.buffer\s*=\s*ProducerBuffer\(", inspect.getsource(Producer.__init__))
    assert "await self.buffer.flush()" in inspect.getsource(faust_aiokafka.Producer.flush)
    assert faust_aiokafka.Transport.Producer is faust_aiokafka.Producer


def test_the_engine_app_uses_the_draining_producer() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app

    assert app.transport.Producer is _Producer
    assert isinstance(app.producer.buffer, _DrainingBuffer)
    assert app.producer.buffer.app is app
