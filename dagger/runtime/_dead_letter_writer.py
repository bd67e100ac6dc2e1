"""The dead-letter topic: where input that cannot be processed goes, with why and whence."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dagger.core._codec import dumps
from dagger.runtime._log_limit import LogLimit
from dagger.runtime._telemetry import NO_TELEMETRY, Telemetry

logger = logging.getLogger(__name__)

UNDECODABLE = "undecodable"
KEY_EXTRACTION_FAILED = "key_extraction_failed"
ON_MESSAGE_RAISED = "on_message_raised"
MALFORMED_ENGINE_EVENT = "malformed_engine_event"
ENGINE_ERROR = "engine_error"
TOO_LARGE = "too_large"
EARLY_BUFFER_FULL = "early_buffer_full"
UNDECODABLE_INSTANCE = "undecodable_instance"
"""An engine event for a stored instance this worker cannot decode (a task class is gone)."""
# The intake topic's records that start no instance (docs/intake.md).
INTAKE_NOT_JSON = "intake_not_json"
INTAKE_INVALID = "intake_invalid"
INTAKE_UNKNOWN_TEMPLATE = "intake_unknown_template"
INTAKE_BAD_PARAMS = "intake_bad_params"
INTAKE_MISSING_PARTITION_KEY = "intake_missing_partition_key"
ID_REUSED = "id_reused"
"""An instance id already in use, asked for with another template or other params."""

MAX_INLINE_VALUE_BYTES = 256 * 1024
"""A longer value is kept by reference: its size, digest and first bytes, not whole."""
MAX_INLINE_KEY_BYTES = 16 * 1024
"""A longer key is kept by reference too."""
MAX_ERROR_MESSAGE_CHARS = 4096
"""Longer error messages are cut (an error may quote the whole input)."""
_REFERENCE_HEAD_BYTES = 1024

RawSend = Callable[[bytes, bytes], Awaitable[None]]
Headers = Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None


def dead_letter(
    reason: str,
    error: BaseException,
    origin: dict[str, Any],
    value: bytes | None,
    key: bytes | None = None,
    headers: Headers = None,
    instance_id: str | None = None,
) -> dict[str, Any]:
    """Return the JSON document of a dead letter, bounded in size whatever the input.

    ``value`` and ``key`` are kept whole (base64) up to their bounds; beyond, the letter
    says ``value_truncated``/``key_truncated`` and keeps the size, the SHA-256 digest and
    the first KiB, so it stays far below the producer's record limit. The input's
    headers are kept (``[name, base64 value]`` pairs) for a reinjection to restore.
    ``instance_id``, when the input was for a known instance, lets a reader (the
    dashboard) show the letter beside the instance it blocked.
    """
    message = str(error)
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[:MAX_ERROR_MESSAGE_CHARS] + f"... ({len(message)} characters)"
    document: dict[str, Any] = {
        "reason": reason,
        "error_type": type(error).__name__,
        "error_message": message,
        "origin": origin,
        "time": time.time(),
    }
    if instance_id is not None:
        document["instance_id"] = instance_id
    document.update(_bounded("key", key, MAX_INLINE_KEY_BYTES))
    document.update(_bounded("value", value, MAX_INLINE_VALUE_BYTES))
    if headers:
        items = headers.items() if isinstance(headers, Mapping) else headers
        document["headers"] = [
            [str(name), base64.b64encode(_header_bytes(raw)).decode()] for name, raw in items
        ][:64]
    return document


def _bounded(field: str, data: bytes | None, limit: int) -> dict[str, Any]:
    if data is None:
        return {field: None}
    if len(data) <= limit:
        return {field: base64.b64encode(data).decode()}
    return {
        field: None,
        f"{field}_truncated": True,
        f"{field}_size": len(data),
        f"{field}_sha256": hashlib.sha256(data).hexdigest(),
        f"{field}_head": base64.b64encode(data[:_REFERENCE_HEAD_BYTES]).decode(),
    }


def _header_bytes(raw: Any) -> bytes:
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    return data[:MAX_INLINE_KEY_BYTES]


class DeadLetterWriter:
    """Sends dead letters (JSON) with ``send(key, value)``; logs each one too."""

    def __init__(self, send: RawSend | None) -> None:
        self._send = send
        self._telemetry: Telemetry = NO_TELEMETRY
        self._log = LogLimit(logger)

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
        headers: Headers = None,
        instance_id: str | None = None,
    ) -> None:
        """Record that the input at ``origin`` could not be processed, and why.

        A letter that cannot be sent is logged at ERROR with its origin, never raised:
        the agent that met the bad input goes on. The letters themselves are logged at
        WARNING, at most a few per reason every few seconds (:class:`LogLimit`): under a
        flood of bad input the log would otherwise cost more than the letters.
        """
        self._log.log(
            reason,
            logging.WARNING,
            "dead letter (%s) from %s: %s: %.500s",
            reason,
            origin,
            type(error).__name__,
            error,
        )
        self._telemetry.dead_letter(reason, origin)
        if self._send is None:
            return
        document = dead_letter(reason, error, origin, value, key, headers, instance_id)
        record_key = (key or b"")[:MAX_INLINE_KEY_BYTES]
        try:
            await self._send(record_key, dumps(document))
        except Exception:
            logger.exception("dead letter (%s) from %s could not be sent", reason, origin)
