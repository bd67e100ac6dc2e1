"""OpenTelemetry SDK providers with in-memory exporters, given to the engine explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dagger.observability import OpenTelemetry


@dataclass
class Otel:
    """The engine's observer and what it exported."""

    telemetry: OpenTelemetry
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [
            span for span in self.exporter.get_finished_spans() if name is None or span.name == name
        ]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected so far."""
        found: list[Any] = []
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found

    def counts(self, metric: str, *keys: str) -> dict[tuple[Any, ...], int]:
        """A counter's values by the attributes ``keys``."""
        return {
            tuple(point.attributes.get(key) for key in keys): point.value
            for point in self.points(metric)
        }


@pytest.fixture
def otel() -> Iterator[Otel]:
    """An OpenTelemetry observer on SDK providers that keep spans and metrics in memory."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    telemetry = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Otel(telemetry, exporter, reader, tracer_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()
