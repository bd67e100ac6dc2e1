"""Crash cases the property test found, and the repairs a lost changelog record needs.

Each of the first tests kills one batch commit before each of its steps in turn (the
flush, every table write, the callbacks, the ack), recovers, and checks that the index,
the timers and the held messages agree with the instances, and that every instance
completes with each reply handled once (:mod:`tests.unit.runtime._crash_scenarios`).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from dagger.core._events import IndexAdded, IndexRemoved
from dagger.runtime._owner import TOMBSTONE
from dagger.runtime._partitioning import partition_for_key
from tests.unit.runtime._crash_scenarios import (
    EARLY_MESSAGE_WINDOW,
    PARTITIONS,
    Scenario,
    check_rule,
    run_scenario,
)


async def crash_each_step(
    chosen: list[tuple[Any, ...]], *, commit: int, delete_on_complete: bool = False
) -> None:
    """Run ``chosen`` once per step of its ``commit``-th batch commit, crashing before it.

    The commit is given an upper bound of its steps (a write that deletes a key the
    table does not have is none); the first run that does not crash has tried them all.
    """
    for crash_at in itertools.count():
        seen = [0]

        def choose(steps: int, crash_at: int = crash_at, seen: list[int] = seen) -> int | None:
            seen[0] += 1
            return crash_at if seen[0] == commit + 1 else None

        scenario = await run_scenario(chosen, delete_on_complete, choose)
        assert seen[0] > commit, "the scenario has fewer commits than that"
        if not scenario.world.crashes:
            assert crash_at >= 3, "a commit has at least a flush, a callback step and an ack"
            return


@pytest.mark.parametrize("delete_on_complete", [False, True])
async def test_a_crash_after_a_listener_completed_keeps_the_trigger_after_it(
    delete_on_complete: bool,
) -> None:
    # The reply completes the listener and starts the trigger: one batch writes the index
    # (the entry leaves), the timer and the instance. Written instance first, a crash
    # before the timer left an instance waiting for a timer no one had.
    await crash_each_step(
        [
            ("create", ("own", "trigger"), 5),
            ("batch", 0, 1),
            ("batch", 1, 1),
            ("reply", 0, 0, False),
            ("batch", 0, 3),
            ("batch", 1, 3),
        ],
        commit=1,
        delete_on_complete=delete_on_complete,
    )


async def test_a_reply_applied_again_after_a_crash_is_not_held() -> None:
    # Replayed after its batch was stored, the reply found its listener gone from the
    # index and was held, though the listener had handled it.
    await crash_each_step(
        [("create", ("own",), 0), ("reply", 0, 0, False), ("batch", 0, 2), ("batch", 1, 2)],
        commit=0,
    )


async def test_a_reply_a_listener_agent_read_twice_is_not_held() -> None:
    scenario = await run_scenario(
        [("create", ("own",), 0), ("reply", 0, 0, True), ("batch", 0, 3), ("batch", 1, 3)],
        delete_on_complete=False,
        choose_crash=lambda _steps: None,
    )
    assert scenario.world.held_messages() == {}


async def test_a_reply_held_after_the_listener_registered_stays_held_on_replay() -> None:
    # The second reply came after the first completed the listener, so it was held. A
    # crash after the held message was written and before the instance was: the replayed
    # creation registered the listener again, took the second reply and skipped the first.
    await crash_each_step(
        [
            ("create", ("own",), 0),
            ("create", ("own",), 0),
            ("reply", 0, 0, False),
            ("reply", 0, 0, False),
            ("batch", 0, 4),
        ],
        commit=0,
    )


@pytest.mark.parametrize("delete_on_complete", [False, True])
async def test_a_held_reply_taken_by_a_listener_is_not_held_after_a_crash(
    delete_on_complete: bool,
) -> None:
    # The reply came before its listener started, and was held. The trigger before the
    # listener fires: the listener registers, takes the reply and completes. A crash after
    # the instance was written and before the held message was removed left it held.
    await crash_each_step(
        [
            ("create", ("trigger", "own"), 5),
            ("batch", 0, 1),
            ("batch", 1, 1),
            ("reply", 0, 0, False),
            ("batch", 0, 1),
            ("batch", 1, 1),
            ("commit",),
            ("tick", 10),
            ("batch", 0, 1),
            ("batch", 1, 1),
        ],
        commit=2,
        delete_on_complete=delete_on_complete,
    )


async def test_a_reply_held_then_taken_is_held_again_when_its_batch_is_replayed() -> None:
    # The own listener's reply is held; the remote reply completes the first listener,
    # the own one registers and takes the held reply. The key remembered the take (its
    # record is written before the instance), the crash lost the instance: the replayed
    # reply must wait for the listener again, not go to it before it registers.
    crashes = [None, None, 0, 1, 2]
    await run_scenario(
        [("create", ("remote", "own"), 0)],
        delete_on_complete=False,
        choose_crash=lambda _steps: crashes.pop(0) if crashes else None,
    )


async def test_a_remote_listener_survives_any_crash_of_either_partition() -> None:
    for commit in range(4):
        await crash_each_step(
            [
                ("create", ("remote", "own"), 0),
                ("reply", 0, 0, False),
                ("batch", 0, 2),
                ("batch", 1, 2),
                ("batch", 0, 2),
                ("batch", 1, 2),
            ],
            commit=commit,
            delete_on_complete=True,
        )


# -- a changelog record lost on its own ------------------------------------------------------
# Each table has a changelog topic of its own: a record of one may be lost where the
# instance's reached the broker. An event applied again that finds its instance stored
# repairs what is derived from it.


async def stored_after_created(shape: tuple[str, ...], *, delete: bool = False) -> Scenario:
    """An instance of ``shape``, created, started and stored, and the rule checked."""
    scenario = Scenario(delete, lambda _steps: None)
    await scenario.create(shape, 30)
    await scenario.world.drain()
    check_rule(scenario.world)
    return scenario


async def apply_again(scenario: Scenario) -> None:
    """Apply every record of the instance's partition again, as after a lost commit."""
    world = scenario.world
    world.committed[scenario.partition_of("i-0")] = 0
    world.restart()  # reads the partition again from its start
    await world.drain()


