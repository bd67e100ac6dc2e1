"""Validation of ``Dagger(schema_registry_url=..., message_serializer=...)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError
from dagger.serializers._registry_client import SchemaRegistryClient, check_registry_url


@dataclass(frozen=True)
class SerializerSettings:
    """The engine's Avro serializer and registry client; both None when Avro is not used."""

    message_serializer: Any = None
    schema_registry_client: SchemaRegistryClient | None = None


def resolve_serializer(schema_registry_url: Any, message_serializer: Any) -> SerializerSettings:
    """Check the two Avro arguments and build the serializer the URL asks for.

    - ``schema_registry_url`` alone: an :class:`AvroMessageSerializer` over a
      :class:`SchemaRegistryClient` of that URL.
    - ``message_serializer``: used as given (it must have ``encode_record_with_schema`` and
      ``decode_message``); a URL given with it builds ``engine.schema_registry_client``.
    """
    url: str | None = None
    if schema_registry_url is not None:
        try:
            url = check_registry_url(schema_registry_url)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
    if message_serializer is not None:
        missing = [
            name
            for name in ("encode_record_with_schema", "decode_message")
            if not callable(getattr(message_serializer, name, None))
        ]
        if missing:
            raise ConfigurationError(
                "message_serializer must have encode_record_with_schema(subject, schema, "
                "record) and decode_message(message), like "
                "dagger.serializers.avro.AvroMessageSerializer; "
                f"{type(message_serializer).__name__} has no {', '.join(missing)}"
            )
        client = getattr(message_serializer, "client", None)
        if not isinstance(client, SchemaRegistryClient):
            client = None if url is None else SchemaRegistryClient(url)
        elif url is not None and SchemaRegistryClient(url).url != client.url:
            raise ConfigurationError(
                f"schema_registry_url={url!r} is not the registry of the message_serializer "
                f"({client.url!r}); pass one of them"
            )
        return SerializerSettings(message_serializer, client)
    if url is None:
        return SerializerSettings()
    try:
        from dagger.serializers._avro_serializer import AvroMessageSerializer
    except ImportError:
        raise ConfigurationError(
            "schema_registry_url needs fastavro: pip install 'dagger-workflows[avro]'"
        ) from None
    client = SchemaRegistryClient(url)
    return SerializerSettings(AvroMessageSerializer(client), client)
