"""The telemetry seam: which moments the owners report, with a recording observer."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dagger.core._events import MessageDelivered, TimerFired
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.runtime._telemetry import (
    NO_TELEMETRY,
    FanOut,
    OpenHeaders,
    Telemetry,
    trace_origin,
)
from dagger.tasks.task import (
    ExecutorTask,
    ITask,
    ITemplateDAGInstance,
)
from dagger.testing import LocalEngine
from tests.unit._control_flow_workflows import decide, one_process, step
from tests.unit._listener_workflows import new_engine, order_template, unique
from tests.unit._timed_workflows import START, poll, process, template
from tests.unit._workflows import (
    FailingTask,
    RecordingTask,
    build_template,
)


class Recorder:
    """An observer that writes down every call it gets."""

    def __init__(self, name: str = "recorder", *, active: bool = True) -> None:
        self.name = name
        self.is_active = active
        self.calls: list[tuple[Any, ...]] = []

    def active(self) -> bool:
        return self.is_active

    def instance_created(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        self.calls.append(("created", instance.id))

    def task_execution(
        self, instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], hook: str
    ) -> AbstractContextManager[object]:
        return self._around(hook, task.task_name)

    def message_handled(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        event: MessageDelivered,
    ) -> AbstractContextManager[object]:
        return self._around("on_message", task.task_name, event.origin.get("traceparent"))

    def timer_fired(
        self, instance: ITemplateDAGInstance[Any, Any], event: TimerFired, now: float
    ) -> None:
        self.calls.append(("timer", instance.tasks[event.task_id].task_name, event.due, now))

    def status_changed(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        kind: str,
        previous: str,
        status: str,
    ) -> None:
        self.calls.append(("status", kind, task.task_name, previous, status))

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        self.calls.append(("dead_letter", reason, origin["topic"]))

    def inject(self, headers: OpenHeaders) -> None:
        self.calls.append(("inject", self.name))

    @contextmanager
    def _around(self, *what: Any) -> Any:
        self.calls.append(("enter", self.name, *what))
        try:
            yield
        except Exception as exc:
            self.calls.append(("exit", self.name, type(exc).__name__))
            raise
        self.calls.append(("exit", self.name, None))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [call[1:] for call in self.calls if call[0] == kind]


class Unserializable(ExecutorTask[str, Any]):
    """Leaves a runtime parameter JSON cannot hold."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["handle"] = object()


def test_the_recorder_and_the_defaults_are_observers() -> None:
    assert isinstance(Recorder(), Telemetry)
    assert isinstance(NO_TELEMETRY, Telemetry)
    assert isinstance(FanOut([]), Telemetry)
    assert NO_TELEMETRY.active() is False


async def test_hooks_are_wrapped_and_every_transition_is_reported() -> None:
    recorder = Recorder()
    engine = new_engine(telemetry=recorder)
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    async with LocalEngine(engine):
        instance = await orders.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )

    assert recorder.of("created") == [(instance.id,)]
    assert recorder.of("enter") == [("recorder", "execute", "charge_executor_task")]
    assert recorder.of("exit") == [("recorder", None)]
    assert recorder.of("status") == [
        ("instance", "orders", "NOT_STARTED", "EXECUTING"),
        ("instance", "orders", "EXECUTING", "COMPLETED"),
        ("process", "payment", "NOT_STARTED", "EXECUTING"),
        ("process", "payment", "EXECUTING", "COMPLETED"),
        ("task", "charge_executor_task", "NOT_STARTED", "EXECUTING"),
        ("task", "charge_executor_task", "EXECUTING", "COMPLETED"),
    ]


async def test_an_inactive_observer_gets_no_transitions() -> None:
    recorder = Recorder(active=False)
    engine = new_engine(telemetry=recorder)
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    async with LocalEngine(engine):
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)

    assert recorder.of("status") == []


async def test_a_status_set_outside_the_core_is_reported_too() -> None:
    recorder = Recorder()
    engine = new_engine(telemetry=recorder)
    orders = build_template(engine, [("payment", [("keep", Unserializable)])])
    async with LocalEngine(engine) as local:
        instance = await orders.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )
        stored = local.get_instance(instance.id)

    assert stored is not None and stored.status.code == "FAILURE"
    root = [call[2:] for call in recorder.of("status") if call[0] == "instance"]
    assert root == [
        ("NOT_STARTED", "EXECUTING"),
        ("EXECUTING", "COMPLETED"),
        ("COMPLETED", "FAILURE"),
    ]


async def test_a_decision_and_an_interval_are_wrapped_by_their_hook_name() -> None:
    recorder = Recorder()
    engine = new_engine(telemetry=recorder)
    routed = one_process(engine, decide(engine, "route", step(engine, "a"), step(engine, "b")))
    helper = DAGBuilderHelper(dagger_app=engine)
    polled = template(helper, process(helper, "POLL", [poll(helper, starts_at=False)]))
    async with LocalEngine(engine, start=START) as local:
        await routed.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", route="b", submit_task=True
        )
        await polled.create_instance(
            uuid.uuid4(),
            "order_id",
            order_id="o-2",
            every=10,
            until=START + 100,
            fail_times=1,
            submit_task=True,
        )
        await local.advance(10)

    hooks = [(hook, name) for _, hook, name, *_ in recorder.of("enter")]
    assert hooks == [
        ("evaluate", "route"),
        ("execute", "b"),
        ("interval_execute", "poll_interval_task"),
        ("interval_execute", "poll_interval_task"),
        ("execute", "poll_interval_task"),
    ]
    assert recorder.of("timer") == [("poll_interval_task", START + 10, START + 10)]


