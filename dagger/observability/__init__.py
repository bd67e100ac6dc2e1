"""Observability: OpenTelemetry spans and metrics, Datadog metrics, and the observer seam.

See ``docs/operations.md`` (Tracing, metrics and Datadog). ``Dagger(telemetry=...)``
takes an observer or a list of them; by default the engine uses OpenTelemetry when
opentelemetry-api is installed.
"""

from __future__ import annotations

from dagger.observability._datadog import Datadog
from dagger.observability._propagation import trace_headers
from dagger.runtime._telemetry import FanOut, NoTelemetry, Telemetry

try:
    from dagger.observability._otel import OpenTelemetry
except ImportError:  # opentelemetry-api is not installed: constructing it says so
    from dagger.observability._unavailable import OpenTelemetry  # type: ignore[assignment]

__all__ = [
    "Datadog",
    "FanOut",
    "NoTelemetry",
    "OpenTelemetry",
    "Telemetry",
    "trace_headers",
]
