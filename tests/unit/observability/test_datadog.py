"""Datadog metrics: the DogStatsD lines a local UDP socket on 127.0.0.1 receives."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator

import pytest
from faust.sensors.datadog import DatadogMonitor

from dagger.observability import Datadog
from dagger.observability._datadog import Datadog as DatadogObserver
from dagger.runtime._telemetry import FanOut
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine, order_template, unique
from tests.unit._workflows import FailingTask, RecordingTask, build_template


class StatsdAgent:
    """A UDP socket standing in for the Datadog agent: it only collects the lines."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.port: int = self.socket.getsockname()[1]

    def lines(self) -> list[str]:
        """Every line received so far (the client sends each metric at once)."""
        received: list[str] = []
        while True:
            try:
                packet = self.socket.recv(65536)
            except BlockingIOError:
                return received
            received.extend(line for line in packet.decode().splitlines() if line)

    def metrics(self, name: str) -> list[tuple[str, str, list[str]]]:
        """(value, type, tags) of each line of metric ``name``."""
        found = []
        for line in self.lines_seen:
            match = re.fullmatch(r"([^:]+):([^|]+)\|(\w+)(?:\|#(.*))?", line)
            assert match, line
            if match.group(1) == name:
                found.append((match.group(2), match.group(3), (match.group(4) or "").split(",")))
        return found

    def collect(self) -> None:
        self.lines_seen = self.lines()


@pytest.fixture
def agent() -> Iterator[StatsdAgent]:
    listening = StatsdAgent()
    yield listening
    listening.socket.close()


def _datadog(agent: StatsdAgent, **options: object) -> Datadog:
    return Datadog(host="127.0.0.1", port=agent.port, **options)  # type: ignore[arg-type]


async def test_transitions_and_step_durations_are_sent(agent: StatsdAgent) -> None:
    datadog = _datadog(agent, tags=["env:test"])
    engine = new_engine(telemetry=[datadog])
    orders = build_template(engine, [("payment", [("charge", RecordingTask), ("x", FailingTask)])])
    async with LocalEngine(engine):
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
    datadog.statsd.close_socket()
    agent.collect()

    transitions = agent.metrics("dagger.status.transitions")
    assert all(value == "1" and kind == "c" for value, kind, _ in transitions)
    assert sorted(",".join(tags) for _, _, tags in transitions) == sorted(
        f"kind:{kind},status:{status},previous_status:{previous},template:orders,env:test"
        for kind, previous, status in [
            ("instance", "NOT_STARTED", "EXECUTING"),
            ("instance", "EXECUTING", "FAILURE"),
            ("process", "NOT_STARTED", "EXECUTING"),
            ("process", "EXECUTING", "FAILURE"),
            ("task", "NOT_STARTED", "EXECUTING"),
            ("task", "EXECUTING", "COMPLETED"),
            ("task", "NOT_STARTED", "EXECUTING"),
            ("task", "EXECUTING", "FAILURE"),
        ]
    )
    steps = agent.metrics("dagger.step.duration")
    assert [(kind, tags) for _, kind, tags in steps] == [
        (
            "h",
            [
                "hook:execute",
                "template:orders",
                "task_type:RecordingTask",
                "outcome:ok",
                "env:test",
            ],
        ),
        (
            "h",
            [
                "hook:execute",
                "template:orders",
                "task_type:FailingTask",
                "outcome:error",
                "env:test",
            ],
        ),
    ]
    assert all(float(value) >= 0 for value, _, _ in steps)


async def test_dead_letters_are_counted_by_reason(agent: StatsdAgent) -> None:
    datadog = _datadog(agent, namespace="shop")
    status_topic = unique("status")
    engine = new_engine(telemetry=[datadog])
    orders = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
        await local.send_message(status_topic, b"not json")
        await local.send_message(status_topic, {"order_id": "o-1", "status": "READY"})
    datadog.statsd.close_socket()
    agent.collect()

    assert agent.metrics("shop.dagger.dead_letters") == [
        ("1", "c", ["reason:undecodable", f"origin_topic:{status_topic}"])
    ]
    [on_message] = [
        tags
        for _, _, tags in agent.metrics("shop.dagger.step.duration")
        if "hook:on_message" in tags
    ]
    assert on_message == [
        "hook:on_message",
        f"template:{orders.name}",
        "task_type:OrderStatusListener",
        "outcome:ok",
    ]


async def test_a_datadog_monitor_sends_the_engine_metrics_to_its_agent(agent: StatsdAgent) -> None:
    engine = new_engine(datadog_sensor=DatadogMonitor(host="127.0.0.1", port=agent.port))
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    async with LocalEngine(engine):
        await orders.create_instance(uuid.uuid4(), "order_id", order_id="o-1", submit_task=True)
    telemetry = engine.settings.telemetry
    assert isinstance(telemetry, FanOut)
    for observer in telemetry.observers:
        if isinstance(observer, DatadogObserver):
            observer.statsd.close_socket()
    agent.collect()

    assert len(agent.metrics("dagger.status.transitions")) == 6
    assert len(agent.metrics("dagger.step.duration")) == 1


def test_failed_batch_commits_are_counted_by_error_type(agent: StatsdAgent) -> None:
    datadog = _datadog(agent)
    datadog.batch_commit_failed("OSError")
    datadog.statsd.close_socket()
    agent.collect()

    assert agent.metrics("dagger.batch_commit_failures") == [("1", "c", ["error_type:OSError"])]
