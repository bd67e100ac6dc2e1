"""The pizza workflow on a worker traced with the OpenTelemetry SDK, spans written to a file.

- ``TEST_SPANS_FILE``: every finished span, one JSON object a line (name, ids, parent,
  links, attributes), written when the span ends.
- The engine turns tracing on because a global TracerProvider is set (the documented
  way), and ``tracing_sensor`` is faust's ``OpenTelemetrySensor`` (a span per consumed
  record), as the original ``tracing_sensor`` argument expected.
- ``TEST_STATSD_PORT``: when set, ``datadog_sensor`` is faust's ``DatadogMonitor``
  reporting to 127.0.0.1 on that port, so the engine's metrics go there too.
- Topics, group and store come from the ``TEST_*`` and ``PIZZA_*`` variables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import IO, Any

from faust.contrib.opentelemetry import OpenTelemetrySensor
from faust.sensors.datadog import DatadogMonitor
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from dagger.service.services import Dagger
from dagger.templates.template import ITemplateDAG
from examples.pizza.templates import build_pizza_template
from integration_tests.apps._env_engine import engine_from_env


class JsonLinesExporter(SpanExporter):  # type: ignore[misc]
    """Appends each finished span to a file as one JSON line."""

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "a")  # noqa: SIM115 - closed in shutdown()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            self._file.write(json.dumps(span_record(span)) + "\n")
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


def span_record(span: ReadableSpan) -> dict[str, Any]:
    assert span.context is not None
    return {
        "name": span.name,
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "links": [f"{link.context.span_id:016x}" for link in span.links],
        "attributes": dict(span.attributes or {}),
    }


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(os.environ["TEST_SPANS_FILE"])))
trace.set_tracer_provider(provider)

statsd_port = os.environ.get("TEST_STATSD_PORT")
engine = engine_from_env(
    tracing_sensor=OpenTelemetrySensor(),
    datadog_sensor=(
        DatadogMonitor(host="127.0.0.1", port=int(statsd_port), prefix="pizza-worker")
        if statsd_port
        else None
    ),
)


@Dagger.register_template("pizza")
def pizza_template(template_name: str) -> ITemplateDAG:
    return build_pizza_template(engine, template_name)
