"""The engine's telemetry seam: one observer told of the moments operators watch.

The owners call it when a task hook runs, a listener message is handled, a timer fires,
statuses change and a dead letter is published; the engine calls it when it creates an
instance and when a hook sends a message. :data:`NO_TELEMETRY` does nothing and is the
default; :class:`FanOut` tells several observers. The OpenTelemetry and Datadog observers
are in :mod:`dagger.observability`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from dagger.core._events import MessageDelivered, TimerFired
from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._status import TaskType

OpenHeaders = MutableMapping[str, Any] | list[tuple[str, Any]]
"""The headers of a message being sent: faust gives a dict or a list of pairs."""

INSTANCE = "instance"
PROCESS = "process"
TASK = "task"


@runtime_checkable
class Telemetry(Protocol):
    """What an engine observer implements; every method must be cheap and must not raise.

    The context managers wrap the user's hook: they see its exception (and must let it
    through) and are current while it runs, so spans the hook starts nest under them.
    """

    def active(self) -> bool:
        """Whether any call does something; False lets the engine skip preparing them."""
        ...

    def instance_created(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """A new instance is about to be sent to its owner; it may be annotated."""
        ...

    def task_execution(
        self, instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], hook: str
    ) -> AbstractContextManager[object]:
        """Wrap one run of a task hook: ``execute``, ``evaluate`` or ``interval_execute``."""
        ...

    def message_handled(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        event: MessageDelivered,
    ) -> AbstractContextManager[object]:
        """Wrap a listener's ``on_message`` for the correlated message ``event``."""
        ...

    def timer_fired(
        self, instance: ITemplateDAGInstance[Any, Any], event: TimerFired, now: float
    ) -> None:
        """The timer ``event`` fired for a task of ``instance`` at ``now`` (epoch seconds)."""
        ...

    def status_changed(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        kind: str,
        previous: str,
        status: str,
    ) -> None:
        """``task`` (the instance, a process or a task: ``kind``) changed its status."""
        ...

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        """A dead letter was published for the input at ``origin``."""
        ...

    def inject(self, headers: OpenHeaders) -> None:
        """Add context headers to a message a hook is sending (a command)."""
        ...


