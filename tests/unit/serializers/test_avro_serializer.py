"""The fastavro serializer: Confluent-framed records, schemas registered and fetched."""

from __future__ import annotations

import io
import struct

import fastavro
import pytest

from dagger.serializers.avro import (
    AvroMessageSerializer,
    InvalidAvroRecord,
    MalformedAvroMessage,
    MessageSerializer,
    SchemaNotFound,
    SchemaRegistryClient,
    unframe,
)
from dagger.testing import SchemaRegistryStandIn
from tests.unit.serializers.conftest import ORDER, STATUS

RECORD = {"order_id": "o-1", "quantity": 3}


def test_a_record_is_framed_with_its_registered_schema_id_and_avro_body(
    registry: SchemaRegistryStandIn, serializer: AvroMessageSerializer
) -> None:
    raw = serializer.encode_record_with_schema("orders-value", ORDER, RECORD)

    [schema_id] = registry.subjects()["orders-value"]
    assert raw[0] == 0
    assert struct.unpack(">I", raw[1:5]) == (schema_id,)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(ORDER), RECORD)
    assert raw[5:] == body.getvalue()


def test_a_record_round_trips_through_a_serializer_that_never_saw_its_schema(
    registry: SchemaRegistryStandIn, serializer: AvroMessageSerializer
) -> None:
    raw = serializer.encode_record_with_schema(
        "status-value", STATUS, {"order_id": "o-1", "status": "READY"}
    )
    reader = AvroMessageSerializer(SchemaRegistryClient(registry.url))

    assert reader.decode_message(raw) == {"order_id": "o-1", "status": "READY"}
    assert reader.decode_message(raw) == {"order_id": "o-1", "status": "READY"}
    fetches = [request for request in registry.requests if request.method == "GET"]
    assert len(fetches) == 1


def test_a_primitive_schema_given_by_name_encodes(serializer: AvroMessageSerializer) -> None:
    raw = serializer.encode_record_with_schema("orders-key", "string", "o-1")

    assert serializer.decode_message(raw) == "o-1"


def test_encode_with_a_schema_id(serializer: AvroMessageSerializer) -> None:
    schema_id = serializer.client.register("orders-value", ORDER)
    fresh = AvroMessageSerializer(serializer.client)

    raw = fresh.encode_record_with_schema_id(schema_id, RECORD)

    assert unframe(raw)[0] == schema_id
    assert fresh.decode_message(raw) == RECORD


def test_none_decodes_to_none(serializer: AvroMessageSerializer) -> None:
    assert serializer.decode_message(None) is None


def test_a_record_that_does_not_match_its_schema_is_refused(
    serializer: AvroMessageSerializer,
) -> None:
    with pytest.raises(InvalidAvroRecord, match="subject 'orders-value'") as caught:
        serializer.encode_record_with_schema("orders-value", ORDER, {"order_id": "o-1"})

    assert caught.value.subject == "orders-value"


def test_an_invalid_schema_is_refused_before_anything_is_encoded(
    registry: SchemaRegistryStandIn, serializer: AvroMessageSerializer
) -> None:
    with pytest.raises(ValueError, match="not a valid Avro schema"):
        serializer.encode_record_with_schema(
            "orders-value", {"type": "record", "name": "Bad", "fields": [{"name": "x"}]}, {}
        )


# -- malformed messages -------------------------------------------------------------------


def test_a_message_without_the_magic_byte_is_malformed(serializer: AvroMessageSerializer) -> None:
    with pytest.raises(MalformedAvroMessage, match="magic byte"):
        serializer.decode_message(b"\x01\x00\x00\x00\x01\x02")


def test_an_unknown_schema_id_is_not_found(serializer: AvroMessageSerializer) -> None:
    with pytest.raises(SchemaNotFound, match="Schema 4242 not found"):
        serializer.decode_message(b"\x00" + struct.pack(">I", 4242) + b"\x02")


def test_a_truncated_body_is_malformed(serializer: AvroMessageSerializer) -> None:
    raw = serializer.encode_record_with_schema("orders-value", ORDER, RECORD)

    with pytest.raises(MalformedAvroMessage, match="does not match schema"):
        serializer.decode_message(raw[:-2])


def test_bytes_left_over_after_the_record_are_malformed(serializer: AvroMessageSerializer) -> None:
    raw = serializer.encode_record_with_schema("orders-value", ORDER, RECORD)

    with pytest.raises(MalformedAvroMessage, match="1 byte"):
        serializer.decode_message(raw + b"\x00")


# -- fetching off the event loop ------------------------------------------------------------


async def test_prepare_decode_fetches_the_schema_once(
    registry: SchemaRegistryStandIn, serializer: AvroMessageSerializer
) -> None:
    raw = serializer.encode_record_with_schema("orders-value", ORDER, RECORD)
    reader = AvroMessageSerializer(SchemaRegistryClient(registry.url))

    await reader.prepare_decode(raw)
    await reader.prepare_decode(raw)
    fetched = [request.path for request in registry.requests if request.method == "GET"]
    assert reader.decode_message(raw) == RECORD

    assert fetched == [f"/schemas/ids/{unframe(raw)[0]}"]
    assert len([r for r in registry.requests if r.method == "GET"]) == 1


async def test_prepare_decode_raises_what_decoding_would(serializer: AvroMessageSerializer) -> None:
    with pytest.raises(MalformedAvroMessage):
        await serializer.prepare_decode(b"{}")
    with pytest.raises(SchemaNotFound):
        await serializer.prepare_decode(b"\x00\x00\x00\x00\x09\x02")


def test_the_serializer_is_a_message_serializer(serializer: AvroMessageSerializer) -> None:
    assert isinstance(serializer, MessageSerializer)
    with pytest.raises(TypeError, match="needs a SchemaRegistryClient"):
        AvroMessageSerializer("http://127.0.0.1:8081")  # type: ignore[arg-type]
