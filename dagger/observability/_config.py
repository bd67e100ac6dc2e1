"""Choosing the engine's observers from its ``telemetry`` and ``datadog_sensor`` arguments."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError
from dagger.runtime._telemetry import NO_TELEMETRY, FanOut, Telemetry

logger = logging.getLogger(__name__)


def resolve_telemetry(telemetry: Any, datadog_sensor: Any = None) -> Telemetry:
    """Return the observer the engine calls.

    ``telemetry=None`` (the default) chooses automatically: OpenTelemetry through the
    global providers when opentelemetry-api is installed (active once the application
    sets a provider), and Datadog to the agent of ``datadog_sensor`` when it is a faust
    ``DatadogMonitor``. An observer or a list of them replaces that choice; an empty
    list turns the engine's telemetry off.
    """
    if telemetry is None:
        observers = _automatic(datadog_sensor)
    elif isinstance(telemetry, Telemetry):
        observers = [telemetry]
    elif isinstance(telemetry, Sequence) and not isinstance(telemetry, str):
        observers = list(telemetry)
        for observer in observers:
            if not isinstance(observer, Telemetry):
                raise ConfigurationError(
                    "telemetry must hold observers such as dagger.observability.OpenTelemetry() "
                    f"or Datadog(...), got {type(observer).__name__}"
                )
    else:
        raise ConfigurationError(
            "telemetry must be an observer (dagger.observability.OpenTelemetry(), "
            f"Datadog(...)), a list of them, or None for the default; got {telemetry!r}"
        )
    if not observers:
        return NO_TELEMETRY
    if len(observers) == 1:
        return observers[0]
    return FanOut(observers)


def _automatic(datadog_sensor: Any) -> list[Telemetry]:
    observers: list[Telemetry] = []
    try:
        from dagger.observability._otel import OpenTelemetry
    except ImportError:
        logger.debug("opentelemetry-api is not installed: no OpenTelemetry spans or metrics")
    else:
        observers.append(OpenTelemetry())
    if datadog_sensor is not None:
        from faust.sensors.datadog import DatadogMonitor

        if isinstance(datadog_sensor, DatadogMonitor):
            from dagger.observability._datadog import Datadog

            observers.append(Datadog.from_sensor(datadog_sensor))
    return observers
