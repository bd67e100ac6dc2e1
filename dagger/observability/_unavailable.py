"""What :class:`dagger.observability.OpenTelemetry` is when opentelemetry-api is not installed."""

from __future__ import annotations

from typing import Any

from dagger.exceptions.exceptions import ConfigurationError


class OpenTelemetry:
    """Raises a clear error: the OpenTelemetry observer needs opentelemetry-api."""

    def __init__(self, **kwargs: Any) -> None:
        raise ConfigurationError(
            "OpenTelemetry tracing and metrics need opentelemetry-api: "
            "pip install 'dagger-workflows[otel]' (and opentelemetry-sdk to export)"
        )
