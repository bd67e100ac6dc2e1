"""Builders of command and listener task templates, and DAGBuilderHelper's shortcuts."""

from __future__ import annotations

import itertools
import logging
import random
from typing import Any

import faust
import pytest

from dagger.core._registry import class_key, task_classes
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultTemplateDAGInstance,
    ITemplateDAGInstance,
    KafkaCommandTask,
    KafkaListenerTask,
    TaskLookupKey,
)
from dagger.templates.template import (
    DefaultKafkaTaskTemplate,
    DefaultTaskTemplate,
    KafkaCommandTaskTemplateBuilder,
    KafkaListenerTaskTemplateBuilder,
)
from tests.unit._listener_workflows import (
    OrderCommand,
    OrderStatusListener,
    PaymentListener,
    Prepare,
    unique,
)


class NoCorrelationKey(KafkaListenerTask[str, Any]):
    """A listener that forgot to name the parameter it correlates on."""

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        return True


class AbstractCommand(KafkaCommandTask[str, Any]):
    """Does not implement ``execute``."""


class Status(faust.Record, serializer="json"):
    order_id: str
    status: str


def _kafka(builder: Any) -> DefaultKafkaTaskTemplate:
    template = builder.build()
    assert isinstance(template, DefaultKafkaTaskTemplate)
    return template


def _command(engine: Dagger, topic: Any = None) -> KafkaCommandTaskTemplateBuilder:
    return (
        KafkaCommandTaskTemplateBuilder(engine)
        .set_name("send_order")
        .set_type(OrderCommand)
        .set_topic(topic or unique("commands"))
    )


def _listener(engine: Dagger, topic: Any = None) -> KafkaListenerTaskTemplateBuilder:
    return (
        KafkaListenerTaskTemplateBuilder(engine)
        .set_name("await_ready")
        .set_type(OrderStatusListener)
        .set_topic(topic or unique("status"))
    )


async def _instance_of(
    engine: Dagger, *task_templates: Any, **params: Any
) -> ITemplateDAGInstance[Any, Any]:
    helper = DAGBuilderHelper(dagger_app=engine)
    first = task_templates[0]
    for template, following in itertools.pairwise(task_templates):
        template.task_dag_template.append(following)
    process = helper.generic_process_builder(process_name="P", root_task=first)
    template = helper.generic_template(
        template_name=unique("orders"), root_process=helper.build_and_link_processes([process])
    )
    params.setdefault("order_id", "o-1")
    return await template.create_instance("i-1", "order_id", seed=random.Random(0), **params)


def _task(instance: ITemplateDAGInstance[Any, Any], name: str) -> Any:
    [task] = [task for task in instance.tasks.values() if task.task_name == name]
    return task


# -- command tasks -----------------------------------------------------------------------


async def test_a_command_template_is_bound_to_its_topic(engine: Dagger) -> None:
    topic = unique("commands")

    template = _kafka(_command(engine, topic))

    assert isinstance(template, DefaultKafkaTaskTemplate)
    assert isinstance(template, DefaultTaskTemplate)
    assert (template.name, template.topic_name) == ("send_order", topic)
    assert template.topic is Dagger.topics[topic]
    assert (template.allow_skip_to, template.reprocess_on_message) == (False, False)
    assert class_key(OrderCommand) in task_classes
    # A command topic is only sent to: nothing routes its messages.
    assert topic not in engine._runtime.listeners.topics


async def test_a_command_task_instance_knows_its_topic(engine: Dagger) -> None:
    topic = unique("commands")

    instance = await _instance_of(engine, _command(engine, topic).build())

    task = _task(instance, "send_order")
    assert isinstance(task, OrderCommand)
    assert task.topic == topic
    assert task.status.code == "NOT_STARTED"


def test_a_command_topic_may_be_a_faust_topic(engine: Dagger) -> None:
    topic = Dagger.create_topic(unique("commands"), value_type=Status)

    template = _kafka(_command(engine, topic))

    assert template.topic is topic
    assert template.topic_name == topic.get_topic_name()


def test_a_topic_named_by_a_string_is_created_raw_as_in_the_original(engine: Dagger) -> None:
    name = unique("commands")

    _command(engine, name)

    created: Any = Dagger.topics[name]
    assert created.get_topic_name() == name
    assert created.value_serializer is None
    assert engine.faust_app.conf.value_serializer == "dagger_passthrough"


@pytest.mark.parametrize("topic", ["", 42, None, object()])
def test_a_topic_must_be_a_name_or_a_topic(engine: Dagger, topic: Any) -> None:
    with pytest.raises(TypeError, match="topic"):
        KafkaCommandTaskTemplateBuilder(engine).set_topic(topic)


@pytest.mark.parametrize("task_type", [OrderStatusListener, object, str])
def test_a_command_type_must_be_an_executor(engine: Dagger, task_type: Any) -> None:
    with pytest.raises(TypeError, match="ExecutorTask"):
        KafkaCommandTaskTemplateBuilder(engine).set_type(task_type)


