"""The benchmark worker app: ``dagger worker -A bench._throughput_app``.

Names and the store come from the environment so each run gets its own topics, group and
data directory:

- ``BENCH_APP_ID`` (``bench``), ``BENCH_STORE`` (``memory://``), ``BENCH_DATADIR``,
  ``BENCH_PARTITIONS`` (4), ``BENCH_EARLY_MESSAGE_WINDOW`` (300 s, the engine's default),
  ``BENCH_SESSION_TIMEOUT`` (6 s, the engine's default; the heartbeat is a quarter of it,
  at most 1 s); ``BENCH_MAX_CONCURRENT_HOOKS`` (the engine's default, 100);
- ``BENCH_TASKS_TOPIC``, ``BENCH_UPDATES_TOPIC``, ``BENCH_DEAD_LETTER_TOPIC``,
  ``BENCH_ORDERS_TOPIC``, ``BENCH_READY_TOPIC``;
- ``BENCH_METRICS=1``: the engine's OpenTelemetry metrics are kept in memory and served
  as JSON at ``GET /bench/metrics`` (``{metric: {"reason=value,...": sum}}``), for a
  benchmark to read the counts the engine keeps (dead letters, inputs dropped, held).
"""

from __future__ import annotations

import os
from typing import Any

from bench._workflows import build_templates
from dagger.service.services import Dagger

_session_timeout = float(os.environ.get("BENCH_SESSION_TIMEOUT", "6"))


def _metrics_telemetry() -> tuple[list[Any], Any]:
    """An OpenTelemetry observer over an in-memory metric reader, and the reader."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from dagger.observability import OpenTelemetry

    reader = InMemoryMetricReader()
    return [OpenTelemetry(meter_provider=MeterProvider(metric_readers=[reader]))], reader


def metric_sums(reader: Any) -> dict[str, dict[str, float]]:
    """The sums of the counters ``reader`` holds, by metric and by attributes."""
    sums: dict[str, dict[str, float]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in getattr(metric.data, "data_points", ()):
                    if not hasattr(point, "value"):
                        continue  # a histogram
                    labels = ",".join(f"{k}={v}" for k, v in sorted(point.attributes.items()))
                    sums.setdefault(metric.name, {})[labels] = point.value
    return sums


_metrics = os.environ.get("BENCH_METRICS") == "1"
_telemetry, _reader = _metrics_telemetry() if _metrics else (None, None)

engine = Dagger(
    application_name=os.environ.get("BENCH_APP_ID", "bench"),
    store=os.environ.get("BENCH_STORE", "memory://"),
    datadir=os.environ.get("BENCH_DATADIR"),
    kafka_partitions=int(os.environ.get("BENCH_PARTITIONS", "4")),
    tasks_topic=os.environ.get("BENCH_TASKS_TOPIC", "bench_tasks"),
    task_update_topic=os.environ.get("BENCH_UPDATES_TOPIC", "bench_updates"),
    dead_letter_topic=os.environ.get("BENCH_DEAD_LETTER_TOPIC", "bench_dead_letters"),
    early_message_window=float(os.environ.get("BENCH_EARLY_MESSAGE_WINDOW", "300")),
    broker_session_timeout=_session_timeout,
    broker_heartbeat_interval=min(1.0, _session_timeout / 4),
    telemetry=_telemetry,
    max_concurrent_hooks=int(os.environ.get("BENCH_MAX_CONCURRENT_HOOKS", "100")),
)
engine.template_dags.update(
    build_templates(
        engine,
        os.environ.get("BENCH_ORDERS_TOPIC", "bench_orders"),
        os.environ.get("BENCH_READY_TOPIC", "bench_ready"),
    )
)

if _reader is not None:

    @engine.faust_app.page("/bench/metrics")
    async def _bench_metrics(web: Any, request: Any) -> Any:
        return web.json(metric_sums(_reader))


__all__ = ["engine"]
