"""RecordSender: the engine's ready-made records go straight to the app's producer.

faust's producer needs a broker, so a fake stands for it: it records each ``send`` and
answers with a future, as aiokafka's does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dagger.runtime._records import RecordSender


class FakeProducer:
    """Records ``send(topic, key, value, partition, timestamp, headers)`` calls."""

    def __init__(self, *, started: bool) -> None:
        self.started = started
        self.sent: list[tuple[Any, ...]] = []
        self.futures: list[asyncio.Future[str]] = []

    async def send(self, *args: Any) -> asyncio.Future[str]:
        self.sent.append(args)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


class FakeApp:
    """An app whose producer may be started, or started on first use."""

    def __init__(self, *, started: bool) -> None:
        self.producer = FakeProducer(started=started)
        self.started_producer = FakeProducer(started=True)
        self.starts = 0

    async def maybe_start_producer(self) -> FakeProducer:
        self.starts += 1
        return self.started_producer


async def test_a_record_is_sent_as_it_is_to_the_topic() -> None:
    app = FakeApp(started=True)
    sender = RecordSender(app, "dagger_tasks")

    await sender.send(key=b"i-1", value=b'{"type": "submit"}', partition=3)
    await sender.send(key=None, value=b"v")

    assert app.producer.sent == [
        ("dagger_tasks", b"i-1", b'{"type": "submit"}', 3, None, None),
        ("dagger_tasks", None, b"v", None, None, None),
    ]
    assert app.starts == 0


async def test_the_result_resolves_when_the_broker_has_the_record() -> None:
    app = FakeApp(started=True)
    sender = RecordSender(app, "dagger_tasks")

    sent = await sender.send(key=b"k", value=b"v", partition=0)

    assert sent is app.producer.futures[0]
    assert not app.producer.futures[0].done()
    app.producer.futures[0].set_result("metadata")
    assert await sent == "metadata"


async def test_a_producer_not_started_yet_is_started_first() -> None:
    """A client that runs no worker sends before anything started the producer."""
    app = FakeApp(started=False)
    sender = RecordSender(app, "dagger_tasks")

    await sender.send(key=b"k", value=b"v", partition=1)

    assert app.starts == 1
    assert app.producer.sent == []
    assert app.started_producer.sent == [("dagger_tasks", b"k", b"v", 1, None, None)]
