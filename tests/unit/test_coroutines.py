"""Running a coroutine by hand up to its first wait, and awaiting the rest in a task."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from dagger._coroutines import Finished, Paused, run_until_first_wait

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="outside")


async def _returns_at_once() -> str:
    seen.set("inside")
    return "done"


async def _waits_for(release: asyncio.Event, steps: list[str]) -> str:
    steps.append("before the wait")
    await release.wait()
    steps.append("after the wait")
    return "done after waiting"


async def test_a_coroutine_that_never_waits_is_finished_with_its_value() -> None:
    context = contextvars.copy_context()

    first_step = run_until_first_wait(_returns_at_once(), context)

    assert first_step == Finished("done")
    assert context[seen] == "inside"
    assert seen.get() == "outside", "it ran in the context given, not the caller's"


async def test_a_coroutine_that_waits_is_paused_there_and_a_task_runs_the_rest() -> None:
    release, steps = asyncio.Event(), []

    first_step = run_until_first_wait(_waits_for(release, steps))
    assert isinstance(first_step, Paused)
    assert steps == ["before the wait"]

    async def rest() -> str:
        return await first_step

    task = asyncio.create_task(rest())
    await asyncio.sleep(0)
    assert steps == ["before the wait"], "the rest waits for what the coroutine waits for"
    release.set()

    assert await task == "done after waiting"
    assert steps == ["before the wait", "after the wait"]


async def test_what_a_coroutine_raises_before_waiting_is_raised_at_once() -> None:
    async def fails() -> None:
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        run_until_first_wait(fails())


async def test_a_cancelled_rest_is_thrown_into_the_coroutine_which_may_handle_it() -> None:
    async def handles_cancellation() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "cleaned up"
        return "not reached"

    first_step = run_until_first_wait(handles_cancellation())
    assert isinstance(first_step, Paused)

    async def rest() -> str:
        return await first_step

    task = asyncio.create_task(rest())
    await asyncio.sleep(0)
    task.cancel()

    assert await task == "cleaned up"


async def test_a_paused_coroutine_can_be_closed_without_running_the_rest() -> None:
    release, steps = asyncio.Event(), []
    first_step = run_until_first_wait(_waits_for(release, steps))
    assert isinstance(first_step, Paused)

    first_step.close()
    release.set()
    await asyncio.sleep(0)

    assert steps == ["before the wait"]
