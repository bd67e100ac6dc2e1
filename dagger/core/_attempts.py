"""Attempts of a task with a retry policy: a failure waits and runs the task again.

A task's first attempt starts when it starts. When a hook of a task with a retry policy
(:class:`~dagger.tasks._retry_policy.RetryPolicy`) raises, the attempt is recorded on the
task (number, start, end, error type, message, traceback) and, while the policy allows,
the task stays EXECUTING with a timer for the next attempt: the wait is on the timer
index, so a crash neither loses it nor runs it twice (a timer fires as one event, applied
once). After the last attempt the task is FAILURE and the failure rules apply.
"""

from __future__ import annotations

from typing import Any

from dagger.core import _flow as flow
from dagger.core._effects import Effect, SetTimer
from dagger.core._events import TaskFailed
from dagger.core._rules import Instance, Task
from dagger.tasks._retry_policy import RetryPolicy
from dagger.tasks._status import TaskStatusEnum as Status


def failed(instance: Instance, task: Task, failure: TaskFailed, now: float) -> list[Effect]:
    """An attempt of ``task`` raised: wait for the next one, or fail the task."""
    policy = _policy_of(task)
    if policy is not None:
        attempt = _record(task, now, failure)
        failures = sum(1 for recorded in task.attempts if recorded.get("error_type"))
        if policy.retries(failures, failure.lineage or (failure.error_type,)):
            due = now + policy.backoff(failures)
            attempt["retry_at"] = due
            task.timer_due = due
            return [SetTimer(task.id, due)]
    task.error_traceback = failure.traceback or None
    error = (failure.error_type, failure.error_message)
    return flow.finish_task(instance, task.id, Status.FAILURE, now, error=error)


def succeeded(task: Task, now: float) -> None:
    """Record the attempt that succeeded, when earlier ones failed."""
    if task.attempts:
        _record(task, now, None)


def waiting_to_retry(task: Task, due: float) -> bool:
    """True when ``task``'s timer for ``due`` starts its next attempt."""
    return bool(task.attempts) and task.attempts[-1].get("retry_at") == due


def forget(task: Task) -> None:
    """Drop the attempts of an earlier run (a retry of the instance starts afresh)."""
    task.attempts = []
    task.error_traceback = None


def _policy_of(task: Task) -> RetryPolicy | None:
    document = task.retry_policy
    if not document:
        return None
    policy = RetryPolicy.from_document(document)
    return policy if policy.max_attempts > 1 else None


def _record(task: Task, now: float, failure: TaskFailed | None) -> dict[str, Any]:
    previous = task.attempts[-1] if task.attempts else None
    started = task.time_submitted if previous is None else previous.get("retry_at", now)
    attempt: dict[str, Any] = {
        "number": len(task.attempts) + 1,
        "started": started,
        "ended": now,
        "error_type": None if failure is None else failure.error_type,
        "error_message": None if failure is None else failure.error_message,
        "traceback": None if failure is None else failure.traceback or None,
    }
    task.attempts.append(attempt)
    return attempt
