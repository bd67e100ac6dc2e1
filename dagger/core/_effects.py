"""Effects: what the runtime must do after the core applied an event."""

from __future__ import annotations

from dataclasses import dataclass

from dagger.core._events import MessageDelivered


@dataclass(frozen=True, slots=True)
class RunTask:
    """Run the user's ``execute`` of an executor task and report how it ended."""

    task_id: str


@dataclass(frozen=True, slots=True)
class InstanceFinished:
    """The workflow instance reached a final status."""

    status: str


@dataclass(frozen=True, slots=True)
class Register:
    """Add the listener ``task_id`` to the correlation index under ``index_key``."""

    task_id: str
    index_key: str


@dataclass(frozen=True, slots=True)
class Unregister:
    """Remove the listener ``task_id`` from the correlation index under ``index_key``."""

    task_id: str
    index_key: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Fire ``TimerFired`` for ``task_id`` at ``due`` (epoch seconds); replaces its timer."""

    task_id: str
    due: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Drop the timer of ``task_id``."""

    task_id: str


@dataclass(frozen=True, slots=True)
class RunInterval:
    """Run the interval task's ``interval_execute`` and report whether it is done."""

    task_id: str


@dataclass(frozen=True, slots=True)
class RunDecision:
    """Run the decision task's ``evaluate`` and report the branch it chose."""

    task_id: str


@dataclass(frozen=True, slots=True)
class RunStopHook:
    """Run the ``stop`` hook of a task the engine stopped while it was executing."""

    task_id: str


@dataclass(frozen=True, slots=True)
class RunContainerHook:
    """Run the ``execute`` a process, workflow or parallel composite class defines, as it starts.

    The original called a container's ``execute`` when it started, and its apps override
    it (a monitored process that logs, say). It runs before the container's first tasks;
    if it raises, the container fails.
    """

    task_id: str


@dataclass(frozen=True, slots=True)
class RunMessageHook:
    """Decode the delivered ``message`` and run its listener's ``on_message`` with it.

    When the payload cannot be decoded or the hook raises, the message goes to the dead
    letters and the event changes nothing: none of the effects after this one run.
    """

    message: MessageDelivered

    @property
    def task_id(self) -> str:
        """The listener the message is for."""
        return self.message.task_id


Effect = (
    RunTask
    | RunMessageHook
    | RunContainerHook
    | InstanceFinished
    | Register
    | Unregister
    | SetTimer
    | CancelTimer
    | RunInterval
    | RunDecision
    | RunStopHook
)
