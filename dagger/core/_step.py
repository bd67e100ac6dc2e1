"""The core's one entry point: ``step(instance, input, now) -> Step``.

Every engine event and every hook outcome or intent gets its meaning here, and only
here: whether it applies to the instance at all, what it changes, and which effects the
runtime must carry out. The step is pure: it reads no clock (``now`` is given), does no
I/O and mutates only the instance it is given (the caller's freshly decoded copy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from dagger.core import _attempts as attempts
from dagger.core import _codec as codec
from dagger.core import _flow as flow
from dagger.core import _rerun as rerun
from dagger.core import _retry as retry
from dagger.core._effects import CancelTimer, Effect, RunMessageHook
from dagger.core._events import (
    HookOutcome,
    InstanceCreated,
    InstanceEvent,
    InstanceSubmitted,
    IntervalChecked,
    MessageDelivered,
    MessageHandled,
    ParametersUnserializable,
    RerunRequested,
    RetryRequested,
    StopRequested,
    TaskDecided,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._kinds import decision, interval, listener
from dagger.core._rules import Instance, rules_for
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.tasks._intents import FinishTask, Intent, Rekey, StartTask, StopListening, StopTask
from dagger.tasks._status import TaskStatus
from dagger.tasks._status import TaskStatusEnum as Status

StepInput = InstanceEvent | HookOutcome | Intent
"""Everything :func:`step` takes."""

_EVENTS = (
    InstanceCreated,
    InstanceSubmitted,
    MessageDelivered,
    TimerFired,
    StopRequested,
    RetryRequested,
    RerunRequested,
)
"""The engine events an instance's owner steps (``InstanceEvent``, as a tuple)."""

_NOT_YET_STARTED = frozenset({Status.NOT_STARTED, Status.SUBMITTED})
"""The statuses of an instance a submission starts."""

_OUTCOMES_AND_INTENTS = (
    TaskSucceeded,
    TaskFailed,
    IntervalChecked,
    TaskDecided,
    MessageHandled,
    ParametersUnserializable,
    StartTask,
    FinishTask,
    StopTask,
    Rekey,
    StopListening,
)

_BROADCAST = (StopRequested, RetryRequested, RerunRequested)
"""Events sent to every partition when only the instance id is known: silent elsewhere."""


