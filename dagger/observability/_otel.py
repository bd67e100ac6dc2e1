"""The OpenTelemetry observer: spans in one trace per instance, and the engine's metrics.

Each instance gets a root span (``dagger.instance``) when it is created; its W3C
``traceparent`` is stored in the instance, so every later span, made on any worker,
is a child of it: ``dagger.task.<hook>`` around each task hook, ``dagger.listener.message``
around each ``on_message`` (parented to the replying service's context when the reply
carries it in its headers), ``dagger.timer.fired`` for each timer. Commands a hook sends
carry the hook's context in a ``traceparent`` header.

Only ``opentelemetry-api`` is imported; it is a no-op until the application configures
an SDK, and this module is imported only when the API is installed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dagger import __version__
from dagger.core._events import MessageDelivered, TimerFired
from dagger.runtime._telemetry import NOTHING, OpenHeaders
from dagger.tasks._base import ITask, ITemplateDAGInstance

SCOPE = "dagger"
"""The instrumentation scope of the engine's spans and metrics."""

TRANSITIONS = "dagger.status.transitions"
DEAD_LETTERS = "dagger.dead_letters"
BATCH_COMMIT_FAILURES = "dagger.batch_commit_failures"
INPUTS_DROPPED = "dagger.inputs_dropped"
MESSAGES_HELD = "dagger.messages_held"
STEP_DURATION = "dagger.step.duration"

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

PROVIDERS_RECHECK = 1.0
"""Seconds between two looks for global providers set after the engine was created."""

_PROPAGATOR = TraceContextTextMapPropagator()
_UNCONFIGURED = frozenset(
    {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider"}
)


def global_sdk_configured() -> bool:
    """Whether the application has set a global TracerProvider or MeterProvider."""
    return (
        type(trace.get_tracer_provider()).__name__ not in _UNCONFIGURED
        or type(metrics.get_meter_provider()).__name__ not in _UNCONFIGURED
    )


def context_headers(context: Context | None = None) -> dict[str, str]:
    """The W3C headers (``traceparent``, ``tracestate``) of ``context`` (or the current one)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def _header_items(headers: Any) -> list[tuple[str, Any]]:
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


class OpenTelemetry:
    """Spans and metrics of the engine through the OpenTelemetry API.

    Without providers it uses the global ones and is active once the application has
    set one (``trace.set_tracer_provider``/``metrics.set_meter_provider``), also when
    that happens after the engine was created (it looks again once a second). Given
    providers, it uses them and is always active.

    Metrics: ``dagger.status.transitions`` (counter; ``dagger.kind`` is instance,
    process or task, ``dagger.status`` the new status, ``dagger.previous_status``,
    ``dagger.template``), ``dagger.dead_letters`` (counter; ``dagger.reason``,
    ``dagger.origin.topic``), ``dagger.step.duration`` (histogram, seconds;
    ``dagger.hook``, ``dagger.template``, ``dagger.task.type``, ``dagger.outcome``) and
    ``dagger.batch_commit_failures`` (counter; ``dagger.error.type``),
    ``dagger.inputs_dropped`` (counter; ``dagger.reason``: inputs that changed nothing
    on purpose, such as a repeated message or an event for an unknown instance) and
    ``dagger.messages_held`` (counter: messages held for a listener to come).

    Examples:
        >>> from opentelemetry.sdk.trace import TracerProvider  # doctest: +SKIP
        >>> engine = Dagger(  # doctest: +SKIP
        ...     broker="kafka://127.0.0.1:9092", store="rocksdb://",
        ...     telemetry=OpenTelemetry(tracer_provider=TracerProvider()),
        ... )
    """

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self._always = tracer_provider is not None or meter_provider is not None
        self._configured = self._always
        self._next_check = 0.0
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.transitions = meter.create_counter(
            TRANSITIONS, unit="{transition}", description="Status transitions of instances."
        )
        self.dead_letters = meter.create_counter(
            DEAD_LETTERS, unit="{record}", description="Records sent to the dead-letter topic."
        )
        self.step_duration = meter.create_histogram(
            STEP_DURATION, unit="s", description="Duration of task hooks and on_message."
        )
        self.batch_commit_failures = meter.create_counter(
            BATCH_COMMIT_FAILURES,
            unit="{attempt}",
            description="Batch commits that failed and were tried again.",
        )
        self.inputs_dropped = meter.create_counter(
            INPUTS_DROPPED,
            unit="{record}",
            description="Inputs that changed nothing on purpose (duplicates, unknown ids).",
        )
        self.messages_held = meter.create_counter(
            MESSAGES_HELD,
            unit="{message}",
            description="Listener messages held for a listener that is not waiting yet.",
        )

    def active(self) -> bool:
        """Whether spans and metrics go anywhere."""
        if not self._configured:
            # Checked again until true, at most every PROVIDERS_RECHECK seconds (the check
            # reads the environment: a few percent of the engine's CPU if made per call):
            # applications often set their providers after they created the engine, and
            # once set, they stay set.
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + PROVIDERS_RECHECK
                self._configured = global_sdk_configured()
        return self._configured

    # -- the instance's trace -------------------------------------------------------
    def instance_created(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Start the instance's trace (a child of the caller's current span, if any)."""
        if self.active() and instance.traceparent is None:
            self.instance_context(instance)

    def instance_context(self, instance: ITemplateDAGInstance[Any, Any]) -> Context:
        """The context of the instance's root span, made (and stored) if it has none."""
        if instance.traceparent is not None:
            return _PROPAGATOR.extract({TRACEPARENT: instance.traceparent})
        root = self.tracer.start_span(
            "dagger.instance",
            attributes={"dagger.instance.id": instance.id, **_template(instance)},
        )
        root.end()
        context = trace.set_span_in_context(root)
        if root.get_span_context().is_valid:
            instance.traceparent = context_headers(context)[TRACEPARENT]
        return context

    # -- spans ----------------------------------------------------------------------
    def task_execution(
        self, instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], hook: str
    ) -> AbstractContextManager[object]:
        """A span ``dagger.task.<hook>`` around the hook, and its duration."""
        if not self.active():
            return NOTHING
        return _Step(self, instance, task, hook, f"dagger.task.{hook}")

    def message_handled(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        event: MessageDelivered,
    ) -> AbstractContextManager[object]:
        """A span ``dagger.listener.message`` around ``on_message``, and its duration."""
        if not self.active():
            return NOTHING
        step = _Step(self, instance, task, "on_message", "dagger.listener.message")
        step.kind = trace.SpanKind.CONSUMER
        origin = event.origin
        step.attributes.update(
            {
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": event.topic,
                "dagger.message.id": event.event_id,
            }
        )
        if "partition" in origin:
            step.attributes["messaging.destination.partition.id"] = str(origin["partition"])
        if "offset" in origin:
            step.attributes["messaging.kafka.message.offset"] = int(origin["offset"])
        if origin.get(TRACEPARENT):
            step.remote = _PROPAGATOR.extract(
                {key: origin[key] for key in (TRACEPARENT, TRACESTATE) if origin.get(key)}
            )
        return step

    def timer_fired(
        self, instance: ITemplateDAGInstance[Any, Any], event: TimerFired, now: float
    ) -> None:
        """A span ``dagger.timer.fired``: when a timer of the instance fired."""
        if not self.active():
            return
        task = instance.tasks.get(event.task_id)
        span = self.tracer.start_span(
            "dagger.timer.fired",
            context=self.instance_context(instance),
            attributes={
                **_task_attributes(instance, task, event.task_id),
                "dagger.timer.due": event.due,
                "dagger.timer.lateness": max(0.0, now - event.due),
            },
        )
        span.end()

    # -- metrics --------------------------------------------------------------------
    def status_changed(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        kind: str,
        previous: str,
        status: str,
    ) -> None:
        """Count the transition."""
        self.transitions.add(
            1,
            {
                "dagger.kind": kind,
                "dagger.status": status,
                "dagger.previous_status": previous,
                **_template(instance),
            },
        )

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        """Count the dead letter."""
        if not self.active():
            return
        attributes = {"dagger.reason": reason}
        if origin.get("topic"):
            attributes["dagger.origin.topic"] = str(origin["topic"])
        self.dead_letters.add(1, attributes)

    def batch_commit_failed(self, error_type: str) -> None:
        """Count the failed commit."""
        if self.active():
            self.batch_commit_failures.add(1, {"dagger.error.type": error_type})

    def input_dropped(self, reason: str, count: int = 1) -> None:
        """Count inputs dropped on purpose."""
        if self.active():
            self.inputs_dropped.add(count, {"dagger.reason": reason})

    def message_held(self) -> None:
        """Count a held message."""
        if self.active():
            self.messages_held.add(1)

    # -- propagation ----------------------------------------------------------------
    def inject(self, headers: OpenHeaders) -> None:
        """Add the current span's ``traceparent`` unless the message has one."""
        if not self.active():
            return
        if any(key == TRACEPARENT for key, _ in _header_items(headers)):
            return
        for key, value in context_headers().items():
            if isinstance(headers, list):
                headers.append((key, value.encode()))
            else:
                headers[key] = value.encode()


