"""Choosing the engine's observers: Dagger(telemetry=...), tracing_sensor, datadog_sensor."""

from __future__ import annotations

from typing import Any

import pytest
from faust.contrib.opentelemetry import OpenTelemetrySensor
from faust.sensors.datadog import DatadogMonitor

from dagger.exceptions.exceptions import ConfigurationError
from dagger.observability import Datadog, FanOut, NoTelemetry, OpenTelemetry
from dagger.observability._sensor import HookHeadersSensor
from dagger.runtime._telemetry import NO_TELEMETRY
from tests.unit._listener_workflows import new_engine


def _hook_sensors(engine: Any) -> list[HookHeadersSensor]:
    return [s for s in engine.faust_app.sensors if isinstance(s, HookHeadersSensor)]


def test_by_default_the_engine_uses_opentelemetry() -> None:
    engine = new_engine()

    assert isinstance(engine.settings.telemetry, OpenTelemetry)
    [sensor] = _hook_sensors(engine)
    assert sensor.telemetry is engine.settings.telemetry


def test_an_empty_list_turns_telemetry_off() -> None:
    engine = new_engine(telemetry=[])

    assert engine.settings.telemetry is NO_TELEMETRY
    assert _hook_sensors(engine) == []


def test_one_observer_is_used_as_it_is_and_several_fan_out() -> None:
    first, second = OpenTelemetry(), NoTelemetry()

    assert new_engine(telemetry=first).settings.telemetry is first
    both = new_engine(telemetry=[first, second]).settings.telemetry
    assert isinstance(both, FanOut)
    assert both.observers == (first, second)


@pytest.mark.parametrize("value", ["otel", 3, [object()], {"otel": True}])
def test_telemetry_must_be_observers(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="telemetry must"):
        new_engine(telemetry=value)


def test_a_datadog_monitor_sensor_also_gets_the_engine_metrics() -> None:
    monitor = DatadogMonitor(host="127.0.0.1", port=8127)

    engine = new_engine(datadog_sensor=monitor)

    assert monitor in engine.faust_app.sensors
    telemetry = engine.settings.telemetry
    assert isinstance(telemetry, FanOut)
    [datadog] = [o for o in telemetry.observers if isinstance(o, Datadog)]
    assert (datadog.statsd.host, datadog.statsd.port) == ("127.0.0.1", 8127)
    datadog.statsd.close_socket()


def test_an_opentelemetry_sensor_is_accepted_as_tracing_sensor() -> None:
    sensor = OpenTelemetrySensor()

    engine = new_engine(tracing_sensor=sensor)

    assert sensor in engine.faust_app.sensors
    assert isinstance(engine.settings.telemetry, OpenTelemetry)


def test_datadog_takes_a_client_or_an_address_not_both() -> None:
    with pytest.raises(ConfigurationError, match="either a DogStatsd client or host"):
        Datadog(object(), host="127.0.0.1")
    with pytest.raises(ConfigurationError, match=r"needs a datadog\.dogstatsd\.DogStatsd"):
        Datadog(object())
    with pytest.raises(ConfigurationError, match="tags must be a list"):
        Datadog(host="127.0.0.1", tags="env:prod")
