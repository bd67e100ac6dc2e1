"""Intents: what a hook asks of the engine while it runs, applied by the core when it returns.

A hook never changes an instance's statuses itself. ``start``, ``on_complete``, ``stop``
and the listener re-keying methods record one of these on the instance; when the hook
returns, the owner hands each to :func:`dagger.core.step`, which applies it with the
engine's clock, in the order the hook asked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StartTask:
    """Start the task ``task_id`` if it has not started."""

    task_id: str


@dataclass(frozen=True, slots=True)
class FinishTask:
    """Give ``task_id`` the final status ``status``; ``iterate`` moves the workflow on."""

    task_id: str
    status: str
    iterate: bool = True


@dataclass(frozen=True, slots=True)
class StopTask:
    """Stop ``task_id`` (the instance, a process, a composite or a task) and all under it."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Rekey:
    """Register the listener ``task_id`` again under its correlation parameter's value now."""

    task_id: str


@dataclass(frozen=True, slots=True)
class StopListening:
    """Remove the listener ``task_id`` from the correlation index."""

    task_id: str


Intent = StartTask | FinishTask | StopTask | Rekey | StopListening
"""Everything a hook can ask of the engine about its own instance."""