def test_an_abstract_command_type_is_refused(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="implement execute"):
        KafkaCommandTaskTemplateBuilder(engine).set_type(AbstractCommand)  # type: ignore[type-abstract]


@pytest.mark.parametrize("missing", ["name", "type", "topic"])
def test_a_kafka_task_needs_name_type_and_topic(engine: Dagger, missing: str) -> None:
    builder = KafkaCommandTaskTemplateBuilder(engine)
    if missing != "name":
        builder.set_name("send_order")
    if missing != "type":
        builder.set_type(OrderCommand)
    if missing != "topic":
        builder.set_topic(unique("commands"))

    with pytest.raises(ValueError, match="set_topic"):
        builder.build()


def test_a_plain_executor_may_be_a_command(engine: Dagger) -> None:
    template = _kafka(_command(engine).set_type(Prepare))

    assert isinstance(template, DefaultKafkaTaskTemplate)


# -- listener tasks ----------------------------------------------------------------------


async def test_a_listener_template_routes_its_topic(engine: Dagger) -> None:
    topic = unique("status")

    template = _kafka(_listener(engine, topic))

    assert isinstance(template, DefaultKafkaTaskTemplate)
    assert template.topic_name == topic
    routed = engine._runtime.listeners.topics[topic]
    assert routed.task_types == [OrderStatusListener]
    assert routed.topic is Dagger.topics[topic]
    assert f"dagger_listener_{topic}" in engine.faust_app.agents
    assert class_key(OrderStatusListener) in task_classes


CONCURRENCY_BUG = (
    "dagger/templates/_task_builders.py KafkaListenerTaskTemplateBuilder.build: "
    "super().build() registers the listener (Dagger.register_listener -> "
    "EngineRuntime.add_listener creates the faust agent with "
    "_listener_concurrency.get(topic, 1)) before set_listener_concurrency records the "
    "builder's concurrency, so set_concurrency(n) never reaches the agent"
)


def test_set_concurrency_sets_how_many_messages_are_routed_at_once(engine: Dagger) -> None:
    topic = unique("status")

    _listener(engine, topic).set_concurrency(3).build()

    assert engine._runtime.listeners.topics[topic].concurrency == 3
    assert engine.faust_app.agents[f"dagger_listener_{topic}"].concurrency == 3


def test_the_helper_passes_the_listener_concurrency(engine: Dagger) -> None:
    topic = unique("status")

    DAGBuilderHelper(dagger_app=engine).generic_listener_task_builder(
        topic=topic, task_type=OrderStatusListener, process_name="ORDER", concurrency=4
    ).build()

    assert engine.faust_app.agents[f"dagger_listener_{topic}"].concurrency == 4


def test_a_second_listener_type_asking_for_more_concurrency_is_warned(
    engine: Dagger, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique("status")
    _listener(engine, topic).set_concurrency(2).build()

    with caplog.at_level(logging.WARNING, logger="dagger.runtime._engine"):
        (
            KafkaListenerTaskTemplateBuilder(engine)
            .set_name("await_payment")
            .set_type(PaymentListener)
            .set_topic(topic)
            .set_concurrency(5)
            .build()
        )

    assert engine._runtime.listeners.topics[topic].concurrency == 2
    assert "concurrency 2; 5 is ignored" in caplog.text


async def test_a_listener_task_instance_carries_topic_key_and_flags(engine: Dagger) -> None:
    topic = unique("status")
    builder = _listener(engine, topic).set_allow_skip_to(True).set_reprocess_on_message(True)

    instance = await _instance_of(engine, builder.build())

    task = _task(instance, "await_ready")
    assert isinstance(task, OrderStatusListener)
    assert (task.topic, task.correlatable_key) == (topic, "order_id")
    assert (task.allow_skip_to, task.reprocess_on_message) == (True, True)
    assert task.correlatable_key_value is None


def test_the_listener_flags_default_to_off(engine: Dagger) -> None:
    template = _kafka(_listener(engine))

    assert (template.allow_skip_to, template.reprocess_on_message) == (False, False)
    assert engine._runtime.listeners.topics[template.topic_name].concurrency == 1


def test_the_listener_flags_are_coerced_to_bools(engine: Dagger) -> None:
    template = _kafka(_listener(engine).set_allow_skip_to(1).set_reprocess_on_message("yes"))  # type: ignore[arg-type]

    assert template.allow_skip_to is True
    assert template.reprocess_on_message is True


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5, "2", None])
def test_concurrency_must_be_a_positive_int(engine: Dagger, concurrency: Any) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        KafkaListenerTaskTemplateBuilder(engine).set_concurrency(concurrency)


@pytest.mark.parametrize("task_type", [OrderCommand, Prepare, DefaultTemplateDAGInstance])
def test_a_listener_type_must_be_a_sensor(engine: Dagger, task_type: Any) -> None:
    with pytest.raises(TypeError, match="SensorTask"):
        KafkaListenerTaskTemplateBuilder(engine).set_type(task_type)


