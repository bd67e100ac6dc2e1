"""Run a coroutine up to its first wait by hand, and await the rest of it later.

asyncio runs an awaited coroutine in a Task: a task object, a copy of the context and a
trip through the event loop, even when the coroutine never waits for anything. On the
engine's hot paths most coroutines never wait: applying an engine record, a user hook
that returns at once, faust handing a fetched record to an agent's queue. So those paths
take the first step themselves (:func:`run_until_first_wait`) and make a task only for a
coroutine that did wait, from the point where it waits (:class:`Paused`).

It sits outside the layers, importing no other dagger module (the import contract checks
it), so the runtime and the faust corrections both use it.

Why this is safe: it relies on how asyncio drives a coroutine, the documented generator
protocol: ``send(None)`` runs a coroutine to its next ``yield``, which hands the awaited
future up; whoever drives the coroutine waits for that future and sends its result in.
:class:`Paused` does that under the task that awaits it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Finished(Generic[T]):
    """A coroutine that returned ``value`` without waiting for anything."""

    value: T


class Paused(Generic[T]):
    """A coroutine that ran up to its first wait; awaiting this runs the rest.

    Await it once, from the task that is to go on with the coroutine: it waits for what
    the coroutine waits for, sends the result in, and returns what the coroutine returns.
    A cancellation of that task is thrown into the coroutine, which may handle it.
    """

    __slots__ = ("_coroutine", "_waiting_for")

    def __init__(self, coroutine: Coroutine[Any, Any, T], waiting_for: Any) -> None:
        self._coroutine = coroutine
        self._waiting_for = waiting_for

    def __await__(self) -> Generator[Any, Any, T]:
        coroutine, waiting_for = self._coroutine, self._waiting_for
        while True:
            try:
                sent = yield waiting_for
            except BaseException as thrown:  # a cancellation: the coroutine handles it
                try:
                    waiting_for = coroutine.throw(thrown)
                except StopIteration as returned:
                    return cast(T, returned.value)
            else:
                try:
                    waiting_for = coroutine.send(sent)
                except StopIteration as returned:
                    return cast(T, returned.value)

    def close(self) -> None:
        """Close the coroutine without running the rest (it sees GeneratorExit)."""
        self._coroutine.close()


def run_until_first_wait(
    coroutine: Coroutine[Any, Any, T], context: contextvars.Context | None = None
) -> Finished[T] | Paused[T]:
    """Run ``coroutine`` (in ``context``, if given) until it returns or first waits.

    What it raises before its first wait is raised here. A :class:`Paused` coroutine must
    be awaited by a task (or closed), as any coroutine must.
    """
    try:
        waiting_for = coroutine.send(None) if context is None else context.run(coroutine.send, None)
    except StopIteration as returned:
        return Finished(cast(T, returned.value))
    return Paused(coroutine, waiting_for)