class NoTelemetry:
    """The observer that does nothing: the engine's default."""

    def active(self) -> bool:
        """Never active."""
        return False

    def instance_created(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Nothing to do."""

    def task_execution(
        self, instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], hook: str
    ) -> AbstractContextManager[object]:
        """A context that does nothing."""
        return NOTHING

    def message_handled(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        event: MessageDelivered,
    ) -> AbstractContextManager[object]:
        """A context that does nothing."""
        return NOTHING

    def timer_fired(
        self, instance: ITemplateDAGInstance[Any, Any], event: TimerFired, now: float
    ) -> None:
        """Nothing to do."""

    def status_changed(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        kind: str,
        previous: str,
        status: str,
    ) -> None:
        """Nothing to do."""

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        """Nothing to do."""

    def batch_commit_failed(self, error_type: str) -> None:
        """Nothing to do."""

    def input_dropped(self, reason: str, count: int = 1) -> None:
        """Nothing to do."""

    def message_held(self) -> None:
        """Nothing to do."""

    def inject(self, headers: OpenHeaders) -> None:
        """Nothing to add."""


NOTHING = contextlib.nullcontext()
NO_TELEMETRY = NoTelemetry()


class FanOut:
    """Tells every observer in ``observers``, in order."""

    def __init__(self, observers: Sequence[Telemetry]) -> None:
        self.observers = tuple(observers)

    def active(self) -> bool:
        """Active when one of the observers is."""
        return any(observer.active() for observer in self.observers)

    def instance_created(self, instance: ITemplateDAGInstance[Any, Any]) -> None:
        """Tell each observer."""
        for observer in self.observers:
            observer.instance_created(instance)

    def task_execution(
        self, instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any], hook: str
    ) -> AbstractContextManager[object]:
        """Enter each observer's context, first one outermost."""
        return _Nested([o.task_execution(instance, task, hook) for o in self.observers])

    def message_handled(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        event: MessageDelivered,
    ) -> AbstractContextManager[object]:
        """Enter each observer's context, first one outermost."""
        return _Nested([o.message_handled(instance, task, event) for o in self.observers])

    def timer_fired(
        self, instance: ITemplateDAGInstance[Any, Any], event: TimerFired, now: float
    ) -> None:
        """Tell each observer."""
        for observer in self.observers:
            observer.timer_fired(instance, event, now)

    def status_changed(
        self,
        instance: ITemplateDAGInstance[Any, Any],
        task: ITask[Any, Any],
        kind: str,
        previous: str,
        status: str,
    ) -> None:
        """Tell each observer."""
        for observer in self.observers:
            observer.status_changed(instance, task, kind, previous, status)

    def dead_letter(self, reason: str, origin: Mapping[str, Any]) -> None:
        """Tell each observer."""
        for observer in self.observers:
            observer.dead_letter(reason, origin)

    def batch_commit_failed(self, error_type: str) -> None:
        """Tell each observer that counts failed commits."""
        for observer in self.observers:
            report_commit_failure(observer, error_type)

    def input_dropped(self, reason: str, count: int = 1) -> None:
        """Tell each observer that counts dropped inputs."""
        for observer in self.observers:
            report_dropped(observer, reason, count)

    def message_held(self) -> None:
        """Tell each observer that counts held messages."""
        for observer in self.observers:
            report_held(observer)

    def inject(self, headers: OpenHeaders) -> None:
        """Let each observer add its headers."""
        for observer in self.observers:
            observer.inject(headers)


class _Nested:
    """Several context managers entered as one."""

    def __init__(self, managers: list[AbstractContextManager[object]]) -> None:
        self._managers = managers
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> None:
        with contextlib.ExitStack() as stack:
            for manager in self._managers:
                stack.enter_context(manager)
            self._stack = stack.pop_all()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return bool(self._stack.__exit__(exc_type, exc, traceback))


def kind_of(instance: ITemplateDAGInstance[Any, Any], task: ITask[Any, Any]) -> str:
    """``instance``, ``process`` or ``task``: what a status transition is counted as."""
    if task is instance:
        return INSTANCE
    if task.task_type == TaskType.SUB_DAG.name:
        return PROCESS
    return TASK


def report_transitions(telemetry: Telemetry, instance: ITemplateDAGInstance[Any, Any]) -> None:
    """Tell ``telemetry`` the status changes recorded on ``instance`` since the last report.

    The core records each change it makes on the task (``ITask.record_transition``), so
    a task that started and completed in one event counts both. Nothing is done when the
    observer is not active: the records go with the decoded instance.
    """
    if not telemetry.active():
        return
    for task in (instance, *instance.tasks.values()):
        transitions = task.take_transitions()
        if transitions:
            kind = kind_of(instance, task)
            for previous, status in transitions:
                telemetry.status_changed(instance, task, kind, previous, status)


TRACE_HEADERS = ("traceparent", "tracestate")
"""The W3C trace-context headers a listener message's origin keeps."""


def trace_origin(
    origin: dict[str, Any],
    headers: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
) -> dict[str, Any]:
    """Return ``origin`` with the message's W3C trace-context headers added, if it has any.

    The origin travels with the message to the listener's instance (held or not), so
    the span of the message handled there can join the replying service's trace.
    """
    if not headers:
        return origin
    items = headers.items() if isinstance(headers, Mapping) else headers
    for header, value in items:
        if header in TRACE_HEADERS and header not in origin and value:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            origin = {**origin, header: text}
    return origin


def report_commit_failure(observer: Telemetry, error_type: str) -> None:
    """Tell ``observer`` of a failed batch commit, if it counts them.

    ``batch_commit_failed(error_type)`` is optional, so that an observer written before
    it existed still satisfies :class:`Telemetry`.
    """
    report = getattr(observer, "batch_commit_failed", None)
    if report is not None:
        report(error_type)


DROPPED_ALREADY_HELD = "already_held"
DROPPED_HELD_EXPIRED = "held_expired"
DROPPED_NO_LISTENER = "no_listener"
DROPPED_NO_KEYS = "no_keys"
"""Why an input was dropped on purpose: the ``dagger.inputs_dropped`` metric's reasons
besides those of :func:`dagger.core.step` (``Step.drop``)."""


def report_dropped(observer: Telemetry, reason: str, count: int = 1) -> None:
    """Tell ``observer`` that ``count`` inputs were dropped on purpose, if it counts them.

    A dropped input changed nothing and is in no dead letter: a duplicate, an event for an
    instance that does not exist, a held message that expired. ``input_dropped(reason,
    count)`` is optional, as ``batch_commit_failed`` is.
    """
    report = getattr(observer, "input_dropped", None)
    if report is not None:
        report(reason, count)


def report_held(observer: Telemetry) -> None:
    """Tell ``observer`` that a message was held for a listener to come, if it counts them."""
    report = getattr(observer, "message_held", None)
    if report is not None:
        report()