def test_a_listener_type_must_name_its_correlation_parameter(engine: Dagger) -> None:
    topic = unique("status")
    builder = KafkaListenerTaskTemplateBuilder(engine).set_name("await").set_topic(topic)

    with pytest.raises(TypeError, match="correlatable_key = '<parameter name>'"):
        builder.set_type(NoCorrelationKey).build()

    assert topic not in engine._runtime.listeners.topics


def test_the_template_itself_checks_the_correlation_parameter(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="NoCorrelationKey"):
        DefaultKafkaTaskTemplate(engine, NoCorrelationKey, "await", unique("status"), [], False)


async def test_creating_an_instance_without_the_listener_parameter_raises(engine: Dagger) -> None:
    template = _kafka(_listener(engine))

    with pytest.raises(ValueError, match=r"'await_ready' correlates on .*'order_id'"):
        await _instance_of(engine, template, order_id=None, customer="c-1")


async def test_a_command_needs_no_correlation_parameter(engine: Dagger) -> None:
    instance = await _instance_of(engine, _command(engine).build(), order_id="o-1")

    assert isinstance(_task(instance, "send_order"), OrderCommand)


async def test_two_listener_types_share_one_topic(engine: Dagger) -> None:
    topic = unique("status")
    _listener(engine, topic).build()

    (
        KafkaListenerTaskTemplateBuilder(engine)
        .set_name("await_payment")
        .set_type(PaymentListener)
        .set_topic(topic)
        .build()
    )

    routed = engine._runtime.listeners.topics[topic]
    assert routed.task_types == [OrderStatusListener, PaymentListener]
    assert [name for name in engine.faust_app.agents if topic in name] == [
        f"dagger_listener_{topic}"
    ]


async def test_the_same_listener_type_twice_is_routed_once(engine: Dagger) -> None:
    topic = unique("status")

    _listener(engine, topic).build()
    _listener(engine, topic).build()

    assert engine._runtime.listeners.topics[topic].task_types == [OrderStatusListener]


# -- DAGBuilderHelper shortcuts ----------------------------------------------------------


def test_generic_command_task_builder_names_the_task_after_its_process(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    topic = unique("commands")

    builder = helper.generic_command_task_builder(
        topic=topic, task_type=OrderCommand, process_name="ORDER"
    )
    template = _kafka(builder)

    assert isinstance(builder, KafkaCommandTaskTemplateBuilder)
    assert (template.name, template.topic_name) == ("ORDER_command_task", topic)
    assert getattr(Dagger.topics[topic], "value_serializer", None) is None
    assert topic not in engine._runtime.listeners.topics


def test_generic_command_task_builder_passes_the_topic_types(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    topic = unique("commands")

    helper.generic_command_task_builder(
        topic=topic,
        task_type=OrderCommand,
        process_name="ORDER",
        key_type=str,
        value_type=Status,
        key_serializer="raw",
    )

    created: Any = Dagger.topics[topic]
    assert (created.key_type, created.value_type, created.key_serializer) == (str, Status, "raw")


def test_generic_listener_task_builder_names_and_flags_the_task(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    topic = unique("status")

    builder = helper.generic_listener_task_builder(
        topic=topic,
        task_type=OrderStatusListener,
        process_name="ORDER",
        allow_skip_to=True,
        reprocess_on_message=True,
    )
    template = _kafka(builder)

    assert isinstance(builder, KafkaListenerTaskTemplateBuilder)
    assert (template.name, template.topic_name) == ("ORDER_listener_task", topic)
    assert (template.allow_skip_to, template.reprocess_on_message) == (True, True)
    assert engine._runtime.listeners.topics[topic].task_types == [OrderStatusListener]


def test_generic_listener_task_builder_defaults(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    topic = unique("status")

    template = _kafka(
        helper.generic_listener_task_builder(
            topic=topic, task_type=OrderStatusListener, process_name="ORDER"
        )
    )

    assert (template.allow_skip_to, template.reprocess_on_message) == (False, False)
    assert engine._runtime.listeners.topics[topic].concurrency == 1
    assert getattr(Dagger.topics[topic], "value_serializer", None) is None


def test_a_listener_topic_with_a_value_type_decodes_records(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    topic = unique("status")

    helper.generic_listener_task_builder(
        topic=topic, task_type=OrderStatusListener, process_name="ORDER", value_type=Status
    ).build()

    decoded = engine._runtime.listeners.decode(topic, b'{"order_id": "o-1", "status": "READY"}')
    assert decoded == Status(order_id="o-1", status="READY")


async def test_the_helpers_chain_command_and_listener_in_order(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    first = helper.build_and_link_tasks(
        [
            helper.generic_executor_task_builder(task_type=Prepare, name="prepare"),
            helper.generic_command_task_builder(
                topic=unique("commands"), task_type=OrderCommand, process_name="ORDER"
            ),
            helper.generic_listener_task_builder(
                topic=unique("status"), task_type=OrderStatusListener, process_name="ORDER"
            ),
        ]
    )

    names = []
    current: Any = first
    while current is not None:
        names.append(current.name)
        current = current.task_dag_template[0] if current.task_dag_template else None
    assert names == ["prepare_executor_task", "ORDER_command_task", "ORDER_listener_task"]