async def test_a_listener_message_is_wrapped_with_its_trace_headers() -> None:
    recorder = Recorder()
    status_topic = unique("status")
    engine = new_engine(telemetry=recorder)
    orders = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        await local.send_message(
            status_topic,
            {"order_id": "o-1", "status": "READY"},
            headers={"traceparent": b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        )
        await local.send_message(status_topic, {"order_id": "o-1", "status": "EXPLODE"})

    messages = [call for call in recorder.of("enter") if call[1] == "on_message"]
    assert messages == [
        (
            "recorder",
            "on_message",
            "ORDER_listener_task",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
    ]
    assert recorder.of("dead_letter") == []  # the late EXPLODE found no waiting listener


async def test_dead_letters_are_reported_with_their_reason() -> None:
    recorder = Recorder()
    status_topic = unique("status")
    engine = new_engine(telemetry=recorder)
    orders = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        await local.send_message(status_topic, b"{broken")
        await local.send_message(status_topic, {"order_id": "o-1", "status": "EXPLODE"})

    assert recorder.of("dead_letter") == [
        ("undecodable", status_topic),
        ("on_message_raised", status_topic),
    ]
    assert [call[1:] for call in recorder.calls if call[0] == "exit"][-1] == (
        "recorder",
        "RuntimeError",
    )


class Counter(Recorder):
    """A recorder that also counts dropped inputs and held messages (optional methods)."""

    def input_dropped(self, reason: str, count: int = 1) -> None:
        self.calls.append(("dropped", reason, count))

    def message_held(self) -> None:
        self.calls.append(("held",))


async def test_held_messages_and_inputs_dropped_on_purpose_are_counted() -> None:
    counter = Counter()
    status_topic = unique("status")
    engine = new_engine(telemetry=[counter])  # through FanOut, as a worker has it
    order_template(engine, status_topic=status_topic)
    early = {"order_id": "nobody-yet", "status": "PAID"}
    async with LocalEngine(engine) as local:
        await local.send_message(status_topic, early, headers={"message-id": b"m-1"})
        await local.send_message(status_topic, early, headers={"message-id": b"m-1"})
        await local.send_message(status_topic, early, headers={"message-id": b"m-2"})

    assert counter.of("held") == [(), ()]
    assert counter.of("dropped") == [("already_held", 1)]
    assert local.dead_letters == []


async def test_fan_out_tells_every_observer_and_nests_their_contexts() -> None:
    first, second = Recorder("first"), Recorder("second", active=False)
    engine = new_engine(telemetry=[first, second])
    orders = build_template(engine, [("payment", [("charge", FailingTask)])])
    assert isinstance(engine.settings.telemetry, FanOut)
    assert engine.settings.telemetry.active() is True
    async with LocalEngine(engine) as local:
        instance = await orders.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )
        stored = local.get_instance(instance.id)
    engine.settings.telemetry.inject({})

    assert stored is not None and stored.status.code == "FAILURE"
    order = [
        call[:2] + call[-1:] for call in first.calls + second.calls if call[0] in ("enter", "exit")
    ]
    assert order == [
        ("enter", "first", "charge_executor_task"),
        ("exit", "first", "RuntimeError"),
        ("enter", "second", "charge_executor_task"),
        ("exit", "second", "RuntimeError"),
    ]
    assert first.of("inject") == [("first",)] and second.of("inject") == [("second",)]
    assert first.of("created") == second.of("created") == [(instance.id,)]


async def test_fan_out_nests_the_second_context_inside_the_first() -> None:
    log: list[str] = []

    @contextmanager
    def around(name: str) -> Any:
        log.append(f"enter {name}")
        try:
            yield
        finally:
            log.append(f"exit {name}")

    class Named(Recorder):
        def task_execution(self, *args: Any) -> AbstractContextManager[object]:
            return around(self.name)

    fan_out = FanOut([Named("outer"), Named("inner")])
    with pytest.raises(ValueError, match="hook"), fan_out.task_execution(None, None, "execute"):  # type: ignore[arg-type]
        raise ValueError("hook")

    assert log == ["enter outer", "enter inner", "exit inner", "exit outer"]


def test_trace_origin_keeps_the_w3c_headers_of_a_message() -> None:
    origin = {"topic": "t", "partition": 0, "offset": 5}

    assert trace_origin(origin, None) is origin
    assert trace_origin(origin, [("message-id", b"m")]) is origin
    assert trace_origin(origin, [("traceparent", b"00-a-b-01"), ("tracestate", b"k=v")]) == {
        **origin,
        "traceparent": "00-a-b-01",
        "tracestate": "k=v",
    }
    assert trace_origin(origin, {"traceparent": "00-a-b-01"})["traceparent"] == "00-a-b-01"
    assert "traceparent" not in origin