class Verdict(Enum):
    """What became of a step's input."""

    APPLIED = "applied"
    """It changed the instance (or might have): store it and run the effects."""
    IGNORED = "ignored"
    """It does not apply: nothing to store, nothing to run."""
    REPLAYED = "replayed"
    """It was applied before (a replay after a crash): store the instance again as it is."""


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one :func:`step`."""

    instance: Instance | None
    effects: list[Effect] = field(default_factory=list)
    verdict: Verdict = Verdict.APPLIED
    reason: str = ""
    """Why an ignored input was ignored, for the log."""
    level: int = logging.NOTSET
    """The log level of ``reason`` (NOTSET: not worth a line)."""
    drop: str = ""
    """Why an event changed nothing, as a short name for the ``dagger.inputs_dropped``
    metric (``unknown_instance``, ``replayed``, ``not_waiting``...); empty: not counted
    (an event sent to every partition, ignored where the instance does not live)."""


def step(
    instance: Instance | None, given: StepInput, now: float, *, partition: int | None = None
) -> Step:
    """Apply ``given`` to ``instance`` at ``now``.

    ``partition`` is the engine-topic partition an event was read from: an event for an
    instance another partition owns is ignored there, and a created instance is owned by
    it. Hook outcomes and intents come from a hook of ``instance`` and need none.
    """
    if isinstance(given, _EVENTS):
        return _event(instance, given, now, partition)
    if not isinstance(given, _OUTCOMES_AND_INTENTS):
        raise TypeError(f"not an instance event, a hook outcome or an intent: {given!r}")
    if instance is None:
        raise ValueError(f"{type(given).__name__} needs the instance its hook ran for")
    return Step(instance, _outcome(instance, given, now))


def _event(
    instance: Instance | None, event: InstanceEvent, now: float, partition: int | None
) -> Step:
    if instance is None:
        if isinstance(event, InstanceCreated):
            return _created(event, now, partition)
        if isinstance(event, _BROADCAST):
            return _ignored(None)
        return _ignored(
            None,
            f"{type(event).__name__} for unknown instance {event.instance_id} dropped",
            logging.WARNING,
            "unknown_instance",
        )
    owned_elsewhere = partition is not None and instance.owner_partition != partition
    if owned_elsewhere and not isinstance(event, InstanceCreated):
        # A worker's store may hold instances of all its partitions, and a stop or a
        # retry by id goes to every partition: only the owner's partition applies it,
        # so its writes land in that partition's changelog.
        if isinstance(event, _BROADCAST):
            return _ignored(instance)
        return _ignored(
            instance,
            f"{type(event).__name__} for instance {event.instance_id} reached partition "
            f"{partition}, not its owner {instance.owner_partition}; dropped",
            logging.WARNING,
            "not_owner",
        )
    if event.event_id in instance.applied_events:
        return Step(instance, verdict=Verdict.REPLAYED, drop="replayed")
    if isinstance(event, InstanceCreated):
        return _ignored(
            instance,
            f"instance {event.instance_id} already exists; create event dropped",
            logging.WARNING,
            "already_exists",
        )
    if isinstance(event, StopRequested):
        return _stop(instance, event, now)
    if isinstance(event, RetryRequested):
        refused = retry.refusal(instance)
        if refused is not None:
            return _ignored(instance, f"retry ignored: {refused}", logging.WARNING, "retry_refused")
        flow.remember_event(instance, event.event_id)
        return Step(instance, retry.retry(instance, now))
    if isinstance(event, RerunRequested):
        try:
            effects = rerun.rerun(instance, event.task, event.parameters, now)
        except TaskInvalidState as refused:
            return _ignored(instance, f"rerun ignored: {refused}", logging.WARNING, "rerun_refused")
        flow.remember_event(instance, event.event_id)
        return Step(instance, effects)
    if isinstance(event, InstanceSubmitted):
        if instance.status.code not in _NOT_YET_STARTED:
            return _ignored(
                instance,
                f"instance {instance.id} is already {instance.status.code}; submit ignored",
                logging.INFO,
                "already_started",
            )
        flow.remember_event(instance, event.event_id)
        return Step(instance, submit(instance, now))
    if isinstance(event, TimerFired):
        return _timer(instance, event, now)
    return _delivered(instance, event, now)


def _created(event: InstanceCreated, now: float, partition: int | None) -> Step:
    if partition is None:
        raise ValueError("a created instance needs the partition that owns it")
    instance = codec.from_document(event.document)
    instance.owner_partition = partition
    flow.remember_event(instance, event.event_id)
    return Step(instance, submit(instance, now) if event.submit else [])


def submit(instance: Instance, now: float) -> list[Effect]:
    """Start a workflow instance that has not started yet; otherwise change nothing."""
    if instance.status.code not in _NOT_YET_STARTED:
        return []
    instance.status = TaskStatus.of(Status.NOT_STARTED)
    return listener.listen_early(instance) + flow.start_task(instance, instance.id, now)


def _stop(instance: Instance, event: StopRequested, now: float) -> Step:
    target = event.task_id or instance.id
    if not flow.can_stop(instance, target):
        return _ignored(
            instance,
            f"instance {instance.id}: {target} is finished or unknown; stop ignored",
            logging.INFO,
            "nothing_to_stop",
        )
    flow.remember_event(instance, event.event_id)
    return Step(instance, flow.stop_task(instance, target, now))


def _timer(instance: Instance, event: TimerFired, now: float) -> Step:
    """Apply a due timer; a timer that was cancelled or replaced since changes nothing."""
    task = instance.tasks.get(event.task_id)
    if task is None or task.is_terminal() or task.timer_due != event.due:
        return _ignored(instance, drop="stale_timer")
    flow.remember_event(instance, event.event_id)
    task.timer_due = None
    rules = rules_for(task)
    if attempts.waiting_to_retry(task, event.due):
        return Step(instance, [CancelTimer(task.id), *rules.start(instance, task, now)])
    return Step(instance, [CancelTimer(task.id), *rules.fire_timer(instance, task, now)])


def _delivered(instance: Instance, event: MessageDelivered, now: float) -> Step:
    """A correlated message for a listener: run its ``on_message`` if it takes one now."""
    accepted, skipped = listener.accept_message(instance, event.task_id, now)
    if not accepted:
        task = instance.tasks.get(event.task_id)
        state = task.status.code if task is not None else "unknown"
        return _ignored(
            instance,
            f"message {event.event_id} for task {event.task_id} of instance {instance.id} "
            f"ignored: the task is {state}",
            logging.INFO,
            "not_waiting",
        )
    flow.remember_event(instance, event.event_id)
    return Step(instance, [RunMessageHook(event), *skipped])


def _outcome(instance: Instance, given: HookOutcome | Intent, now: float) -> list[Effect]:
    """What a hook's outcome, or an intent it recorded, does to ``instance``."""
    if isinstance(given, TaskSucceeded | TaskFailed):
        task = instance.get_task(given.task_id)
        if task.status.code != Status.EXECUTING:
            return []
        if isinstance(given, TaskFailed):
            return attempts.failed(instance, task, given, now)
        attempts.succeeded(task, now)
        return flow.finish_task(instance, given.task_id, Status.COMPLETED, now)
    if isinstance(given, IntervalChecked):
        return interval.interval_checked(instance, given.task_id, given.done, now)
    if isinstance(given, TaskDecided):
        return decision.decided(instance, given.task_id, given.next_task_id, now)
    if isinstance(given, MessageHandled):
        return listener.message_handled(instance, given.task_id, given.completed, now)
    if isinstance(given, ParametersUnserializable):
        return _fail_unserializable(instance, given.error, now)
    if isinstance(given, StartTask):
        return flow.start_task(instance, given.task_id, now)
    if isinstance(given, FinishTask):
        return flow.finish_task(instance, given.task_id, given.status, now, iterate=given.iterate)
    if isinstance(given, StopTask):
        return flow.stop_task(instance, given.task_id, now)
    if isinstance(given, Rekey):
        return listener.listen(instance, instance.get_task(given.task_id))
    if isinstance(given, StopListening):
        return listener.stop_listening(instance.get_task(given.task_id))
    raise TypeError(f"not a step input: {given!r}")


def _fail_unserializable(instance: Instance, error: str, now: float) -> list[Effect]:
    """FAIL the instance, keeping a printable copy of each parameter JSON cannot hold.

    It ends like any failed workflow: what executes is STOPPED, its listeners leave the
    index and its timers are dropped, so nothing of it runs again.
    """
    instance.runtime_parameters = {
        name: value if _is_plain(value) else repr(value)
        for name, value in instance.runtime_parameters.items()
    }
    reason = ("UnserializableRuntimeParameters", f"runtime parameters are not JSON: {error}")
    if not instance.is_terminal():
        return flow.finish_task(instance, instance.id, Status.FAILURE, now, error=reason)
    # It had ended already (the last hook stored the value): it ends FAILURE instead.
    instance.record_transition(instance.status.code, Status.FAILURE.name)
    instance.status = TaskStatus.of(Status.FAILURE)
    instance.error_type, instance.error_message = reason
    return []


def _is_plain(value: Any) -> bool:
    try:
        codec.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _ignored(
    instance: Instance | None, reason: str = "", level: int = logging.NOTSET, drop: str = ""
) -> Step:
    return Step(instance, verdict=Verdict.IGNORED, reason=reason, level=level, drop=drop)
