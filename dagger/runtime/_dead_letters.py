"""The dead-letter topic: where input that cannot be processed goes, with why and whence."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dagger.core._codec import dumps
from dagger.runtime._telemetry import NO_TELEMETRY, Telemetry

logger = logging.getLogger(__name__)

UNDECODABLE = "undecodable"
KEY_EXTRACTION_FAILED = "key_extraction_failed"
ON_MESSAGE_RAISED = "on_message_raised"
MALFORMED_ENGINE_EVENT = "malformed_engine_event"
ENGINE_ERROR = "engine_error"

RawSend = Callable[[bytes, bytes], Awaitable[None]]


def dead_letter(
    reason: str,
    error: BaseException,
    origin: dict[str, Any],
    value: bytes | None,
    key: bytes | None = None,
) -> dict[str, Any]:
    """Return the JSON document of a dead letter."""
    return {
        "reason": reason,
        "error_type": type(error).__name__,
        "error_message": str(error),
        "origin": origin,
        "key": None if key is None else base64.b64encode(key).decode(),
        "value": None if value is None else base64.b64encode(value).decode(),
        "time": time.time(),
    }


class DeadLetters:
    """Sends dead letters (JSON) with ``send(key, value)``; logs each one too."""

    def __init__(self, send: RawSend | None) -> None:
        self._send = send
        self._telemetry: Telemetry = NO_TELEMETRY

    def observe(self, telemetry: Telemetry) -> None:
        """Tell ``telemetry`` of every dead letter published from now on."""
        self._telemetry = telemetry

    async def publish(
        self,
        reason: str,
        error: BaseException,
        origin: dict[str, Any],
        value: bytes | None,
        key: bytes | None = None,
    ) -> None:
        """Record that the input at ``origin`` could not be processed, and why."""
        logger.warning(
            "dead letter (%s) from %s: %s: %s", reason, origin, type(error).__name__, error
        )
        self._telemetry.dead_letter(reason, origin)
        if self._send is not None:
            document = dead_letter(reason, error, origin, value, key)
            await self._send(key or b"", dumps(document))
