"""The faust codec that puts Avro on a topic, and the ``create_topic`` schema arguments.

A faust topic encodes what ``topic.send`` is given with its key and value codecs, and the
engine decodes listener messages with the same codecs, so one :class:`AvroCodec` per topic
side is all the wiring Avro needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.models.record import Record
from faust.serializers.codecs import Codec

from dagger.exceptions.exceptions import ConfigurationError

_METADATA_FIELD = "__faust"


class AvroCodec(Codec):
    """A faust codec encoding with ``serializer`` for ``subject`` and ``schema``.

    ``serializer`` is the engine's ``message_serializer`` (anything with
    ``encode_record_with_schema`` and ``decode_message``). Pass it as a topic's
    ``key_serializer``/``value_serializer`` to choose the subject yourself; with
    ``Dagger.create_topic(..., value_schema=...)`` the engine makes one for you.

    Examples:
        >>> codec = AvroCodec(engine.message_serializer, "orders-value", ORDER)  # doctest: +SKIP
        >>> Dagger.create_topic("orders", value_serializer=codec)  # doctest: +SKIP
    """

    def __init__(
        self,
        serializer: Any,
        subject: str,
        schema: Any,
        *,
        children: tuple[Any, ...] | None = None,
    ) -> None:
        if not callable(getattr(serializer, "encode_record_with_schema", None)) or not callable(
            getattr(serializer, "decode_message", None)
        ):
            raise TypeError(
                "AvroCodec needs a message serializer with encode_record_with_schema() and "
                f"decode_message(), got {type(serializer).__name__}"
            )
        if not isinstance(subject, str) or not subject:
            raise ValueError(f"a schema subject is a non-empty string, got {subject!r}")
        super().__init__(children, serializer=serializer, subject=subject, schema=schema)
        self.serializer = serializer
        self.subject = subject
        self.schema = schema

    def _dumps(self, obj: Any) -> bytes:
        encoded: bytes = self.serializer.encode_record_with_schema(
            self.subject, self.schema, plain(obj)
        )
        return encoded

    def _loads(self, raw: bytes) -> Any:
        return self.serializer.decode_message(raw)

    async def prepare_loads(self, raw: bytes) -> None:
        """Resolve what decoding ``raw`` needs (its schema) without blocking the event loop."""
        prepare = getattr(self.serializer, "prepare_decode", None)
        if prepare is not None:
            await prepare(raw)


def plain(value: Any) -> Any:
    """Return ``value`` with faust records turned into dicts (without faust's metadata)."""
    if isinstance(value, Record):
        value = value.to_representation()
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items() if key != _METADATA_FIELD}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def schema_codecs(
    serializer: Any,
    topic_name: str,
    *,
    key_schema: Any,
    value_schema: Any,
    key_serializer: Any,
    value_serializer: Any,
) -> tuple[Any, Any]:
    """Return the key and value codecs of ``create_topic``, Avro where a schema is given.

    The subjects follow Confluent's default TopicNameStrategy: ``<topic>-key`` and
    ``<topic>-value``.
    """
    codecs = []
    for side, schema, given in (
        ("key", key_schema, key_serializer),
        ("value", value_schema, value_serializer),
    ):
        if schema is None:
            codecs.append(given)
            continue
        if given is not None:
            raise ConfigurationError(
                f"create_topic({topic_name!r}): pass {side}_schema or {side}_serializer, not both"
            )
        if serializer is None:
            raise ConfigurationError(
                f"create_topic({topic_name!r}, {side}_schema=...) needs Avro configured: "
                "Dagger(schema_registry_url='http://host:8081') or Dagger(message_serializer=...)"
            )
        _check_schema(schema, f"{side}_schema of topic {topic_name!r}")
        codecs.append(AvroCodec(serializer, f"{topic_name}-{side}", schema))
    return codecs[0], codecs[1]


def _check_schema(schema: Any, what: str) -> None:
    """Fail now, not on the first send, when a dict/list/JSON schema is not valid Avro."""
    if not isinstance(schema, (dict, list, str)):
        return  # a third-party serializer's own schema object: it checks it itself
    from dagger.serializers._avro_serializer import parse_schema

    try:
        parse_schema(schema)
    except ValueError as exc:
        raise ConfigurationError(f"{what}: {exc}") from exc
