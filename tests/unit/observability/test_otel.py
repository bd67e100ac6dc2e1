"""OpenTelemetry spans and metrics of workflows run in a LocalEngine (SDK in-memory exporters)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from dagger.core import _codec as codec
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.observability import OpenTelemetry, _otel, trace_headers
from dagger.observability._sensor import HookHeadersSensor
from dagger.service.services import Dagger
from dagger.tasks._hook_context import running_hook
from dagger.tasks.task import ITemplateDAGInstance, KafkaCommandTask
from dagger.templates.template import ITemplateDAG
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import (
    LISTENER,
    PROCESS,
    OrderStatusListener,
    new_engine,
    unique,
)
from tests.unit._timed_workflows import START, alarm, process, step, template
from tests.unit._workflows import FailingTask, RecordingTask, build_template, task_named
from tests.unit.observability.conftest import Otel


class TracedCommand(KafkaCommandTask[str, Any]):
    """Sends the order with the hook's trace headers, as a service-bound command would."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        await Dagger.app.topics[str(self.topic)].send(
            value={"order_id": runtime_parameters["order_id"]}, headers=trace_headers()
        )


def _command_reply_template(engine: Dagger, status_topic: str) -> ITemplateDAG:
    helper = DAGBuilderHelper(dagger_app=engine)
    tasks = helper.build_and_link_tasks(
        [
            helper.generic_command_task_builder(
                topic=unique("commands"), task_type=TracedCommand, process_name=PROCESS
            ),
            helper.generic_listener_task_builder(
                topic=status_topic,
                task_type=OrderStatusListener,
                process_name=PROCESS,
                value_serializer="json",
            ),
            helper.generic_executor_task_builder(task_type=RecordingTask, name="deliver"),
        ]
    )
    return helper.generic_template(
        template_name=unique("orders"),
        root_process=helper.build_and_link_processes(
            [helper.generic_process_builder(process_name=PROCESS, root_task=tasks)]
        ),
    )


