"""The records of the engine topic: JSON envelopes around log events."""

from __future__ import annotations

from typing import Any

from dagger.core._codec import dumps, loads
from dagger.core._events import InstanceCreated, InstanceSubmitted, LogEvent
from dagger.exceptions.exceptions import DaggerError

_CREATED = "created"
_SUBMITTED = "submitted"


class MalformedEvent(DaggerError, ValueError):
    """An engine-topic record that is not a valid event."""


def encode_event(event: LogEvent) -> bytes:
    """Return the record value for ``event``."""
    body: dict[str, Any]
    if isinstance(event, InstanceCreated):
        body = {
            "type": _CREATED,
            "id": event.event_id,
            "instance": event.instance_id,
            "document": event.document,
            "submit": event.submit,
        }
    else:
        body = {"type": _SUBMITTED, "id": event.event_id, "instance": event.instance_id}
    return dumps(body)


def decode_event(raw: bytes | str | None) -> LogEvent:
    """Parse an engine-topic record value."""
    if raw is None:
        raise MalformedEvent("empty record")
    try:
        body = loads(raw)
        kind = body["type"]
        event_id = body["id"]
        instance_id = body["instance"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedEvent(f"not an engine event: {exc}") from exc
    if not (
        isinstance(event_id, str) and event_id and isinstance(instance_id, str) and instance_id
    ):
        raise MalformedEvent("an engine event needs non-empty string 'id' and 'instance'")
    if kind == _CREATED:
        document = body.get("document")
        if not isinstance(document, dict):
            raise MalformedEvent("created event without a document")
        return InstanceCreated(event_id, instance_id, document, bool(body.get("submit")))
    if kind == _SUBMITTED:
        return InstanceSubmitted(event_id, instance_id)
    raise MalformedEvent(f"unknown event type {kind!r}")
