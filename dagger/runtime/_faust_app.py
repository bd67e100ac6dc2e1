"""The faust app the engine runs on, with a configurable consumer fetch wait.

faust hard-codes aiokafka's ``fetch_max_wait_ms`` to 1,500 ms. A broker answers a
long-poll fetch when data arrives or the wait ends, and a workflow step crosses several
hops, so the engine sets the wait from its settings instead.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        app = self.app
        if isinstance(app, EngineFaustApp):
            consumer._fetch_max_wait_ms = app.consumer_fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):  # type: ignore[misc]
    Consumer = _Consumer


class EngineFaustApp(faust.App):  # type: ignore[misc]
    """A faust app whose Kafka consumer waits at most ``consumer_fetch_max_wait`` seconds."""

    def __init__(self, *args: Any, consumer_fetch_max_wait: float, **kwargs: Any) -> None:
        self.consumer_fetch_max_wait_ms = max(1, round(consumer_fetch_max_wait * 1000))
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        url = self.conf.broker_consumer[0]
        if url.scheme in ("kafka", "aiokafka"):
            return _Transport(self.conf.broker_consumer, self)
        return super()._new_transport()
