"""Whose turn it is to apply: one engine record at a time, except while a user hook awaits.

The owner, the keys owner and the schedules change shared state (the instance table, the
correlation index, the timer index, the batch's staged writes) between their awaits, so
records are applied in turns: one holds the turn at a time, in log order. A user hook
(``execute``, ``on_message``, ``evaluate``, ``interval_execute``, ``stop``) calls remote
services, so it runs *outside* the turn: while it awaits, the next records are applied,
and their hooks run beside it, up to ``max_concurrent_hooks`` at once.

One instance's events still apply one at a time, in log order: an event for an instance
whose earlier event is not done (its hook is in flight) waits for it, outside the turn, in
the order the records came. What a hook returns is stepped once the hook's record has the
turn again. The batch is committed only when every record it applied is done (see
:class:`dagger.runtime._engine.OpenBatch`), so no guarantee about commits changes.

Code that runs the owner without taking turns (unit tests calling it directly) runs its
hooks inline: :meth:`Turns.outside` only leaves a turn the current task holds.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from dagger._coroutines import Finished, Paused, run_until_first_wait

T = TypeVar("T")

DEFAULT_MAX_CONCURRENT_HOOKS = 100
"""How many user hooks of different instances may await at once on one worker."""


@dataclass
class _InstanceQueue:
    """The events of one instance that are being applied or wait to be, in order."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Turns:
    """Hands the apply turn from record to record and lets hooks await outside it."""

    def __init__(self, max_concurrent_hooks: int = DEFAULT_MAX_CONCURRENT_HOOKS) -> None:
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        self._hooks = asyncio.Semaphore(max_concurrent_hooks)
        self._instances: dict[str, _InstanceQueue] = {}
        self.max_concurrent_hooks = max_concurrent_hooks

    def holds_turn(self) -> bool:
        """True when the current task holds the turn."""
        return self._holder is not None and self._holder is asyncio.current_task()

    async def start(self, applying: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """Wait for the turn, then apply ``applying`` holding it.

        It runs at once, in a context of its own, up to its first wait: most records
        never wait, and are done when this returns (None). One that waits (a hook that
        awaits, an instance busy with an earlier event) goes on in a task of its own,
        returned. A later ``start`` waits until this record is done or has given up its
        turn, so records begin in the order they are started. What the record raises
        before its first wait is raised here.
        """
        await self._turn.acquire()
        if sys.version_info < (3, 11):  # no task can go on in a given context: one each
            return asyncio.create_task(self._holding(applying))
        starter = asyncio.current_task()
        self._holder = starter
        context = contextvars.copy_context()
        try:
            first_step = run_until_first_wait(applying, context)
        except BaseException:
            self._leave()
            raise
        if isinstance(first_step, Finished):
            self._leave()
            return None
        holding = self._holder is starter
        if holding:
            self._holder = None  # the task below takes the turn over before anything else
        return asyncio.create_task(self._rest(first_step, holding), context=context)

    async def _holding(self, applying: Coroutine[Any, Any, None]) -> None:
        self._holder = asyncio.current_task()
        try:
            await applying
        finally:
            self._leave()

    async def _rest(self, applying: Paused[None], holding: bool) -> None:
        """Go on with a record that waited (holding the turn still, or not)."""
        if holding:
            self._holder = asyncio.current_task()
        try:
            await applying
        finally:
            self._leave()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the turn for the block, unless the current task holds it already."""
        if self.holds_turn():
            yield
            return
        await self._turn.acquire()
        self._holder = asyncio.current_task()
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        if self.holds_turn():
            self._holder = None
            self._turn.release()

    async def outside(self, waiting: Awaitable[T]) -> T:
        """Await ``waiting`` outside the current task's turn, then take the turn again."""
        if not self.holds_turn():
            return await waiting
        self._leave()
        try:
            return await waiting
        finally:
            await self._turn.acquire()
            self._holder = asyncio.current_task()

    async def hook(self, running: Awaitable[T]) -> T:
        """Await a user hook outside the turn, beside at most ``max_concurrent_hooks - 1``.

        Most hooks return without waiting for anything. So a hook's first step runs in
        the turn, once a slot is free: one that returns then costs no change of turns. One
        that waits is resumed outside the turn, keeping its slot until it returns.
        """
        if not self.holds_turn() or not inspect.iscoroutine(running) or self._hooks.locked():
            return await self.outside(self._bounded(running))
        await self._hooks.acquire()  # a free slot: taken without a wait
        try:
            first_step = run_until_first_wait(cast(Coroutine[Any, Any, T], running))
            if isinstance(first_step, Finished):
                return first_step.value
            return await self.outside(first_step)
        finally:
            self._hooks.release()

    async def _bounded(self, running: Awaitable[T]) -> T:
        async with self._hooks:
            return await running

    def waiting_instances(self) -> int:
        """How many instances have an event being applied or waiting to be."""
        return len(self._instances)

    @asynccontextmanager
    async def instance(self, instance_id: str) -> AsyncIterator[None]:
        """Apply the block after every earlier event of ``instance_id`` is done.

        An event that has to wait gives up its turn while it waits; its place in the
        instance's queue is taken before, so the instance's events keep their order.
        """
        queue = self._instances.get(instance_id)
        if queue is None:
            queue = self._instances[instance_id] = _InstanceQueue()
        queue.users += 1
        holding = False

        async def take() -> None:
            nonlocal holding
            await queue.lock.acquire()
            holding = True

        try:
            if queue.users == 1:
                await take()  # nobody holds it or waits for it: taken without a wait
            else:
                await self.outside(take())
            yield
        finally:
            if holding:
                queue.lock.release()
            queue.users -= 1
            if queue.users == 0:
                del self._instances[instance_id]
