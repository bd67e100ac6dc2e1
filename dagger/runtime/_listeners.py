"""Listener topics: decoding their messages and routing each correlation key to its owner."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from faust.exceptions import ValueDecodeError
from faust.types.models import ModelT

from dagger.core._events import MessageReceived
from dagger.core._keys import index_key
from dagger.runtime._dead_letter_writer import (
    KEY_EXTRACTION_FAILED,
    TOO_LARGE,
    UNDECODABLE,
    DeadLetterWriter,
)
from dagger.runtime._keys_owner import Sender
from dagger.runtime._partitioning import partition_for_index_key
from dagger.runtime._telemetry import (
    DROPPED_NO_KEYS,
    NO_TELEMETRY,
    Telemetry,
    report_dropped,
    trace_origin,
)
from dagger.serializers._passthrough import PASSTHROUGH
from dagger.tasks._base import SensorTask

logger = logging.getLogger(__name__)

DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
"""faust's (and Kafka's) default ``producer_max_request_size``."""
MAX_INDEX_KEY_BYTES = 4096
"""The longest correlation index key (topic, name and value) a listener may produce."""
_EVENT_OVERHEAD_BYTES = 32 * 1024


@dataclass
class ListenerTopic:
    """A topic listener tasks wait on, with the listener types and how to decode it."""

    name: str
    topic: Any
    task_types: list[type[SensorTask[Any, Any]]] = field(default_factory=list)
    prototypes: list[SensorTask[Any, Any]] = field(default_factory=list)
    concurrency: int = 1

    @property
    def match_only_one(self) -> bool:
        """True when a listener type on this topic takes each message alone."""
        return any(task_type.match_only_one for task_type in self.task_types)


def _value_codec(topic: Any, value_type: Any) -> Any:
    """The codec of ``topic``'s values: its own, JSON for a model, else pass-through."""
    serializer = getattr(topic, "value_serializer", None)
    if serializer:
        return serializer
    if isinstance(value_type, type) and issubclass(value_type, ModelT):
        return "json"
    return PASSTHROUGH


