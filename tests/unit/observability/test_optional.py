"""Tracing is optional: without opentelemetry-api, and with a provider set after the engine.

Each case runs in a fresh interpreter, because it hides an installed package or sets
OpenTelemetry's process-wide providers, which cannot be undone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
FRESH_INTERPRETER = pytest.mark.timeout(90)
"""Each case imports the engine in a new interpreter: 1-2 s on a quiet machine, 9-14 s
seen on a loaded one, past the unit tests' 10 s bound (the subprocess's own is 60 s)."""

WORKFLOW = """
import asyncio, json, uuid
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine
from tests.unit._workflows import RecordingTask, build_template

async def run(engine):
    orders = build_template(engine, [("payment", [("charge", RecordingTask)])])
    async with LocalEngine(engine) as local:
        instance = await orders.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )
        return local.get_instance(instance.id)
"""


HIDE_OPENTELEMETRY = """
import sys

class HideOpenTelemetry:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, HideOpenTelemetry())
"""


def _run(script: str, prelude: str = "") -> Any:
    """Run ``prelude``, the workflow's definitions, then ``script``; return its JSON line."""
    program = textwrap.dedent(prelude) + textwrap.dedent(WORKFLOW) + textwrap.dedent(script)
    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@FRESH_INTERPRETER
def test_without_opentelemetry_installed_the_engine_runs_untraced() -> None:
    result = _run(
        """
        import sys
        from dagger.exceptions.exceptions import ConfigurationError
        from dagger.observability import OpenTelemetry, trace_headers
        from dagger.runtime._telemetry import NO_TELEMETRY

        engine = new_engine()
        stored = asyncio.run(run(engine))
        try:
            OpenTelemetry()
            error = None
        except ConfigurationError as exc:
            error = str(exc)
        print(json.dumps({
            "status": stored.status.code,
            "traceparent": stored.traceparent,
            "no_telemetry": engine.settings.telemetry is NO_TELEMETRY,
            "headers": trace_headers(),
            "error": error,
            "imported": sorted(m for m in sys.modules if m.startswith("opentelemetry")),
        }))
        """,
        prelude=HIDE_OPENTELEMETRY,
    )

    assert result == {
        "status": "COMPLETED",
        "traceparent": None,
        "no_telemetry": True,
        "headers": {},
        "error": "OpenTelemetry tracing and metrics need opentelemetry-api: "
        "pip install 'dagger-workflows[otel]' (and opentelemetry-sdk to export)",
        "imported": [],
    }


@FRESH_INTERPRETER
def test_a_global_provider_set_after_the_engine_turns_tracing_on() -> None:
    result = _run(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        engine = new_engine()  # created first, as module-level engines are
        untraced = asyncio.run(run(engine))
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        from dagger.observability._otel import PROVIDERS_RECHECK
        import time
        time.sleep(PROVIDERS_RECHECK)  # providers set later are looked for once a second
        traced = asyncio.run(run(engine))
        spans = exporter.get_finished_spans()
        names = sorted(
            metric.name
            for resource in reader.get_metrics_data().resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        )
        print(json.dumps({
            "untraced": untraced.traceparent,
            "traced": traced.traceparent is not None,
            "spans": sorted(span.name for span in spans),
            "traces": len({span.context.trace_id for span in spans}),
            "metrics": names,
        }))
        """
    )

    assert result == {
        "untraced": None,
        "traced": True,
        "spans": ["dagger.instance", "dagger.task.execute"],
        "traces": 1,
        "metrics": ["dagger.status.transitions", "dagger.step.duration"],
    }
