"""The faust app the engine runs on, with two corrections to faust's Kafka consumer.

1. faust hard-codes aiokafka's ``fetch_max_wait_ms`` to 1,500 ms. A broker answers a
   long-poll fetch when data arrives or the wait ends, and a workflow step crosses several
   hops, so the engine sets the wait from its settings instead.
2. While partitions are being assigned, faust drops records it already fetched and counts
   on "seek to committed offsets" to read them again; aiokafka skips that seek for a
   partition with no committed offset (or offset 0), so a group that never committed (a
   worker killed before its first commit) lost those records for good. With
   ``consumer_auto_offset_reset="earliest"`` such partitions are rewound to the beginning.
3. After a table recovery faust resumes the stream partitions, seeks them to their
   committed offsets, then clears the agents' queues (``flow_control.resume()``) and
   resumes the flow. The flow is already running then (faust resumed it to read the
   changelogs), so while the seek waits, the consumer hands out records it fetched before
   the seek and sets its read offsets past them. The records still queued are cleared, and
   when the partition is read again from the committed offset faust skips them as already
   read: they were lost (the recovery benchmark lost a few dozen engine events per
   restart). The engine's consumer stops the flow before it seeks and hands out nothing
   fetched before the seek; faust resumes the flow right after clearing the queues.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        app = self.app
        if isinstance(app, EngineFaustApp):
            consumer._fetch_max_wait_ms = app.consumer_fetch_max_wait_ms
        return consumer

    async def seek_to_committed(self) -> Mapping[Any, int]:
        result: Mapping[Any, int] = await self.call_thread(self._seek_to_committed_or_start)
        return result

    async def _seek_to_committed_or_start(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed: Mapping[Any, int] = await consumer.seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset != "earliest":
            return committed
        acks_enabled_for = self.app.topics.acks_enabled_for
        uncommitted = [
            tp
            for tp, offset in committed.items()
            if (offset is None or offset <= 0) and acks_enabled_for(tp.topic)
        ]
        if uncommitted:
            await consumer.seek_to_beginning(*uncommitted)
        return committed


class _Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Cleared while a record handed out by getmany is being put in the agents' queues.
        self._handed_back = asyncio.Event()
        self._handed_back.set()

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """faust's getmany, noting while a record it handed out is being queued."""
        async for tp, message in super().getmany(timeout):
            self._handed_back.clear()
            try:
                yield tp, message
            finally:
                # The caller has queued the record and set its read offset.
                self._handed_back.set()

    async def perform_seek(self) -> None:
        """Seek to the committed offsets with the flow stopped, and leave it stopped.

        Stopping the flow makes getmany drop the rest of what it fetched; the record being
        queued is waited for, so its read offset is set before the seek resets the read
        offsets. Every caller resumes the flow itself: faust's recovery clears the queues
        and resumes it right after the seek, and getmany seeks only while it is stopped.
        """
        self.stop_flow()
        await self._handed_back.wait()
        await super().perform_seek()


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class EngineFaustApp(faust.App):
    """A faust app whose Kafka consumer waits at most ``consumer_fetch_max_wait`` seconds.

    ``webserver_installers`` are called with faust's web server as it starts, before it
    serves: the engine adds its HTTP API there.
    """

    def __init__(self, *args: Any, consumer_fetch_max_wait: float, **kwargs: Any) -> None:
        self.consumer_fetch_max_wait_ms = max(1, round(consumer_fetch_max_wait * 1000))
        self.webserver_installers: list[Callable[[Any], None]] = []
        super().__init__(*args, **kwargs)

    def on_webserver_init(self, web: Any) -> None:
        """Run the ``webserver_installers`` on the web server that is starting."""
        super().on_webserver_init(web)
        for install in self.webserver_installers:
            install(web)

    def _new_transport(self) -> Any:
        url = self.conf.broker_consumer[0]
        if url.scheme in ("kafka", "aiokafka"):
            return _Transport(self.conf.broker_consumer, self)
        return super()._new_transport()
