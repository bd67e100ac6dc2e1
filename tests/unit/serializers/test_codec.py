"""AvroCodec: Avro as a faust topic codec, for values given as dicts or faust records."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from faust.serializers.registry import Registry

from dagger.serializers.avro import AvroCodec, AvroMessageSerializer, unframe
from dagger.testing import SchemaRegistryStandIn
from tests.unit.serializers.conftest import ORDER


class Order(faust.Record, serializer="json"):
    order_id: str
    quantity: int


class Wrapper(faust.Record):
    order: Order
    notes: list[str]


WRAPPER: dict[str, Any] = {
    "type": "record",
    "name": "Wrapper",
    "fields": [
        {"name": "order", "type": ORDER},
        {"name": "notes", "type": {"type": "array", "items": "string"}},
    ],
}


def test_the_codec_encodes_for_its_subject_and_decodes(
    registry: SchemaRegistryStandIn, serializer: AvroMessageSerializer
) -> None:
    codec = AvroCodec(serializer, "orders-value", ORDER)

    raw = codec.dumps({"order_id": "o-1", "quantity": 2})

    assert unframe(raw)[0] == registry.subjects()["orders-value"][0]
    assert codec.loads(raw) == {"order_id": "o-1", "quantity": 2}


def test_faust_records_are_encoded_without_faust_metadata(
    serializer: AvroMessageSerializer,
) -> None:
    codec = AvroCodec(serializer, "wrapped-value", WRAPPER)
    value = Wrapper(order=Order(order_id="o-1", quantity=2), notes=("a", "b"))

    raw = Registry().dumps_value(None, value, serializer=codec)

    assert raw is not None and raw[0] == 0
    assert codec.loads(raw) == {"order": {"order_id": "o-1", "quantity": 2}, "notes": ["a", "b"]}


def test_a_record_topic_decodes_avro_into_the_record(serializer: AvroMessageSerializer) -> None:
    codec = AvroCodec(serializer, "orders-value", ORDER)
    raw = codec.dumps({"order_id": "o-1", "quantity": 2})

    assert Registry().loads_value(Order, raw, serializer=codec) == Order("o-1", 2)


def test_a_clone_keeps_the_subject_and_schema(serializer: AvroMessageSerializer) -> None:
    codec = AvroCodec(serializer, "orders-value", ORDER)

    clone = codec.clone()

    assert isinstance(clone, AvroCodec)
    assert (clone.serializer, clone.subject, clone.schema) == (serializer, "orders-value", ORDER)


async def test_prepare_loads_is_a_no_op_for_a_serializer_without_prepare_decode() -> None:
    class Plain:
        def encode_record_with_schema(self, subject: str, schema: Any, record: Any) -> bytes:
            return b"x"

        def decode_message(self, message: bytes | None) -> Any:
            return message

    codec = AvroCodec(Plain(), "s", ORDER)

    await codec.prepare_loads(b"anything")
    assert codec.loads(b"raw") == b"raw"


def test_bad_codec_arguments_are_refused(serializer: AvroMessageSerializer) -> None:
    with pytest.raises(TypeError, match="encode_record_with_schema"):
        AvroCodec(object(), "orders-value", ORDER)
    with pytest.raises(ValueError, match="subject"):
        AvroCodec(serializer, "", ORDER)