def _ids(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _ids_in(traceparent: str | bytes | None) -> tuple[int, int]:
    """The trace and span ids of a W3C ``traceparent`` value."""
    assert traceparent is not None
    text = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
    version, trace_id, span_id, _flags = text.split("-")
    assert version == "00"
    return int(trace_id, 16), int(span_id, 16)


async def test_each_task_execution_is_a_child_span_of_the_instance_root(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    orders = build_template(
        engine, [("payment", [("charge", RecordingTask)]), ("shipping", [("ship", RecordingTask)])]
    )
    async with LocalEngine(engine) as local:
        instance = await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1")
        await engine.submit(instance)
        stored = local.get_instance(instance.id)

    [root] = otel.spans("dagger.instance")
    executions = otel.spans("dagger.task.execute")
    trace_id, root_id = _ids(root)
    assert root.attributes is not None
    assert root.attributes["dagger.instance.id"] == instance.id
    assert root.attributes["dagger.template"] == "orders"
    assert sorted(span.attributes["dagger.task.name"] for span in executions) == [  # type: ignore[index]
        "charge_executor_task",
        "ship_executor_task",
    ]
    for span in executions:
        assert span.context is not None
        assert span.context.trace_id == trace_id
        assert _parent_id(span) == root_id
        assert span.attributes is not None
        assert span.attributes["dagger.instance.id"] == instance.id
        assert span.attributes["dagger.hook"] == "execute"
        assert span.attributes["dagger.task.type"] == "RecordingTask"
        assert span.attributes["dagger.outcome"] == "ok"
        assert span.status.status_code is not StatusCode.ERROR
    assert stored is not None
    assert _ids_in(stored.traceparent) == _ids(root)


async def test_the_trace_context_is_stored_with_the_instance(engine: Dagger) -> None:
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    instance = await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1")
    assert "traceparent" not in codec.to_document(instance)["f"]
    instance.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    decoded = codec.decode(codec.encode(instance))

    assert decoded.traceparent == instance.traceparent


async def test_a_reply_carrying_the_command_context_is_parented_to_it(otel: Otel) -> None:
    status_topic = unique("status")
    engine = new_engine(telemetry=otel.telemetry)
    orders = _command_reply_template(engine, status_topic)
    async with LocalEngine(engine) as local:
        instance = await orders.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )
        [command] = local.sent
        # The replying service propagates the command's context to its reply.
        await local.send_message(
            status_topic,
            {"order_id": "o-1", "status": "READY"},
            headers={"traceparent": command.headers["traceparent"]},
        )
        stored = local.get_instance(instance.id)

    assert stored is not None and stored.status.code == "COMPLETED"
    [root] = otel.spans("dagger.instance")
    [command_span] = [
        span
        for span in otel.spans("dagger.task.execute")
        if span.attributes and span.attributes["dagger.task.type"] == "TracedCommand"
    ]
    [message] = otel.spans("dagger.listener.message")
    [deliver] = [
        span
        for span in otel.spans("dagger.task.execute")
        if span.attributes and span.attributes["dagger.task.type"] == "RecordingTask"
    ]
    assert _ids_in(command.headers["traceparent"]) == _ids(command_span)
    assert {_ids(span)[0] for span in (root, command_span, message, deliver)} == {_ids(root)[0]}
    assert _parent_id(message) == _ids(command_span)[1]
    assert not message.links
    assert message.kind is SpanKind.CONSUMER
    assert message.attributes is not None
    assert message.attributes["messaging.destination.name"] == status_topic
    assert message.attributes["dagger.task.name"] == LISTENER
    assert message.attributes["dagger.hook"] == "on_message"
    assert _parent_id(deliver) == _ids(root)[1]


async def test_a_reply_from_another_trace_is_linked_not_parented(otel: Otel) -> None:
    status_topic = unique("status")
    engine = new_engine(telemetry=otel.telemetry)
    orders = _command_reply_template(engine, status_topic)
    foreign = "00-11111111111111111111111111111111-2222222222222222-01"
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        await local.send_message(
            status_topic,
            {"order_id": "o-1", "status": "READY"},
            headers={"traceparent": foreign.encode()},
        )

    [root] = otel.spans("dagger.instance")
    [message] = otel.spans("dagger.listener.message")
    assert _ids(message)[0] == _ids(root)[0]
    assert _parent_id(message) == _ids(root)[1]
    [link] = message.links
    assert link.context.trace_id == 0x11111111111111111111111111111111
    assert link.context.span_id == 0x2222222222222222


async def test_a_reply_without_trace_headers_joins_the_instance_trace(otel: Otel) -> None:
    status_topic = unique("status")
    engine = new_engine(telemetry=otel.telemetry)
    orders = _command_reply_template(engine, status_topic)
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        await local.send_message(status_topic, {"order_id": "o-1", "status": "COOKING"})
        await local.send_message(status_topic, {"order_id": "o-1", "status": "READY"})

    [root] = otel.spans("dagger.instance")
    messages = otel.spans("dagger.listener.message")
    assert len(messages) == 2
    assert {(_ids(span)[0], _parent_id(span)) for span in messages} == {_ids(root)}


async def test_a_fired_timer_is_a_span_of_the_instance_trace(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    helper = DAGBuilderHelper(dagger_app=engine)
    timed = template(helper, process(helper, "WAIT", [alarm(helper), step(helper, "after")]))
    async with LocalEngine(engine, start=START) as local:
        await timed.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", at=START + 60, submit_task=True
        )
        assert not otel.spans("dagger.timer.fired")
        await local.advance(90)

    [root] = otel.spans("dagger.instance")
    [fired] = otel.spans("dagger.timer.fired")
    assert _ids(fired)[0] == _ids(root)[0]
    assert _parent_id(fired) == _ids(root)[1]
    assert fired.attributes is not None
    assert fired.attributes["dagger.task.name"] == "alarm_trigger_task"
    assert fired.attributes["dagger.timer.due"] == START + 60
    assert fired.attributes["dagger.timer.lateness"] == 30.0
    executed = {span.attributes["dagger.task.name"] for span in otel.spans("dagger.task.execute")}  # type: ignore[index]
    assert executed == {"alarm_trigger_task", "after_executor_task"}


async def test_a_failing_task_span_records_the_error(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    orders = build_template(engine, [("payment", [("charge", FailingTask)])])
    async with LocalEngine(engine):
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)

    [execution] = otel.spans("dagger.task.execute")
    assert execution.status.status_code is StatusCode.ERROR
    assert execution.status.description == "RuntimeError: boom"
    assert execution.attributes is not None
    assert execution.attributes["dagger.outcome"] == "error"
    assert [event.name for event in execution.events] == ["exception"]
    [point] = otel.points("dagger.step.duration")
    assert dict(point.attributes) == {
        "dagger.hook": "execute",
        "dagger.task.type": "FailingTask",
        "dagger.outcome": "error",
        "dagger.template": "orders",
    }
    assert point.count == 1
    assert point.sum >= 0


async def test_transitions_are_counted_by_kind_and_status(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    orders = build_template(
        engine, [("payment", [("charge", RecordingTask), ("receipt", RecordingTask)])]
    )
    async with LocalEngine(engine):
        for number in range(3):
            await orders.create_instance(
                uuid.uuid4(), "order_id", order_id=f"o-{number}", submit_task=True
            )

    counts = otel.counts(
        "dagger.status.transitions", "dagger.kind", "dagger.previous_status", "dagger.status"
    )
    assert counts == {
        ("instance", "NOT_STARTED", "EXECUTING"): 3,
        ("instance", "EXECUTING", "COMPLETED"): 3,
        ("process", "NOT_STARTED", "EXECUTING"): 3,
        ("process", "EXECUTING", "COMPLETED"): 3,
        ("task", "NOT_STARTED", "EXECUTING"): 6,
        ("task", "EXECUTING", "COMPLETED"): 6,
    }
    assert {
        point.attributes["dagger.template"] for point in otel.points("dagger.status.transitions")
    } == {"orders"}
    [steps] = otel.points("dagger.step.duration")
    assert steps.count == 6


async def test_transitions_of_later_events_are_counted_once(otel: Otel) -> None:
    status_topic = unique("status")
    engine = new_engine(telemetry=otel.telemetry)
    orders = _command_reply_template(engine, status_topic)
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        waiting = otel.counts("dagger.status.transitions", "dagger.kind", "dagger.status")
        await local.send_message(status_topic, {"order_id": "o-1", "status": "READY"})
        done = otel.counts("dagger.status.transitions", "dagger.kind", "dagger.status")

    # command ran and completed; the listener started; then the reply completes it.
    assert waiting == {
        ("instance", "EXECUTING"): 1,
        ("process", "EXECUTING"): 1,
        ("task", "EXECUTING"): 2,
        ("task", "COMPLETED"): 1,
    }
    assert done == {
        ("instance", "EXECUTING"): 1,
        ("instance", "COMPLETED"): 1,
        ("process", "EXECUTING"): 1,
        ("process", "COMPLETED"): 1,
        ("task", "EXECUTING"): 3,
        ("task", "COMPLETED"): 3,
    }


async def test_dead_letters_are_counted_by_reason(otel: Otel) -> None:
    status_topic = unique("status")
    engine = new_engine(telemetry=otel.telemetry)
    orders = _command_reply_template(engine, status_topic)
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        await local.send_message(status_topic, b"not json")
        await local.send_message(status_topic, {"no": "order id"})
        await local.send_message(status_topic, {"order_id": "o-1", "status": "EXPLODE"})

    assert len(local.dead_letters) == 3
    assert otel.counts("dagger.dead_letters", "dagger.reason", "dagger.origin.topic") == {
        ("undecodable", status_topic): 1,
        ("key_extraction_failed", status_topic): 1,
        ("on_message_raised", status_topic): 1,
    }
    [message] = otel.spans("dagger.listener.message")
    assert message.status.status_code is StatusCode.ERROR


async def test_a_hook_sending_a_message_puts_its_span_in_the_headers(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    instance = await _unsent(engine, orders)
    sensor = next(s for s in engine.faust_app.sensors if isinstance(s, HookHeadersSensor))
    task = task_named(instance, "charge")
    in_hook: dict[str, bytes] = {"message-id": b"m-1"}
    as_list: list[tuple[str, bytes]] = []
    outside: dict[str, bytes] = {}

    with running_hook(instance), otel.telemetry.task_execution(instance, task, "execute"):
        hook_span = trace.get_current_span().get_span_context()
        sensor.on_send_initiated(None, "commands", SimpleNamespace(headers=in_hook), 0, 0)
        sensor.on_send_initiated(None, "commands", SimpleNamespace(headers=as_list), 0, 0)
    sensor.on_send_initiated(None, "commands", SimpleNamespace(headers=outside), 0, 0)

    expected = (hook_span.trace_id, hook_span.span_id)
    assert set(in_hook) == {"message-id", "traceparent"}
    assert _ids_in(in_hook["traceparent"]) == expected
    [(name, value)] = as_list
    assert (name, _ids_in(value)) == ("traceparent", expected)
    assert outside == {}


async def test_a_message_that_has_a_traceparent_keeps_it(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    instance = await _unsent(engine, orders)
    headers = {"traceparent": b"00-11111111111111111111111111111111-2222222222222222-01"}

    with (
        running_hook(instance),
        otel.telemetry.task_execution(instance, task_named(instance, "charge"), "execute"),
    ):
        otel.telemetry.inject(headers)

    assert headers == {"traceparent": b"00-11111111111111111111111111111111-2222222222222222-01"}


async def test_the_root_span_is_a_child_of_the_creators_span(otel: Otel) -> None:
    engine = new_engine(telemetry=otel.telemetry)
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    tracer = otel.tracer_provider.get_tracer("caller")
    async with LocalEngine(engine):
        with tracer.start_as_current_span("http request") as request:
            await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)

    [root] = otel.spans("dagger.instance")
    assert _ids(root)[0] == request.get_span_context().trace_id
    assert _parent_id(root) == request.get_span_context().span_id


async def test_without_a_configured_sdk_nothing_is_traced() -> None:
    telemetry = OpenTelemetry()  # the global providers: no SDK is set up in the tests
    engine = new_engine(telemetry=telemetry)
    orders = build_template(engine, [("payment", [("charge", FailingTask)])])
    async with LocalEngine(engine) as local:
        instance = await orders.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )
        stored = local.get_instance(instance.id)

    assert telemetry.active() is False
    assert stored is not None and stored.status.code == "FAILURE"
    assert stored.traceparent is None
    assert trace_headers() == {}


async def _unsent(engine: Dagger, orders: ITemplateDAG) -> ITemplateDAGInstance[Any, Any]:
    """An instance built by the template, kept here instead of sent to its owner."""
    kept: list[ITemplateDAGInstance[Any, Any]] = []

    async def keep(instance: ITemplateDAGInstance[Any, Any], **options: Any) -> None:
        kept.append(instance)

    engine._send_new_instance = keep  # type: ignore[method-assign]
    await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1")
    return kept[0]


def test_unset_global_providers_are_looked_for_once_a_second_not_on_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looks: list[float] = []
    now = [100.0]

    def configured() -> bool:
        looks.append(now[0])
        return len(looks) >= 3

    monkeypatch.setattr(_otel, "global_sdk_configured", configured)
    monkeypatch.setattr(_otel.time, "monotonic", lambda: now[0])
    telemetry = OpenTelemetry()
    assert not any(telemetry.active() for _ in range(1000))
    now[0] += _otel.PROVIDERS_RECHECK
    assert telemetry.active() is False
    now[0] += _otel.PROVIDERS_RECHECK
    assert telemetry.active() is True
    assert telemetry.active() is True
    assert looks == [100.0, 100.0 + _otel.PROVIDERS_RECHECK, 100.0 + 2 * _otel.PROVIDERS_RECHECK]


def test_failed_batch_commits_are_counted_by_error_type(otel: Otel) -> None:
    otel.telemetry.batch_commit_failed("OSError")
    otel.telemetry.batch_commit_failed("OSError")

    assert otel.counts("dagger.batch_commit_failures", "dagger.error.type") == {("OSError",): 2}
