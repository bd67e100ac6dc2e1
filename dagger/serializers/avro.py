"""Avro for command and listener topics: Confluent wire format, schemas from a registry.

Configure the engine with ``Dagger(schema_registry_url="http://host:8081")`` (or
``message_serializer=``) and give a topic a schema with
``Dagger.create_topic(name, value_schema=..., key_schema=...)``; see docs/operations.md.
Needs the ``avro`` extra (fastavro).
"""

from __future__ import annotations

from dagger.serializers._avro_serializer import AvroMessageSerializer, MessageSerializer
from dagger.serializers._codec import AvroCodec
from dagger.serializers._errors import (
    AvroError,
    InvalidAvroRecord,
    MalformedAvroMessage,
    SchemaNotFound,
    SchemaRegistryError,
)
from dagger.serializers._registry_client import SchemaRegistryClient
from dagger.serializers._wire import MAGIC_BYTE, frame, unframe

__all__ = [
    "MAGIC_BYTE",
    "AvroCodec",
    "AvroError",
    "AvroMessageSerializer",
    "InvalidAvroRecord",
    "MalformedAvroMessage",
    "MessageSerializer",
    "SchemaNotFound",
    "SchemaRegistryClient",
    "SchemaRegistryError",
    "frame",
    "unframe",
]
