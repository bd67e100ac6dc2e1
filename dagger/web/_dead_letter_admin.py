"""The dead-letter endpoints' admin on Kafka: :class:`~dagger.ops.DeadLetterService`.

Each request opens a service and closes it when it is answered, so a worker whose
dead-letter endpoints are never called holds no extra Kafka connection, and none is left
open when it stops. The service's errors become the API's: an unknown letter 404, a
letter that cannot be reinjected 409, an unreachable broker 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from dagger.ops import (
    BrokerUnavailableError,
    DeadLetterNotFoundError,
    DeadLetterService,
    NotReinjectableError,
    UnknownTopicError,
)
from dagger.web._errors import ApiError

__all__ = ["KafkaDeadLetters"]

Result = TypeVar("Result")


class KafkaDeadLetters:
    """Lists, shows, reinjects and purges the letters of ``dead_letter_topic``."""

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        dead_letter_topic: str,
        *,
        message_id_header: str | None,
    ) -> None:
        self._bootstrap_servers = list(bootstrap_servers)
        self._topic = dead_letter_topic
        self._message_id_header = message_id_header

    async def list(self, limit: int, offset: int = 0, cursor: str | None = None) -> Any:
        """A page of dead letters, from ``offset`` or after ``cursor``."""
        return await self._with(lambda tool: tool.list(limit, cursor=cursor, offset=offset))

    async def show(self, id: str) -> Any:
        """One dead letter."""
        return await self._with(lambda tool: tool.show(id))

    async def reinject(self, id: str, value: bytes | None = None) -> Any:
        """Send the letter (or ``value`` in place of its value) again to its original topic."""
        if value is None:
            return await self._with(lambda tool: tool.reinject(id))
        return await self._with(lambda tool: tool.reinject(id, value))

    async def purge(self, id: str) -> Any:
        """Hide the letter from listings (a mark: Kafka cannot delete one record)."""
        return await self._with(lambda tool: tool.purge(id))

    async def _with(self, call: Callable[[DeadLetterService], Awaitable[Result]]) -> Result:
        async with self._service() as tool:
            try:
                return await call(tool)
            except (DeadLetterNotFoundError, UnknownTopicError) as exc:
                raise ApiError(404, str(exc)) from exc
            except NotReinjectableError as exc:
                raise ApiError(409, str(exc)) from exc
            except BrokerUnavailableError as exc:
                raise ApiError(503, str(exc)) from exc

    @asynccontextmanager
    async def _service(self) -> AsyncIterator[DeadLetterService]:
        tool = DeadLetterService(
            self._bootstrap_servers,
            self._topic,
            message_id_header=self._message_id_header,
            client_id="dagger-web-dlq",
        )
        try:
            yield tool
        finally:
            await tool.stop()