async def test_a_replayed_event_writes_a_lost_timer_again() -> None:
    scenario = await stored_after_created(("trigger",))
    world = scenario.world
    assert world.stored_timers()
    dict.clear(world.tables["timers"])

    await apply_again(scenario)

    check_rule(world)


async def test_a_replayed_event_writes_a_lost_index_entry_again() -> None:
    scenario = await stored_after_created(("own",))
    world = scenario.world
    dict.clear(world.tables["index"])

    await apply_again(scenario)

    check_rule(world)


async def test_a_replayed_event_sends_the_index_event_of_another_partition_again() -> None:
    scenario = await stored_after_created(("remote",))
    world = scenario.world
    added = [event for event in world.events() if isinstance(event, IndexAdded)]
    assert len(added) == 1
    dict.clear(world.tables["index"])  # the key's partition lost its index record

    await apply_again(scenario)

    check_rule(world)
    again = [event for event in world.events() if isinstance(event, IndexAdded)]
    assert [event.index_key for event in again] == [added[0].index_key] * 2


async def test_a_replayed_event_sends_the_removal_of_another_partition_again() -> None:
    scenario = await stored_after_created(("remote", "own"))
    world = scenario.world
    waiting = dict(world.tables["index"])
    await scenario.send_reply("i-0", "remote")
    await world.drain()
    assert sum(isinstance(event, IndexRemoved) for event in world.events()) == 1
    dict.update(world.tables["index"], waiting)  # the key's partition lost the removal

    await apply_again(scenario)

    check_rule(world)


async def test_a_timer_left_for_a_deleted_instance_is_dropped_when_it_fires() -> None:
    scenario = Scenario(True, lambda _steps: None)
    world = scenario.world
    dict.__setitem__(world.tables["instances"], b"gone", TOMBSTONE)
    dict.__setitem__(world.tables["timers"], b"gone\x1ftask", json.dumps([1.0, 0]).encode())
    world.restart()

    world.fire_due_timers()
    await world.drain()

    assert world.stored_timers() == {}


async def test_a_reply_replayed_after_its_memory_expired_still_reaches_its_instance() -> None:
    # The kill loop's lost completions: a sweep and then a reply were read in one batch;
    # the reply's listener-removal and its memory reached the index changelog and the
    # instance's new state did not. The worker came back after the early-message window:
    # the replayed sweep, judged by the clock of the replay, forgot the reply's memory,
    # and the replayed reply found no listener and no memory, and was held. The instance
    # waited for ever.
    own = partition_for_key("order-0", PARTITIONS)
    await crash_each_step(
        [
            ("create", ("own",), 0),
            ("batch", own, 1),
            ("sweep",),
            ("reply", 0, 0, False),
            ("batch", own, 2),
            ("tick", 100 * EARLY_MESSAGE_WINDOW),
        ],
        commit=1,
    )
