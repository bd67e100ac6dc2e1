"""``Dagger(schema_registry_url=..., message_serializer=...)`` and Avro topics."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from dagger.exceptions.exceptions import ConfigurationError
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.serializers.avro import AvroCodec, AvroMessageSerializer, SchemaRegistryClient
from dagger.service.services import Dagger
from dagger.tasks.task import KafkaCommandTask, KafkaListenerTask
from dagger.testing import SchemaRegistryStandIn
from tests.unit._workflows import OFFLINE_BROKER
from tests.unit.serializers.conftest import ORDER, STATUS


def _engine(**arguments: Any) -> Dagger:
    return Dagger(broker=OFFLINE_BROKER, store="memory://", **arguments)


class Plain:
    """A message serializer of the user's own (the protocol only)."""

    def encode_record_with_schema(self, subject: str, schema: Any, record: Any) -> bytes:
        return f"{subject}:{record}".encode()

    def decode_message(self, message: bytes | None) -> Any:
        return message


def test_without_avro_arguments_there_is_no_serializer() -> None:
    engine = _engine()

    assert engine.message_serializer is None
    assert engine.schema_registry_client is None


def test_a_registry_url_builds_the_avro_serializer() -> None:
    engine = _engine(schema_registry_url="http://127.0.0.1:8081/")

    assert isinstance(engine.message_serializer, AvroMessageSerializer)
    assert engine.message_serializer.client is engine.schema_registry_client
    assert engine.schema_registry_client is not None
    assert engine.schema_registry_client.url == "http://127.0.0.1:8081"


def test_a_message_serializer_is_used_as_given() -> None:
    serializer = Plain()

    engine = _engine(message_serializer=serializer)

    assert engine.message_serializer is serializer
    assert engine.schema_registry_client is None


def test_a_url_with_a_foreign_serializer_gives_the_engine_a_registry_client() -> None:
    engine = _engine(message_serializer=Plain(), schema_registry_url="https://registry:8081")

    assert engine.schema_registry_client is not None
    assert engine.schema_registry_client.url == "https://registry:8081"


def test_a_url_naming_another_registry_than_the_serializer_is_refused() -> None:
    serializer = AvroMessageSerializer(SchemaRegistryClient("http://a:8081"))

    assert _engine(message_serializer=serializer, schema_registry_url="http://a:8081/")
    with pytest.raises(ConfigurationError, match="not the registry of the message_serializer"):
        _engine(message_serializer=serializer, schema_registry_url="http://b:8081")


@pytest.mark.parametrize("url", ["registry:8081", "kafka://registry:8081", "http://", 8081])
def test_a_registry_url_that_is_not_http_is_refused(url: Any) -> None:
    with pytest.raises(ConfigurationError, match="schema_registry_url must be an http"):
        _engine(schema_registry_url=url)


@pytest.mark.parametrize("serializer", [object(), "avro", AvroCodec])
def test_a_message_serializer_without_the_two_calls_is_refused(serializer: Any) -> None:
    with pytest.raises(ConfigurationError, match="message_serializer must have"):
        _engine(message_serializer=serializer)


# -- topics ------------------------------------------------------------------------------


def test_a_value_schema_makes_the_topic_avro_under_the_topic_name_subject() -> None:
    engine = _engine(schema_registry_url="http://127.0.0.1:8081")

    topic = Dagger.create_topic("orders", value_schema=ORDER, key_schema="string")

    assert isinstance(topic.value_serializer, AvroCodec)
    assert topic.value_serializer.subject == "orders-value"
    assert topic.value_serializer.schema == ORDER
    assert topic.value_serializer.serializer is engine.message_serializer
    assert isinstance(topic.key_serializer, AvroCodec)
    assert topic.key_serializer.subject == "orders-key"


def test_create_topic_keeps_its_original_positional_signature() -> None:
    _engine(message_serializer=Plain())
    codec = AvroCodec(Plain(), "custom-subject", ORDER)

    topic = Dagger.create_topic("orders", None, None, None, codec)

    assert topic.value_serializer is codec


def test_a_schema_without_avro_configured_is_refused() -> None:
    _engine()

    with pytest.raises(ConfigurationError, match="needs Avro configured"):
        Dagger.create_topic("orders", value_schema=ORDER)


def test_a_schema_and_a_serializer_for_the_same_side_are_refused() -> None:
    _engine(message_serializer=Plain())

    with pytest.raises(ConfigurationError, match="value_schema or value_serializer, not both"):
        Dagger.create_topic("orders", value_schema=ORDER, value_serializer="json")


def test_an_invalid_schema_is_refused_when_the_topic_is_created() -> None:
    _engine(schema_registry_url="http://127.0.0.1:8081")

    with pytest.raises(ConfigurationError, match=r"key_schema of topic 'orders'.*not a valid Avro"):
        Dagger.create_topic("orders", key_schema={"type": "no-such-type"})


class Command(KafkaCommandTask[str, Any]):
    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: Any = None
    ) -> None:
        return None


class Listener(KafkaListenerTask[str, Any]):
    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        return True


def test_the_builder_helper_passes_the_schemas_to_the_topics() -> None:
    engine = _engine(schema_registry_url="http://127.0.0.1:8081")
    helper = DAGBuilderHelper(dagger_app=engine)

    helper.generic_command_task_builder(
        topic="orders", task_type=Command, process_name="p", value_schema=ORDER
    )
    helper.generic_listener_task_builder(
        topic="status",
        task_type=Listener,
        process_name="p",
        value_schema=STATUS,
        key_schema="string",
    )

    assert Dagger.topics["orders"].value_serializer.subject == "orders-value"
    assert Dagger.topics["status"].value_serializer.subject == "status-value"
    assert Dagger.topics["status"].key_serializer.subject == "status-key"


def test_an_avro_topic_encodes_what_it_sends(registry: SchemaRegistryStandIn) -> None:
    engine = _engine(schema_registry_url=registry.url)
    topic = Dagger.create_topic("orders", value_schema=ORDER, key_schema="string")

    key, _ = topic.prepare_key("o-1", None)
    value, _ = topic.prepare_value({"order_id": "o-1", "quantity": 1}, None)

    assert key is not None and value is not None
    assert sorted(registry.subjects()) == ["orders-key", "orders-value"]
    assert engine.message_serializer.decode_message(key) == "o-1"
    assert engine.message_serializer.decode_message(value) == {"order_id": "o-1", "quantity": 1}


def test_a_registry_url_without_fastavro_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fastavro", None)
    monkeypatch.delitem(sys.modules, "dagger.serializers._avro_serializer")

    with pytest.raises(ConfigurationError, match=r"pip install 'dagger-workflows\[avro\]'"):
        _engine(schema_registry_url="http://127.0.0.1:8081")
