"""The instance whose hook is running, so engine methods called from a hook reach it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from dagger.tasks._base import ITemplateDAGInstance

_running: ContextVar[ITemplateDAGInstance[Any, Any] | None] = ContextVar(
    "dagger_running_instance", default=None
)


_now: ContextVar[float | None] = ContextVar("dagger_hook_now", default=None)


@contextlib.contextmanager
def running_hook(
    instance: ITemplateDAGInstance[Any, Any], now: float | None = None
) -> Iterator[None]:
    """Mark ``instance`` as the one whose hook runs in this context, at the engine's ``now``."""
    token = _running.set(instance)
    now_token = _now.set(now)
    try:
        yield
    finally:
        _now.reset(now_token)
        _running.reset(token)


def hook_now() -> float | None:
    """The engine's clock reading for the running hook (None outside a hook).

    Transitions a hook asks for (``on_complete``, ``start``, ``stop``) are stamped with
    it, so an injected clock (``Dagger(clock=)``, ``LocalEngine.advance``) holds for them.
    """
    return _now.get()


def hook_instance() -> ITemplateDAGInstance[Any, Any] | None:
    """Return the instance whose hook runs in this context, if any."""
    return _running.get()


def instance_in_hook(
    given: ITemplateDAGInstance[Any, Any] | None,
) -> ITemplateDAGInstance[Any, Any] | None:
    """Return the instance a hook is changing: the running one when ``given`` is it or None."""
    running = _running.get()
    if running is not None and (given is None or given.id == running.id):
        return running
    return given
