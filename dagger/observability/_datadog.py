"""The Datadog observer: the engine's metrics sent as DogStatsD lines with ``datadog``.

The same metrics as the OpenTelemetry observer, with tags instead of attributes:

- ``dagger.status.transitions`` (count; tags ``kind``, ``status``, ``previous_status``,
  ``template``),
- ``dagger.dead_letters`` (count; tags ``reason``, ``origin_topic``),
- ``dagger.step.duration`` (histogram, seconds; tags ``hook``, ``template``,
  ``task_type``, ``outcome``),
- ``dagger.batch_commit_failures`` (count; tag ``error_type``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from dagger.core._events import MessageDelivered
from dagger.exceptions.exceptions import ConfigurationError
from dagger.runtime._telemetry import NoTelemetry
from dagger.tasks._base import ITask, ITemplateDAGInstance

TRANSITIONS = "dagger.status.transitions"
DEAD_LETTERS = "dagger.dead_letters"
BATCH_COMMIT_FAILURES = "dagger.batch_commit_failures"
INPUTS_DROPPED = "dagger.inputs_dropped"
MESSAGES_HELD = "dagger.messages_held"
STEP_DURATION = "dagger.step.duration"


class Datadog(NoTelemetry):
    """Sends the engine's metrics to a DogStatsD agent.

    Give a ``datadog.dogstatsd.DogStatsd`` client, or the agent's ``host`` and ``port``
    (the client's defaults, ``DD_AGENT_HOST``/``DD_DOGSTATSD_PORT`` or
    ``localhost:8125``, apply to what is not given). ``namespace`` prefixes every
    metric name; ``tags`` are added to every metric. What it does not measure (instance
    creation, timers, message headers) it leaves to :class:`NoTelemetry`'s no-ops.

    Examples:
        >>> engine = Dagger(  # doctest: +SKIP
        ...     broker="kafka://127.0.0.1:9092", store="rocksdb://",
        ...     telemetry=[Datadog(host="127.0.0.1", port=8125, tags=["env:prod"])],
        ... )
    """

    def __init__(
        self,
        statsd: Any = None,
        *,
        host: str | None = None,
        port: int | None = None,
        namespace: str | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
            raise ConfigurationError(f"Datadog tags must be a list of 'name:value', got {tags!r}")
        if statsd is None:
            try:
                from datadog.dogstatsd.base import DogStatsd
            except ImportError as exc:
                raise ConfigurationError(
                    "Datadog metrics need the datadog package: "
                    "pip install 'dagger-workflows[datadog]'"
                ) from exc
            statsd = DogStatsd(host=host, port=port, namespace=namespace, constant_tags=list(tags))
        elif host is not None or port is not None or namespace is not None or tags:
            raise ConfigurationError(
                "give Datadog either a DogStatsd client or host/port/namespace/tags, not both"
            )
        if not callable(getattr(statsd, "increment", None)) or not callable(
            getattr(statsd, "histogram", None)
        ):
            raise ConfigurationError(
                f"Datadog needs a datadog.dogstatsd.DogStatsd client, got {type(statsd).__name__}"
            )
        self.statsd = statsd

    @classmethod
    def from_sensor(cls, sensor: Any) -> Datadog:
        """Send to the agent a faust ``DatadogMonitor`` reports to (its host and port)."""
        return cls(host=sensor.host, port=sensor.port)

    def active(self) -> bool:
        """Always: the client sends over UDP and never waits for the agent."""
        return True

    def task_execution(
        self, instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], hook: str
    ) -> AbstractContextManager[object]:
        """Time the hook."""
        return _Timed(self, instance, task, hook)

    def message_handled(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        event: MessageDelivered,
    ) -> AbstractContextManager[object]:
        """Time ``on_message``."""
        return _Timed(self, instance, task, "on_message")

    def status_changed(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        kind: str,
        previous: str,
        status: str,
    ) -> None:
        """Count the transition."""
        self.statsd.increment(
            TRANSITIONS,
            tags=[
                f"kind:{kind}",
                f"status:{status}",
                f"previous_status:{previous}",
                f"template:{_template(instance)}",
            ],
        )

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        """Count the dead letter."""
        tags = [f"reason:{reason}"]
        if origin.get("topic"):
            tags.append(f"origin_topic:{origin['topic']}")
        self.statsd.increment(DEAD_LETTERS, tags=tags)

    def batch_commit_failed(self, error_type: str) -> None:
        """Count the failed commit."""
        self.statsd.increment(BATCH_COMMIT_FAILURES, tags=[f"error_type:{error_type}"])

    def input_dropped(self, reason: str, count: int = 1) -> None:
        """Count inputs dropped on purpose."""
        self.statsd.increment(INPUTS_DROPPED, value=count, tags=[f"reason:{reason}"])

    def message_held(self) -> None:
        """Count a held message."""
        self.statsd.increment(MESSAGES_HELD)


class _Timed:
    """Sends the duration of one hook when it returns or raises."""

    def __init__(
        self,
        datadog: Datadog,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        hook: str,
    ) -> None:
        self._statsd = datadog.statsd
        self._tags = [
            f"hook:{hook}",
            f"template:{_template(instance)}",
            f"task_type:{type(task).__name__}",
        ]
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        outcome = "ok" if exc is None else "error"
        self._statsd.histogram(
            STEP_DURATION,
            time.perf_counter() - self._started,
            tags=[*self._tags, f"outcome:{outcome}"],
        )


def _template(instance: ITemplateDAGInstance[Any, Any]) -> str:
    return instance.template_name or instance.task_name
