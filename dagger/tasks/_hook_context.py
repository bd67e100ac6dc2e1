"""The instance whose hook is running, so the methods a hook calls reach that instance.

The runtime marks the instance around each hook it runs; ``start``, ``on_complete``,
``stop`` and the engine's re-keying methods then record their intents on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagger.tasks._base import ITemplateDAGInstance

_running: ContextVar[ITemplateDAGInstance[Any, Any] | None] = ContextVar(
    "dagger_running_instance", default=None
)


@contextlib.contextmanager
def running_hook(instance: ITemplateDAGInstance[Any, Any]) -> Iterator[None]:
    """Mark ``instance`` as the one whose hook runs in this context."""
    token = _running.set(instance)
    try:
        yield
    finally:
        _running.reset(token)


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