class _Step:
    """The span (current while the hook runs) and duration of one hook."""

    def __init__(
        self,
        otel: OpenTelemetry,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        hook: str,
        name: str,
    ) -> None:
        self._otel = otel
        self._instance = instance
        self._hook = hook
        self._name = name
        self.kind = trace.SpanKind.INTERNAL
        self.attributes: dict[str, Any] = {
            **_task_attributes(instance, task, task.id),
            "dagger.hook": hook,
        }
        self.remote: Context | None = None
        self._span: Any = None
        self._token: Any = None
        self._started = 0.0

    def __enter__(self) -> None:
        parent = self._otel.instance_context(self._instance)
        links: list[trace.Link] = []
        if self.remote is not None:
            remote = trace.get_current_span(self.remote).get_span_context()
            own = trace.get_current_span(parent).get_span_context()
            if remote.is_valid and remote.trace_id == own.trace_id:
                # The replying service propagated the command's context: its span is
                # part of this instance's trace, so this message's span is its child.
                parent = self.remote
            elif remote.is_valid:
                links.append(trace.Link(remote, {"dagger.link": "message"}))
        self._span = self._otel.tracer.start_span(
            self._name, context=parent, kind=self.kind, attributes=self.attributes, links=links
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        duration = time.perf_counter() - self._started
        otel_context.detach(self._token)
        outcome = "ok" if exc is None else "error"
        span = self._span
        if exc is not None:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.set_attribute("dagger.outcome", outcome)
        span.end()
        self._otel.step_duration.record(
            duration,
            {
                "dagger.hook": self._hook,
                "dagger.task.type": self.attributes["dagger.task.type"],
                "dagger.outcome": outcome,
                **_template(self._instance),
            },
        )


def _template(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, str]:
    return {"dagger.template": instance.template_name or instance.task_name}


def _task_attributes(
    instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any] | None, task_id: str
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "dagger.instance.id": instance.id,
        "dagger.task.id": task_id,
        **_template(instance),
    }
    if task is not None:
        attributes["dagger.task.name"] = task.task_name
        attributes["dagger.task.type"] = type(task).__name__
    return attributes
