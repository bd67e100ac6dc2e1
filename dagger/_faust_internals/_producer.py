"""The engine's Kafka producer, whose flush waits for every buffered record (correction 6).

Part of :mod:`dagger._faust_internals`; see its docstring for why each use is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer

FLUSH_POLL_SECONDS = 0.1
"""How long a flush waits for the buffer's next record before it checks the buffer's state."""


class _DrainingBuffer(ProducerBuffer):
    """faust's producer buffer, whose ``flush`` returns once every record put in it is
    handed to the Kafka producer.

    Why: faust's ``flush`` returns when no record left the buffer for 0.1 s, and it does not
    count the record its sending task has taken from the queue but not yet handed over.
    ``_send_pending`` and ``message_sent`` are faust's undocumented buffer internals.
    Checked against faust-streaming 0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.handing_over = 0
        """Records taken from the queue and not yet handed to the Kafka producer."""

    async def _send_pending(self, fut: Any) -> None:
        self.handing_over += 1
        try:
            await super()._send_pending(fut)
        finally:
            self.handing_over -= 1

    async def flush(self) -> None:
        """Wait until the queue is empty and no record is being handed over.

        A buffer that is not running (stopping, or a threaded producer's) flushes as
        faust's does: its sending task may be gone, and waiting for it would never end.
        """
        while self.size or self.handing_over:
            if self.state != "running" or self.app is None or self.app.conf.producer_threaded:
                await super().flush()
                return
            self.message_sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=FLUSH_POLL_SECONDS)


class _Producer(faust_aiokafka.Producer):
    """faust's aiokafka producer with the :class:`_DrainingBuffer` (correction 6).

    Why: the producer builds its buffer in ``__init__`` as faust's ``ProducerBuffer``, and
    its ``flush`` flushes that buffer, then aiokafka's. Checked against faust-streaming
    0.15.3 / aiokafka 0.14.0 / mode-streaming 0.7.1.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        faust_buffer = cast(ProducerBuffer, self.buffer)
        self.buffer = _DrainingBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = faust_buffer.app
        if hasattr(faust_buffer, "threaded_producer"):
            self.buffer.threaded_producer = faust_buffer.threaded_producer
