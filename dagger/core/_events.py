"""Events and hook outcomes: everything :func:`dagger.core.step` gives a meaning to.

Engine-topic records (``InstanceEvent`` for an instance's owner, ``KeyEvent`` for a
correlation key's owner; ``LogEvent`` is either) are durable changes with ids. Hook
outcomes (``HookOutcome``) are what a user hook's return or exception means, applied by
the owner within the event that ran the hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class InstanceCreated:
    """A new instance, carried as its encoded document; ``submit`` starts it at once."""

    event_id: str
    instance_id: str
    document: dict[str, Any]
    submit: bool = False


@dataclass(frozen=True, slots=True)
class InstanceSubmitted:
    """Start a created instance."""

    event_id: str
    instance_id: str


@dataclass(frozen=True, slots=True)
class TaskSucceeded:
    """An executor task's ``execute`` returned."""

    task_id: str


@dataclass(frozen=True, slots=True)
class TaskFailed:
    """A task's hook (``execute``, ``evaluate``) raised.

    ``lineage`` names the exception's class and its bases, which a retry policy's
    ``non_retryable`` is matched against; ``traceback`` is the (bounded) formatted one.
    """

    task_id: str
    error_type: str
    error_message: str
    traceback: str = ""
    lineage: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IntervalChecked:
    """An interval task's ``interval_execute`` returned ``done``."""

    task_id: str
    done: bool


@dataclass(frozen=True, slots=True)
class TaskDecided:
    """A decision task's ``evaluate`` returned ``next_task_id`` (None: no branch)."""

    task_id: str
    next_task_id: str | None


@dataclass(frozen=True, slots=True)
class MessageHandled:
    """A listener's ``on_message`` returned ``completed``."""

    task_id: str
    completed: bool


@dataclass(frozen=True, slots=True)
class ParametersUnserializable:
    """The instance's runtime parameters cannot be stored as JSON (a hook put ``error`` there)."""

    error: str


HookOutcome = (
    TaskSucceeded
    | TaskFailed
    | IntervalChecked
    | TaskDecided
    | MessageHandled
    | ParametersUnserializable
)
"""What a hook's return (or exception) means for the instance it ran for."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A listener-topic message, routed to the partition that owns its correlation key."""

    event_id: str
    index_key: str
    topic: str
    payload: bytes
    origin: dict[str, Any]
    match_only_one: bool = False


@dataclass(frozen=True, slots=True)
class IndexAdded:
    """A listener started waiting under ``index_key``."""

    event_id: str
    index_key: str
    instance_id: str
    task_id: str
    owner_partition: int


@dataclass(frozen=True, slots=True)
class IndexRemoved:
    """A listener stopped waiting under ``index_key``."""

    event_id: str
    index_key: str
    instance_id: str
    task_id: str


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """A correlated message for one listener of one instance, sent to the instance's owner."""

    event_id: str
    instance_id: str
    task_id: str
    topic: str
    payload: bytes
    origin: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HeldMessagesSwept:
    """Drop this partition's early messages whose window had passed at ``swept_at``.

    The time is the sweep's own, set when it is appended: a sweep applied again after a
    crash, later, forgets what it forgot the first time and no more. Judged by the clock
    of the replay, it forgot the memory of a reply read again after it, whose replay
    then found neither its listener nor its memory, and was held for ever.
    None (a sweep written by an older version): the clock when it is applied.
    """

    event_id: str
    swept_at: float | None = None


KeyEvent = MessageReceived | IndexAdded | IndexRemoved | HeldMessagesSwept
"""Events applied by the owner of a correlation key."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The timer of ``task_id`` set for ``due`` is due; sent to the instance's owner."""

    event_id: str
    instance_id: str
    task_id: str
    due: float


@dataclass(frozen=True, slots=True)
class StopRequested:
    """Stop the instance, or only ``task_id`` in it (a process or a parallel composite)."""

    event_id: str
    instance_id: str
    task_id: str | None = None


@dataclass(frozen=True, slots=True)
class RetryRequested:
    """Run a FAILURE instance again from its failed task(s); see :mod:`dagger.core._retry`."""

    event_id: str
    instance_id: str


@dataclass(frozen=True, slots=True)
class RerunRequested:
    """Run a finished instance again from the node ``task`` (an id or a unique name).

    ``parameters`` are merged into the instance's runtime parameters first; see
    :mod:`dagger.core._rerun`.
    """

    event_id: str
    instance_id: str
    task: str
    parameters: dict[str, Any] = field(default_factory=dict)


InstanceEvent = (
    InstanceCreated
    | InstanceSubmitted
    | MessageDelivered
    | TimerFired
    | StopRequested
    | RetryRequested
    | RerunRequested
)
"""The events an instance's owner applies."""


@dataclass(frozen=True, slots=True)
class ScheduleDue:
    """Look at the schedule of ``workflow`` at ``now``; sent to the schedule's partition.

    The owner of that partition releases what is due (``dagger.runtime._schedules``);
    ``now`` travels with the event so a replay decides the same.
    """

    event_id: str
    workflow: str
    now: float


@dataclass(frozen=True, slots=True)
class ReleaseRequested:
    """Release ``workflow`` by hand; sent to its schedule's partition, applied by its owner.

    ``kind`` is ``force`` (start the release of ``logical_time`` now, whatever the
    schedule's max-active and catch-up say), ``dry-run`` (audit what that release would
    be, start nothing) or ``rerun`` (start the release ``original`` again, as its
    ``counter``-th rerun). Everything the owner decides from travels with the event, so
    a replay decides the same (``dagger.runtime._schedules``).
    """

    event_id: str
    workflow: str
    kind: str
    logical_time: float
    now: float
    original: str | None = None
    counter: int = 0


LogEvent = InstanceEvent | KeyEvent | ScheduleDue | ReleaseRequested
"""Every event the engine topic carries."""