class ListenerIntake:
    """Turns listener-topic messages into ``MessageReceived`` events for the keys' owners."""

    def __init__(
        self,
        *,
        serializers: Any,
        send: Sender,
        partitions: int,
        dead_letters: DeadLetterWriter,
        message_id_header: str | None,
        telemetry: Telemetry = NO_TELEMETRY,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self._telemetry = telemetry
        self.topics: dict[str, ListenerTopic] = {}
        # A message travels base64-encoded in an engine event: keep that event under the
        # producer's record limit, with room for its key and origin.
        self.max_message_bytes = max(0, (max_record_bytes - _EVENT_OVERHEAD_BYTES) * 3 // 4)
        self._serializers = serializers
        self._send = send
        self._partitions = partitions
        self._dead_letters = dead_letters
        self._message_id_header = message_id_header

    def register(self, name: str, topic: Any, task_type: type[SensorTask[Any, Any]]) -> bool:
        """Add a listener type on topic ``name``; return True when the topic is new."""
        listener_topic = self.topics.get(name)
        is_new = listener_topic is None
        if listener_topic is None:
            listener_topic = self.topics[name] = ListenerTopic(name, topic)
        if task_type not in listener_topic.task_types:
            listener_topic.task_types.append(task_type)
            listener_topic.prototypes.append(
                task_type(id=f"{task_type.__name__}-prototype", task_name=task_type.__name__)
            )
        return is_new

    def decode(self, name: str, raw: bytes) -> Any:
        """Decode a message value of listener topic ``name`` as its topic declares.

        A topic without a codec or a model ``value_type`` gives its value as it came: the
        bytes (or a str with ``value_type=str``), as in the original. ``value_serializer=
        "json"`` or a faust ``Record`` ``value_type`` decodes JSON. The codec's own error
        is raised, not faust's ``ValueDecodeError`` around it, so a dead letter names what
        was wrong (e.g. ``MalformedAvroMessage``).
        """
        topic = self.topics[name].topic
        value_type = getattr(topic, "value_type", None)
        try:
            return self._serializers.loads_value(
                value_type, raw, serializer=_value_codec(topic, value_type)
            )
        except ValueDecodeError as exc:
            cause = exc.__cause__
            if not isinstance(cause, Exception):
                raise
        raise cause

    def encode(self, name: str, value: Any) -> bytes:
        """Encode ``value`` as a message of listener topic ``name`` (its declared codec)."""
        topic = self.topics[name].topic
        value_type = getattr(topic, "value_type", None)
        encoded: bytes = self._serializers.dumps_value(
            value_type, value, serializer=_value_codec(topic, value_type)
        )
        return encoded

    async def _prepare(self, name: str, raw: bytes) -> None:
        """Let the topic's codec fetch what decoding needs (an Avro schema) off the loop."""
        serializer = getattr(self.topics[name].topic, "value_serializer", None)
        prepare = getattr(serializer, "prepare_loads", None)
        if prepare is not None:
            await prepare(raw)

    async def route(
        self,
        name: str,
        raw: bytes,
        origin: dict[str, Any],
        headers: Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None = None,
    ) -> int:
        """Route one message of topic ``name``; return how many keys it was sent under."""
        listener_topic = self.topics[name]
        origin = trace_origin(origin, headers)
        if len(raw) > self.max_message_bytes:
            too_large = ValueError(
                f"the message is {len(raw)} bytes; a listener message is at most "
                f"{self.max_message_bytes} (producer_max_request_size)"
            )
            await self._dead_letters.publish(TOO_LARGE, too_large, origin, raw, headers=headers)
            return 0
        try:
            await self._prepare(name, raw)
            payload = self.decode(name, raw)
        except Exception as exc:
            await self._dead_letters.publish(UNDECODABLE, exc, origin, raw, headers=headers)
            return 0
        try:
            keys = await self._keys_of(listener_topic, payload)
        except Exception as exc:
            await self._dead_letters.publish(
                KEY_EXTRACTION_FAILED, exc, origin, raw, headers=headers
            )
            return 0
        if not keys:
            report_dropped(self._telemetry, DROPPED_NO_KEYS)
            return 0
        message_id = self._message_id(origin, headers)
        for key in keys:
            event = MessageReceived(
                event_id=message_id,
                index_key=key,
                topic=name,
                payload=raw,
                origin=origin,
                match_only_one=listener_topic.match_only_one,
            )
            await self._send(event, key, partition_for_index_key(key, self._partitions))
        return len(keys)

    async def _keys_of(self, listener_topic: ListenerTopic, payload: Any) -> list[str]:
        keys: list[str] = []
        for prototype in listener_topic.prototypes:
            returned = await prototype.get_correlatable_keys_from_payload(payload) or []
            for lookup in _key_pairs(type(prototype).__name__, returned):
                key = index_key(listener_topic.name, str(lookup[0]), str(lookup[1]))
                if len(key.encode()) > MAX_INDEX_KEY_BYTES:
                    raise ValueError(
                        f"{type(prototype).__name__} returned a key of {len(key.encode())} "
                        f"bytes; a correlation key is at most {MAX_INDEX_KEY_BYTES}"
                    )
                if key not in keys:
                    keys.append(key)
        return keys

    def _message_id(
        self,
        origin: dict[str, Any],
        headers: Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None,
    ) -> str:
        if self._message_id_header and headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for header, value in items:
                if header == self._message_id_header and value:
                    text = (
                        value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                    )
                    return f"{origin['topic']}#{text}"
        return f"{origin['topic']}:{origin['partition']}:{origin['offset']}"


_PAIRS_HINT = 'return a list of (name, value) pairs, e.g. [("order_id", payload["order_id"])]'


def _key_pairs(listener: str, returned: Any) -> list[Any]:
    """The (name, value) pairs a listener's key method returned, or why they are not."""
    method = f"{listener}.get_correlatable_keys_from_payload"
    if isinstance(returned, str | bytes):
        raise TypeError(f"{method} returned the string {returned!r}; {_PAIRS_HINT}")
    if isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[0], str):
        raise TypeError(f"{method} returned one pair {returned!r}, not a list; {_PAIRS_HINT}")
    pairs = list(returned)
    for lookup in pairs:
        if isinstance(lookup, str | bytes) or not isinstance(lookup, tuple | list):
            raise TypeError(f"{method} returned {lookup!r} among its keys; {_PAIRS_HINT}")
        if len(lookup) != 2 or lookup[1] is None:
            raise ValueError(f"{method} returned the key {lookup!r}; {_PAIRS_HINT}")
    return pairs
