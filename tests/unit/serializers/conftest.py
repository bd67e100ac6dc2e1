"""A schema-registry stand-in per test, and the schemas the serializer tests use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagger.serializers.avro import AvroMessageSerializer, SchemaRegistryClient
from dagger.testing import SchemaRegistryStandIn

ORDER: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "quantity", "type": "int"},
    ],
}
STATUS: dict[str, Any] = {
    "type": "record",
    "name": "Status",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {
            "name": "status",
            "type": {"type": "enum", "name": "State", "symbols": ["COOKING", "READY"]},
        },
    ],
}


@pytest.fixture
def registry() -> Iterator[SchemaRegistryStandIn]:
    """A started stand-in on 127.0.0.1, stopped when the test ends."""
    with SchemaRegistryStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def client(registry: SchemaRegistryStandIn) -> SchemaRegistryClient:
    return SchemaRegistryClient(registry.url)


@pytest.fixture
def serializer(client: SchemaRegistryClient) -> AvroMessageSerializer:
    return AvroMessageSerializer(client)
