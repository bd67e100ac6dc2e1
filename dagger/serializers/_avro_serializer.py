"""Avro records in the Confluent wire format, with schemas from a schema registry (fastavro).

``encode_record_with_schema(subject, schema, record)`` and ``decode_message(message)``
are the calls of the original Dagger's ``MessageSerializer`` (python-schema-registry-client),
so either can be given to ``Dagger(message_serializer=...)``.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Protocol, runtime_checkable

try:
    import fastavro
    from fastavro.schema import SchemaParseException, UnknownType
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "Avro serialization needs fastavro: pip install 'dagger-workflows[avro]'"
    ) from exc

from dagger.serializers._errors import InvalidAvroRecord, MalformedAvroMessage
from dagger.serializers._registry_client import SchemaRegistryClient, schema_text
from dagger.serializers._wire import frame, unframe


@runtime_checkable
class MessageSerializer(Protocol):
    """What ``Dagger(message_serializer=...)`` accepts: encode for a subject, decode any."""

    def encode_record_with_schema(self, subject: str, schema: Any, record: Any) -> bytes:
        """Register ``schema`` under ``subject`` and return ``record`` encoded with it."""
        ...

    def decode_message(self, message: bytes | None) -> Any:
        """Return the record encoded in ``message`` (None for None)."""
        ...


def parse_schema(schema: Any) -> Any:
    """Return fastavro's parsed form of ``schema``; ValueError naming the problem if invalid."""
    try:
        if isinstance(schema, str):
            schema = json.loads(schema_text(schema))
        return fastavro.parse_schema(schema)
    except (SchemaParseException, UnknownType, TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"not a valid Avro schema: {type(exc).__name__}: {exc}") from exc


class AvroMessageSerializer:
    """Encodes and decodes Confluent-framed Avro messages with a :class:`SchemaRegistryClient`.

    Examples:
        >>> serializer = AvroMessageSerializer(SchemaRegistryClient("http://127.0.0.1:8081"))
        >>> raw = serializer.encode_record_with_schema(  # doctest: +SKIP
        ...     "orders-value", {"type": "record", "name": "Order",
        ...                      "fields": [{"name": "order_id", "type": "string"}]},
        ...     {"order_id": "o-1"})
        >>> serializer.decode_message(raw)  # doctest: +SKIP
        {'order_id': 'o-1'}

    Parsed schemas are cached by schema id. A schema id not seen before costs one
    registry request (:meth:`prepare_decode` makes it off the event loop).
    """

    def __init__(self, client: SchemaRegistryClient) -> None:
        if not isinstance(client, SchemaRegistryClient):
            raise TypeError(
                f"AvroMessageSerializer needs a SchemaRegistryClient, got {type(client).__name__}"
            )
        self.client = client
        self._parsed: dict[int, Any] = {}

    def encode_record_with_schema(self, subject: str, schema: Any, record: Any) -> bytes:
        """Register ``schema`` under ``subject`` (cached) and encode ``record`` with it."""
        schema_id = self.client.register(subject, schema)
        if schema_id not in self._parsed:
            self._parsed[schema_id] = parse_schema(schema)
        return self._encode(schema_id, record, subject)

    def encode_record_with_schema_id(self, schema_id: int, record: Any) -> bytes:
        """Encode ``record`` with the registered schema ``schema_id``."""
        return self._encode(schema_id, record, None)

    def decode_message(self, message: bytes | None) -> Any:
        """Return the record in ``message``; MalformedAvroMessage when it cannot be read."""
        if message is None:
            return None
        schema_id, body = unframe(message)
        parsed = self._schema(schema_id)
        stream = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(stream, parsed, None)
        except Exception as exc:
            raise MalformedAvroMessage(
                f"Avro body of {len(body)} byte(s) does not match schema {schema_id}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if stream.tell() != len(body):
            raise MalformedAvroMessage(
                f"Avro body has {len(body) - stream.tell()} byte(s) left over after the "
                f"record of schema {schema_id}"
            )
        return record

    async def prepare_decode(self, message: bytes) -> None:
        """Fetch the schema ``message`` names, in a thread, if it is not cached yet."""
        schema_id, _ = unframe(message)
        if schema_id not in self._parsed:
            schema = await asyncio.to_thread(self.client.get_by_id, schema_id)
            self._parsed.setdefault(schema_id, self._parse_registered(schema_id, schema))

    def _encode(self, schema_id: int, record: Any, subject: str | None) -> bytes:
        parsed = self._schema(schema_id)
        stream = io.BytesIO()
        try:
            fastavro.schemaless_writer(stream, parsed, record)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            target = f"subject {subject!r}" if subject else f"schema {schema_id}"
            raise InvalidAvroRecord(
                f"record does not match the Avro schema of {target}: {type(exc).__name__}: {exc}",
                subject=subject,
            ) from exc
        return frame(schema_id, stream.getvalue())

    def _schema(self, schema_id: int) -> Any:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            parsed = self._parse_registered(schema_id, self.client.get_by_id(schema_id))
            self._parsed[schema_id] = parsed
        return parsed

    @staticmethod
    def _parse_registered(schema_id: int, schema: Any) -> Any:
        try:
            return parse_schema(schema)
        except ValueError as exc:
            raise MalformedAvroMessage(f"registered schema {schema_id} is unusable: {exc}") from exc
