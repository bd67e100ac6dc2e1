"""Avro listener topics: messages are decoded before the key hooks; bad ones are dead letters."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from faust.serializers.registry import Registry

from dagger.core._keys import index_key
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._listeners import ListenerIntake
from dagger.serializers.avro import AvroCodec, AvroMessageSerializer, SchemaRegistryClient
from dagger.tasks.task import KafkaListenerTask, TaskLookupKey
from dagger.testing import SchemaRegistryStandIn

TOPIC = "status"
ORIGIN = {"topic": TOPIC, "partition": 1, "offset": 7}
STATUS: dict[str, Any] = {
    "type": "record",
    "name": "Status",
    "fields": [{"name": "order_id", "type": "string"}, {"name": "status", "type": "string"}],
}


class ByOrder(KafkaListenerTask[str, Any]):
    seen: list[Any] = []

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        ByOrder.seen.append(payload)
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        return True


class Routing:
    """A ListenerIntake over one Avro topic, with what it sends and its dead letters."""

    def __init__(self, registry_url: str) -> None:
        self.sent: list[str] = []
        self.letters: list[dict[str, Any]] = []
        # The producer and the engine do not share a cache, as in production.
        self.producer = AvroMessageSerializer(SchemaRegistryClient(registry_url))
        engine_serializer = AvroMessageSerializer(SchemaRegistryClient(registry_url))

        async def send(event: Any, key: str, partition: int) -> None:
            self.sent.append(key)

        async def send_letter(key: bytes, value: bytes) -> None:
            self.letters.append(json.loads(value))

        self.router = ListenerIntake(
            serializers=Registry(),
            send=send,
            partitions=4,
            dead_letters=DeadLetterWriter(send_letter),
            message_id_header=None,
        )
        topic = type("Topic", (), {})()
        topic.value_type = None
        topic.value_serializer = AvroCodec(engine_serializer, f"{TOPIC}-value", STATUS)
        self.router.register(TOPIC, topic, ByOrder)

    def encode(self, record: dict[str, Any]) -> bytes:
        return self.producer.encode_record_with_schema(f"{TOPIC}-value", STATUS, record)

    async def route(self, raw: bytes) -> int:
        return await self.router.route(TOPIC, raw, dict(ORIGIN))


@pytest.fixture
def routing() -> Iterator[Routing]:
    ByOrder.seen = []
    with SchemaRegistryStandIn() as registry:
        yield Routing(registry.url)


async def test_an_avro_message_is_decoded_before_its_keys_are_taken(routing: Routing) -> None:
    raw = routing.encode({"order_id": "o-1", "status": "READY"})

    assert await routing.route(raw) == 1

    assert ByOrder.seen == [{"order_id": "o-1", "status": "READY"}]
    assert routing.sent == [index_key(TOPIC, "order_id", "o-1")]
    assert routing.router.decode(TOPIC, raw) == {"order_id": "o-1", "status": "READY"}
    assert routing.letters == []


@pytest.mark.parametrize(
    ("mangle", "error_type"),
    [
        (lambda raw: b"\x01" + raw[1:], "MalformedAvroMessage"),
        (lambda raw: b'{"order_id": "o-1", "status": "READY"}', "MalformedAvroMessage"),
        (lambda raw: raw[:3], "MalformedAvroMessage"),
        (lambda raw: raw[:-3], "MalformedAvroMessage"),
        (lambda raw: b"\x00" + struct.pack(">I", 999) + raw[5:], "SchemaNotFound"),
    ],
    ids=["bad-magic-byte", "json", "short-header", "truncated-body", "unknown-schema-id"],
)
async def test_a_malformed_avro_message_goes_to_the_dead_letters(
    routing: Routing, mangle: Any, error_type: str
) -> None:
    raw = mangle(routing.encode({"order_id": "o-1", "status": "READY"}))

    assert await routing.route(raw) == 0

    [letter] = routing.letters
    assert letter["reason"] == "undecodable"
    assert letter["error_type"] == error_type
    assert letter["origin"] == ORIGIN
    assert base64.b64decode(letter["value"]) == raw
    assert routing.sent == [] and ByOrder.seen == []


async def test_routing_goes_on_after_a_malformed_message(routing: Routing) -> None:
    good = routing.encode({"order_id": "o-2", "status": "COOKING"})

    await routing.route(b"\x00\x00")
    await routing.route(good)

    assert len(routing.letters) == 1
    assert routing.sent == [index_key(TOPIC, "order_id", "o-2")]


def test_a_value_is_encoded_with_the_topics_avro_codec(routing: Routing) -> None:
    """What LocalEngine.send_message uses: the bytes are the Avro wire format, not JSON."""
    raw = routing.router.encode(TOPIC, {"order_id": "o-3", "status": "READY"})

    assert raw[:1] == b"\x00"
    assert routing.router.decode(TOPIC, raw) == {"order_id": "o-3", "status": "READY"}


def test_a_value_for_a_json_topic_is_encoded_as_json() -> None:
    async def send(event: Any, key: str, partition: int) -> None:
        raise AssertionError("nothing is routed here")

    router = ListenerIntake(
        serializers=Registry(),
        send=send,
        partitions=4,
        dead_letters=DeadLetterWriter(None),
        message_id_header=None,
    )
    topic = type("Topic", (), {})()
    topic.value_type = None
    topic.value_serializer = "json"
    router.register("plain", topic, ByOrder)

    assert json.loads(router.encode("plain", {"order_id": "o-4"})) == {"order_id": "o-4"}
