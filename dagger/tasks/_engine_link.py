"""The running engine, as the task model sees it: what hooks may ask of it outside a step.

A hook changes its own instance through intents (:mod:`dagger.tasks._intents`). Two things
reach past it: stopping another instance, and the original's ``SystemTimerTask`` firing the
engine's due timers. The engine binds itself here when it is created, so the task model
never imports the layers above it.
"""

from __future__ import annotations

from typing import Any, Protocol

from dagger.exceptions.exceptions import DaggerError


class HookEngine(Protocol):
    """The engine methods the task model calls."""

    async def stop_instance(self, instance: Any, *, task_id: str | None = None) -> None:
        """Stop ``instance`` (or only ``task_id`` in it) through its owner."""

    async def fire_due_timers(self) -> int:
        """Fire the timers that are due now; return how many fired."""


_bound: list[HookEngine] = []


def bind_engine(engine: HookEngine) -> None:
    """Make ``engine`` the one hooks reach (the newest created, like ``Dagger.app``)."""
    _bound[:] = [engine]


def bound_engine(method: str) -> HookEngine:
    """The engine hooks reach; DaggerError naming ``method`` when none was created."""
    if not _bound:
        raise DaggerError(f"{method}() needs a Dagger(...) instance created first")
    return _bound[0]
