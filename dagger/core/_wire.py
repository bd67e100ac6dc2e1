"""The records of the engine topic: JSON envelopes around log events."""

from __future__ import annotations

import base64
from typing import Any

from dagger.core._codec import dumps, loads
from dagger.core._events import (
    HeldMessagesSwept,
    IndexAdded,
    IndexRemoved,
    InstanceCreated,
    InstanceSubmitted,
    LogEvent,
    MessageDelivered,
    MessageReceived,
    ReleaseRequested,
    RerunRequested,
    RetryRequested,
    ScheduleDue,
    StopRequested,
    TimerFired,
)
from dagger.core._keys import SEPARATOR
from dagger.exceptions.exceptions import DaggerError


class MalformedEvent(DaggerError, ValueError):
    """An engine-topic record that is not a valid event."""


def encode_event(event: LogEvent) -> bytes:
    """Return the record value for ``event``."""
    body: dict[str, Any]
    if isinstance(event, InstanceCreated):
        body = {
            "type": "created",
            "id": event.event_id,
            "instance": event.instance_id,
            "document": event.document,
            "submit": event.submit,
        }
    elif isinstance(event, InstanceSubmitted):
        body = {"type": "submitted", "id": event.event_id, "instance": event.instance_id}
    elif isinstance(event, MessageReceived):
        body = {
            "type": "message",
            "id": event.event_id,
            "key": event.index_key,
            "topic": event.topic,
            "payload": _b64(event.payload),
            "origin": event.origin,
            "match_only_one": event.match_only_one,
        }
    elif isinstance(event, IndexAdded):
        body = {
            "type": "index_add",
            "id": event.event_id,
            "key": event.index_key,
            "instance": event.instance_id,
            "task": event.task_id,
            "owner": event.owner_partition,
        }
    elif isinstance(event, IndexRemoved):
        body = {
            "type": "index_remove",
            "id": event.event_id,
            "key": event.index_key,
            "instance": event.instance_id,
            "task": event.task_id,
        }
    elif isinstance(event, TimerFired):
        body = {
            "type": "timer",
            "id": event.event_id,
            "instance": event.instance_id,
            "task": event.task_id,
            "due": event.due,
        }
    elif isinstance(event, HeldMessagesSwept):
        body = {"type": "sweep", "id": event.event_id}
        if event.swept_at is not None:
            body["at"] = event.swept_at
    elif isinstance(event, StopRequested):
        body = {
            "type": "stop",
            "id": event.event_id,
            "instance": event.instance_id,
            "task": event.task_id,
        }
    elif isinstance(event, RetryRequested):
        body = {"type": "retry", "id": event.event_id, "instance": event.instance_id}
    elif isinstance(event, RerunRequested):
        body = {
            "type": "rerun",
            "id": event.event_id,
            "instance": event.instance_id,
            "task": event.task,
            "parameters": event.parameters,
        }
    elif isinstance(event, ScheduleDue):
        body = {
            "type": "schedule",
            "id": event.event_id,
            "workflow": event.workflow,
            "now": event.now,
        }
    elif isinstance(event, ReleaseRequested):
        body = {
            "type": "release",
            "id": event.event_id,
            "workflow": event.workflow,
            "kind": event.kind,
            "logical_time": event.logical_time,
            "now": event.now,
            "original": event.original,
            "counter": event.counter,
        }
    else:
        body = {
            "type": "deliver",
            "id": event.event_id,
            "instance": event.instance_id,
            "task": event.task_id,
            "topic": event.topic,
            "payload": _b64(event.payload),
            "origin": event.origin,
        }
    return dumps(body)


def decode_event(raw: bytes | str | None) -> LogEvent:
    """Parse an engine-topic record value."""
    if raw is None:
        raise MalformedEvent("empty record")
    try:
        body = loads(raw)
        kind = body["type"]
        event_id = body["id"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedEvent(f"not an engine event: {exc}") from exc
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("an engine event needs a non-empty string 'id'")
    try:
        return _decode_body(kind, event_id, body)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"{kind!r} event with a missing or bad field: {exc}") from exc


def _index_key(body: dict[str, Any]) -> str:
    """The event's correlation index key, which must be (topic, name, value)."""
    key = _text(body, "key")
    if key.count(SEPARATOR) < 2:
        raise MalformedEvent(f"index key {key[:80]!r} is not topic, name and value")
    return key


def _decode_body(kind: Any, event_id: str, body: dict[str, Any]) -> LogEvent:
    if kind == "created":
        document = body.get("document")
        if not isinstance(document, dict):
            raise MalformedEvent("created event without a document")
        return InstanceCreated(
            event_id, _text(body, "instance"), document, bool(body.get("submit"))
        )
    if kind == "submitted":
        return InstanceSubmitted(event_id, _text(body, "instance"))
    if kind == "message":
        return MessageReceived(
            event_id,
            _index_key(body),
            _text(body, "topic"),
            base64.b64decode(body["payload"], validate=True),
            dict(body.get("origin") or {}),
            bool(body.get("match_only_one")),
        )
    if kind == "index_add":
        return IndexAdded(
            event_id,
            _index_key(body),
            _text(body, "instance"),
            _text(body, "task"),
            int(body["owner"]),
        )
    if kind == "index_remove":
        return IndexRemoved(
            event_id, _index_key(body), _text(body, "instance"), _text(body, "task")
        )
    if kind == "timer":
        return TimerFired(
            event_id, _text(body, "instance"), _text(body, "task"), float(body["due"])
        )
    if kind == "sweep":
        at = body.get("at")
        return HeldMessagesSwept(event_id, None if at is None else float(at))
    if kind == "stop":
        task = body.get("task")
        return StopRequested(
            event_id, _text(body, "instance"), None if task is None else _text(body, "task")
        )
    if kind == "retry":
        return RetryRequested(event_id, _text(body, "instance"))
    if kind == "rerun":
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise MalformedEvent("a rerun event's 'parameters' must be an object")
        return RerunRequested(event_id, _text(body, "instance"), _text(body, "task"), parameters)
    if kind == "schedule":
        return ScheduleDue(event_id, _text(body, "workflow"), float(body["now"]))
    if kind == "release":
        original = body.get("original")
        return ReleaseRequested(
            event_id,
            _text(body, "workflow"),
            _text(body, "kind"),
            float(body["logical_time"]),
            float(body["now"]),
            None if original is None else _text(body, "original"),
            int(body.get("counter") or 0),
        )
    if kind == "deliver":
        return MessageDelivered(
            event_id,
            _text(body, "instance"),
            _text(body, "task"),
            _text(body, "topic"),
            base64.b64decode(body["payload"], validate=True),
            dict(body.get("origin") or {}),
        )
    raise MalformedEvent(f"unknown event type {kind!r}")


def _text(body: dict[str, Any], field: str) -> str:
    value = body[field]
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"an engine event needs a non-empty string {field!r}")
    return value


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()
