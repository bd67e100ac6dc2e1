"""The timer tick's schedule: wake at the earliest due time, at most every interval."""

from __future__ import annotations

import asyncio
import time

from dagger.runtime._tick import MIN_TICK_GAP, TickSchedule


class FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_delay_is_the_time_until_the_earliest_due_time_within_the_bounds() -> None:
    schedule = TickSchedule(60.0, FrozenClock(1000.0))
    assert schedule.delay(None) == 60.0
    assert schedule.delay(1002.5) == 2.5
    assert schedule.delay(5000.0) == 60.0
    assert schedule.delay(1000.0) == MIN_TICK_GAP
    assert schedule.delay(900.0) == MIN_TICK_GAP


async def test_a_timer_scheduled_sooner_wakes_the_sleeping_tick() -> None:
    schedule = TickSchedule(60.0, time.time)
    sleeping = asyncio.create_task(schedule.sleep(None))
    await asyncio.sleep(0.05)
    schedule.timer_scheduled(time.time() + 120)  # after the planned wake: keeps sleeping
    await asyncio.sleep(0.05)
    assert not sleeping.done()
    schedule.timer_scheduled(time.time() + 1)
    await asyncio.wait_for(sleeping, 1.0)


async def test_the_tick_sleeps_until_the_due_time() -> None:
    schedule = TickSchedule(60.0, time.time)
    started = time.monotonic()
    await asyncio.wait_for(schedule.sleep(time.time() + 0.2), 5.0)
    assert time.monotonic() - started >= 0.19


async def test_nothing_scheduled_while_no_tick_sleeps_leaves_the_next_sleep_alone() -> None:
    schedule = TickSchedule(0.2, time.time)
    schedule.timer_scheduled(None)
    started = time.monotonic()
    await schedule.sleep(None)
    assert time.monotonic() - started >= 0.19
