"""OpenTelemetry across the command -> reply hop, on the real embedded broker.

A worker (a subprocess, traced with the SDK, spans written to a file) runs the pizza
workflow: a command to the order service, a listener for its reply, a delivery. The
order service here is simulated in the test process and traced like a real service:
it continues the ``traceparent`` of each command in its own span and puts that span's
context on its reply. The instances are created by a client engine whose spans go to
an in-memory exporter. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dagger.observability import OpenTelemetry
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from examples.pizza.templates import build_pizza_template
from integration_tests._harness import Scenario, Updates, send_messages, workers

pytestmark = pytest.mark.integration

TELEMETRY_APP = "integration_tests.apps.telemetry_app"
ORDERS = 3
W3C = TraceContextTextMapPropagator()


@dataclass
class TracedScenario(Scenario):
    """A scenario whose workers write their spans to ``spans_file``.

    With ``statsd_port``, their ``datadog_sensor`` reports to 127.0.0.1 on that port.
    """

    statsd_port: int | None = None

    @property
    def spans_file(self) -> Path:
        return self.tmp_path / "worker-spans.jsonl"

    def env(self, broker: EmbeddedBroker, worker_name: str) -> dict[str, str]:
        env = {**super().env(broker, worker_name), "TEST_SPANS_FILE": str(self.spans_file)}
        if self.statsd_port is not None:
            env["TEST_STATSD_PORT"] = str(self.statsd_port)
        return env

    def worker_spans(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.spans_file.read_text().splitlines()]


class TracingOrderService:
    """Answers each order with READY; continues the order's trace in a span of its own."""

    def __init__(
        self, broker: EmbeddedBroker, scenario: Scenario, tracer_provider: TracerProvider
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            scenario.pizza_orders_topic,
            bootstrap_servers=broker.bootstrap_servers,
            group_id=f"{scenario.app_id}-traced-order-service",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        self._status_topic = scenario.pizza_status_topic
        self._tracer = tracer_provider.get_tracer("order-service")
        self.command_headers: dict[str, dict[str, str]] = {}

    async def run(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                for messages in batches.values():
                    for message in messages:
                        await self._answer(message)
        finally:
            await self._consumer.stop()
            await self._producer.stop()

    async def _answer(self, message: Any) -> None:
        order_id = json.loads(message.value)["order_id"]
        headers = {key: value.decode() for key, value in message.headers}
        self.command_headers[order_id] = headers
        parent = W3C.extract(headers)
        with self._tracer.start_as_current_span(
            "order-service cook", context=parent, attributes={"order_id": order_id}
        ):
            reply_headers: dict[str, str] = {}
            W3C.inject(reply_headers)
            await self._producer.send_and_wait(
                self._status_topic,
                key=order_id.encode(),
                value=json.dumps({"order_id": order_id, "status": "READY"}).encode(),
                headers=[
                    ("message-id", f"{order_id}-READY".encode()),
                    *((key, value.encode()) for key, value in reply_headers.items()),
                ],
            )


class StatsdAgent(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 standing in for the Datadog agent: it keeps the lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.lines.extend(line for line in data.decode().splitlines() if line)

    def metric(self, name: str) -> list[tuple[str, list[str]]]:
        """(value|type, tags) of each line of metric ``name``."""
        found = []
        for line in self.lines:
            head, _, tags = line.partition("|#")
            metric, _, value = head.partition(":")
            if metric == name:
                found.append((value, tags.split(",") if tags else []))
        return found


@contextlib.asynccontextmanager
async def statsd_agent() -> AsyncIterator[tuple[StatsdAgent, int]]:
    loop = asyncio.get_running_loop()
    transport, agent = await loop.create_datagram_endpoint(StatsdAgent, local_addr=("127.0.0.1", 0))
    try:
        yield agent, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def serving(service: TracingOrderService) -> AsyncIterator[None]:
    task = asyncio.create_task(service.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def traced_client(
    scenario: Scenario, broker: EmbeddedBroker, tracer_provider: TracerProvider
) -> AsyncIterator[Any]:
    """The pizza template on an engine that only sends, traced with ``tracer_provider``."""
    engine = Dagger(
        broker=broker.url,
        store="memory://",
        application_name=f"{scenario.app_id}-client",
        kafka_partitions=scenario.partitions,
        tasks_topic=scenario.tasks_topic,
        telemetry=OpenTelemetry(tracer_provider=tracer_provider),
    )
    build = partial(
        build_pizza_template,
        orders_topic=scenario.pizza_orders_topic,
        status_topic=scenario.pizza_status_topic,
    )
    try:
        yield build(engine)
    finally:
        await engine.faust_app.producer.stop()


def _hex(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def _traceparent_ids(value: str) -> tuple[str, str]:
    _version, trace_id, span_id, _flags = value.split("-")
    return trace_id, span_id


async def test_one_trace_per_instance_across_the_command_and_reply(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = TracedScenario(tmp_path)
    await broker.acreate_topics(scenario.topics())
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    service = TracingOrderService(broker, scenario, provider)
    try:
        async with (
            workers(scenario, broker) as start,
            Updates(broker, scenario.update_topic) as updates,
            serving(service),
        ):
            await start("w1", TELEMETRY_APP).wait_ready()
            async with traced_client(scenario, broker, provider) as pizza:
                instances = [
                    await pizza.create_instance(
                        uuid.uuid4(), "order_id", submit_task=True, order_id=f"traced-{n}"
                    )
                    for n in range(ORDERS)
                ]
            finished = await updates.wait_finished(ORDERS, timeout=120)
    finally:
        provider.shutdown()

    assert {doc["status"] for doc in finished.values()} == {"COMPLETED"}
    client_spans = exporter.get_finished_spans()
    worker_spans = scenario.worker_spans()
    for instance in instances:
        order_id = instance.runtime_parameters["order_id"]
        [root] = [
            span
            for span in client_spans
            if span.name == "dagger.instance"
            and span.attributes
            and span.attributes["dagger.instance.id"] == instance.id
        ]
        trace_id, root_id = _hex(root)
        mine = [s for s in worker_spans if s["attributes"].get("dagger.instance.id") == instance.id]
        by_name: dict[str, list[dict[str, Any]]] = {}
        for span in mine:
            by_name.setdefault(span["name"], []).append(span)
        assert sorted(by_name) == ["dagger.listener.message", "dagger.task.execute"], by_name
        assert {span["trace_id"] for span in mine} == {trace_id}
        executions = {
            s["attributes"]["dagger.task.type"]: s for s in by_name["dagger.task.execute"]
        }
        assert sorted(executions) == ["DeliverPizza", "PizzaOrderCommand"]
        assert {s["parent_id"] for s in executions.values()} == {root_id}

        # The command carried the command task's span; the service continued it.
        command = executions["PizzaOrderCommand"]
        sent = service.command_headers[order_id]
        assert sent["message-id"] == f"order-{order_id}"
        assert _traceparent_ids(sent["traceparent"]) == (trace_id, command["span_id"])
        [cook] = [
            span
            for span in client_spans
            if span.name == "order-service cook"
            and span.attributes
            and span.attributes["order_id"] == order_id
        ]
        assert _hex(cook)[0] == trace_id
        assert cook.parent is not None and f"{cook.parent.span_id:016x}" == command["span_id"]

        # The reply carried the service's span: the listener's span is its child.
        [message] = by_name["dagger.listener.message"]
        assert message["parent_id"] == _hex(cook)[1]
        assert message["links"] == []
        assert message["attributes"]["messaging.destination.name"] == scenario.pizza_status_topic
        assert message["attributes"]["dagger.outcome"] == "ok"

        # faust's OpenTelemetrySensor (tracing_sensor) saw the same reply in the same trace.
        processed = [
            s
            for s in worker_spans
            if s["name"] == f"{scenario.pizza_status_topic} process"
            and s["parent_id"] == _hex(cook)[1]
        ]
        assert len(processed) == 1
        assert processed[0]["trace_id"] == trace_id


async def test_a_worker_sends_the_engine_metrics_to_datadog(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    async with statsd_agent() as (agent, port):
        scenario = TracedScenario(tmp_path, statsd_port=port)
        await broker.acreate_topics(scenario.topics())
        service = TracingOrderService(broker, scenario, provider)
        async with (
            workers(scenario, broker) as start,
            Updates(broker, scenario.update_topic) as updates,
            serving(service),
        ):
            await start("w1", TELEMETRY_APP).wait_ready()
            async with traced_client(scenario, broker, provider) as pizza:
                for n in range(ORDERS):
                    await pizza.create_instance(
                        uuid.uuid4(), "order_id", submit_task=True, order_id=f"dd-{n}"
                    )
            await updates.wait_finished(ORDERS, timeout=120)
            await send_messages(broker, scenario.pizza_status_topic, [(b"not json", None)])
            await _wait_for(lambda: agent.metric("dagger.dead_letters"), "the dead letter")
    provider.shutdown()

    completed = [
        value
        for value, tags in agent.metric("dagger.status.transitions")
        if "kind:instance" in tags and "status:COMPLETED" in tags
    ]
    assert completed == ["1|c"] * ORDERS
    on_message = [
        tags for _, tags in agent.metric("dagger.step.duration") if "hook:on_message" in tags
    ]
    assert (
        on_message
        == [["hook:on_message", "template:pizza", "task_type:PizzaReadyListener", "outcome:ok"]]
        * ORDERS
    )
    # The pizza topics carry raw values: the listener's own json.loads rejects the message.
    assert agent.metric("dagger.dead_letters") == [
        ("1|c", ["reason:key_extraction_failed", f"origin_topic:{scenario.pizza_status_topic}"])
    ]
    # faust's own DatadogMonitor metrics (datadog_sensor) reach the same agent.
    assert any(line.startswith("pizza-worker.") for line in agent.lines)


async def _wait_for(found: Any, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not found():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
