"""The engine's faust app, its Kafka consumer and transport (corrections 1-3 and 6).

Part of :mod:`dagger._faust_internals`; see its docstring for why each use is needed.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults

from dagger._coroutines import Finished, Paused, run_until_first_wait
from dagger._faust_internals._producer import _Producer
from dagger._faust_internals._recovery import (
    EngineTableManager,
    _continuity,
    _Table,
    collect_only_after_closing,
)
from dagger._faust_internals._worker_state import broker_cluster_id

logger = logging.getLogger("dagger._faust_internals")


# -- the engine's faust app and its consumer -------------------------------------------
class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread with corrections 1 and 2 (see the module).

    It also reads the broker's cluster id once it has connected (see
    :func:`broker_cluster_id`), for the app's ``broker_identified`` listeners.

    Why: ``_create_worker_consumer``, ``_ensure_consumer``, ``call_thread``, the thread's
    ``on_start`` and aiokafka's ``_fetch_max_wait_ms`` are private; they are where faust
    builds and drives the consumer. Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 /
    mode-streaming 0.7.1.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        app = self.app
        if isinstance(app, EngineFaustApp):
            consumer._fetch_max_wait_ms = app.consumer_fetch_max_wait_ms
        return consumer

    async def on_start(self) -> None:
        """Start the consumer, then tell the app's ``broker_identified`` the cluster id.

        faust's consumer waits for this before it subscribes, so a listener acts before
        the consumer first asks for an offset.
        """
        await super().on_start()
        app = self.app
        if isinstance(app, EngineFaustApp) and app.broker_identified:
            cluster_id = await broker_cluster_id(self._ensure_consumer())
            for listener in app.broker_identified:
                listener(cluster_id)

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
    """faust's aiokafka consumer with correction 3 (see the module), telling correction 5
    when its flow stops.

    Why: ``_new_consumer_thread``, ``getmany``, ``perform_seek`` and ``stop_flow`` are
    faust's undocumented consumer internals; the lost records happen between them.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Cleared while a record handed out by getmany is being put in the agents' queues.
        self._handed_back = asyncio.Event()
        self._handed_back.set()

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """mode's ``wait_first``, with no tasks for a first coroutine that does not wait.

        faust's consumer hands each fetched record to the agents' queues with
        ``wait_first(callback(message), suspend_flow.wait())``, which makes four tasks per
        record (the callback, the flow's event, the consumer's stopped and crashed events)
        and cancels three. The callback almost never waits (a queue with room takes the
        record at once), so it runs here first: when it returns without waiting, so does
        this, as mode's would with the callback the winner. One that waits goes on in a
        task, raced against the others by mode's ``wait_first`` as before.

        Why: ``wait_first`` is mode's, and faust's ``_drain_messages``, which calls it
        per record, is private. Checked against faust-streaming 0.15.3 / mode-streaming
        0.7.1.
        """
        first = coros[0] if coros else None
        if timeout is not None or not inspect.iscoroutine(first) or sys.version_info < (3, 11):
            # (before 3.11 no task can go on in a given context)
            return await super().wait_first(*coros, timeout=timeout)
        others = coros[1:]
        context = contextvars.copy_context()
        try:
            first_step = run_until_first_wait(first, context)
        except BaseException:
            _close_all(others)
            raise
        if isinstance(first_step, Finished):
            _close_all(others)
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([first], [first_step.value], False)
        # mode's wait_first takes a future as it is.
        rest = self.loop.create_task(_awaited(first_step), context=context)
        return await super().wait_first(rest, *others)

    def stop_flow(self) -> None:
        """faust's stop of the flow, which drops fetched records: tell the recovery's check."""
        continuity = _continuity(self.app)
        if continuity is not None:
            continuity.flow_stopped()
        super().stop_flow()

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
        if logger.isEnabledFor(logging.INFO):
            positions = sorted(
                (tp.topic, tp.partition, offset) for tp, offset in self._read_offset.items()
            )
            logger.info("reading from the committed offsets %s", positions)


def _close_all(coros: tuple[Any, ...]) -> None:
    """Close the coroutines among ``coros`` that will not be awaited."""
    for coro in coros:
        if inspect.iscoroutine(coro):
            coro.close()


async def _awaited(paused: Paused[Any]) -> Any:
    return await paused


class _Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with the engine's consumer and producer.

    Why: the transport's ``Consumer`` and ``Producer`` class attributes are how faust picks
    its consumer and producer.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    Consumer = _Consumer
    Producer = _Producer


class EngineFaustApp(faust.App):
    """A faust app whose Kafka consumer waits at most ``consumer_fetch_max_wait`` seconds.

    ``webserver_installers`` are called with faust's web server as it starts, before it
    serves: the engine adds its HTTP API there. ``broker_identified`` are called with the
    broker's cluster id (or None) once the consumer has connected, in the consumer's
    thread, before it reads a record.

    Its tables are :class:`_Table` and recover through :class:`EngineTableManager`
    (corrections 4 and 5), through faust's documented ``Table`` and ``TableManager``
    settings, unless the caller names others.

    Why here: it chooses its transport through faust's private ``_new_transport``.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, consumer_fetch_max_wait: float, **kwargs: Any) -> None:
        self.consumer_fetch_max_wait_ms = max(1, round(consumer_fetch_max_wait * 1000))
        self.webserver_installers: list[Callable[[Any], None]] = []
        self.broker_identified: list[Callable[[str | None], None]] = []
        kwargs.setdefault("TableManager", EngineTableManager)
        kwargs.setdefault("Table", _Table)
        if str(kwargs.get("store", "")).startswith("rocksdb:"):
            from faust.stores import rocksdb  # loads rocksdict: only for a rocksdb:// app

            collect_only_after_closing(rocksdb.Store)
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
