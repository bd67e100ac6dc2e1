"""The timer index: due times per partition over a store, and the worker's timer tick."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from faust.types import TP

from dagger.core._events import TimerFired
from dagger.runtime._timers import DueTimer, TimerIndex
from dagger.service.services import Dagger
from tests.unit._listener_workflows import new_engine


class CountingStore(dict[bytes, bytes]):
    """A dict that counts every read and write made through the mapping interface."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0
        self.writes = 0

    def __getitem__(self, key: bytes) -> bytes:
        self.reads += 1
        return super().__getitem__(key)

    def get(self, key: bytes, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.reads += 1
        return super().__contains__(key)

    def __iter__(self) -> Iterator[bytes]:
        self.reads += 1
        return super().__iter__()

    def __len__(self) -> int:
        self.reads += 1
        return super().__len__()

    def items(self) -> Any:
        self.reads += 1
        return super().items()

    def keys(self) -> Any:
        self.reads += 1
        return super().keys()

    def values(self) -> Any:
        self.reads += 1
        return super().values()

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.writes += 1
        super().__delitem__(key)

    def touched(self) -> int:
        return self.reads + self.writes


def _index(*timers: tuple[int, str, str, float]) -> TimerIndex:
    index = TimerIndex({})
    for partition, instance_id, task_id, due in timers:
        index.schedule(partition, instance_id, task_id, due)
    return index


def _ids(timers: list[DueTimer]) -> list[tuple[str, str]]:
    return [(timer.instance_id, timer.task_id) for timer in timers]


# -- scheduling and popping --------------------------------------------------------------


def test_an_empty_index_has_nothing_due() -> None:
    index = TimerIndex({})

    assert index.pop_due(0, float("inf"), 100) == []
    assert index.pending() == 0
    assert index.pending(0) == 0
    assert index.next_due(0) is None
    assert index.partitions() == set()


def test_timers_pop_in_due_order_across_many_timers() -> None:
    rng = random.Random(7)
    wanted = [DueTimer(float(rng.randrange(50)), f"i-{n % 13}", f"t-{n}") for n in range(300)]
    shuffled = list(wanted)
    rng.shuffle(shuffled)
    store: dict[bytes, bytes] = {}
    index = TimerIndex(store)
    for timer in shuffled:
        index.schedule(3, timer.instance_id, timer.task_id, timer.due)

    assert index.pending(3) == 300
    assert index.next_due(3) == min(timer.due for timer in wanted)
    popped = index.pop_due(3, float("inf"), 1000)

    # By due time, then instance and task id: the order does not depend on insertion.
    assert popped == sorted(wanted)
    assert index.pending() == 0
    # Popped timers stay stored until their owner applies them.
    assert len(store) == 300


def test_pop_due_takes_the_timers_due_at_now_inclusive() -> None:
    index = _index((0, "i", "a", 10.0), (0, "i", "b", 20.0), (0, "i", "c", 30.0))

    assert _ids(index.pop_due(0, 9.999, 10)) == []
    assert _ids(index.pop_due(0, 20.0, 10)) == [("i", "a"), ("i", "b")]
    assert index.pending(0) == 1
    assert index.next_due(0) == 30.0
    assert _ids(index.pop_due(0, 20.0, 10)) == []


def test_pop_due_takes_at_most_limit_timers_per_tick() -> None:
    index = _index(*((0, "i", f"t{n}", float(n)) for n in range(5)))

    assert _ids(index.pop_due(0, 100.0, 2)) == [("i", "t0"), ("i", "t1")]
    assert _ids(index.pop_due(0, 100.0, 2)) == [("i", "t2"), ("i", "t3")]
    assert _ids(index.pop_due(0, 100.0, 2)) == [("i", "t4")]
    assert index.pop_due(0, 100.0, 2) == []


def test_a_limit_of_zero_pops_nothing() -> None:
    index = _index((0, "i", "a", 1.0))

    assert index.pop_due(0, 100.0, 0) == []
    assert index.pending(0) == 1


def test_partitions_are_popped_separately() -> None:
    index = _index((0, "i", "a", 5.0), (1, "j", "b", 1.0), (2, "k", "c", 3.0))

    assert index.partitions() == {0, 1, 2}
    assert (index.pending(), index.pending(1)) == (3, 1)
    assert _ids(index.pop_due(0, 10.0, 10)) == [("i", "a")]
    assert [index.next_due(p) for p in (0, 1, 2, 3)] == [None, 1.0, 3.0, None]
    assert index.pending() == 2


def test_rescheduling_replaces_the_timer_of_the_task() -> None:
    store: dict[bytes, bytes] = {}
    index = TimerIndex(store)
    index.schedule(0, "i", "t", 10.0)
    index.schedule(0, "i", "t", 50.0)

    assert index.pending() == 1
    assert index.next_due(0) == 50.0
    assert len(store) == 1
    assert index.pop_due(0, 20.0, 10) == []
    assert index.pop_due(0, 50.0, 10) == [DueTimer(50.0, "i", "t")]


def test_rescheduling_earlier_moves_the_timer_forward() -> None:
    index = _index((0, "i", "t", 50.0), (0, "j", "u", 30.0))
    index.schedule(0, "i", "t", 10.0)

    assert _ids(index.pop_due(0, 100.0, 10)) == [("i", "t"), ("j", "u")]


def test_rescheduling_on_another_partition_moves_the_timer() -> None:
    index = _index((0, "i", "t", 10.0))
    index.schedule(1, "i", "t", 10.0)

    assert (index.pending(0), index.pending(1)) == (0, 1)
    assert index.pop_due(0, 100.0, 10) == []
    assert index.pop_due(1, 100.0, 10) == [DueTimer(10.0, "i", "t")]


def test_the_same_task_id_in_two_instances_is_two_timers() -> None:
    index = _index((0, "i", "t", 10.0), (0, "j", "t", 10.0))

    assert index.pending() == 2
    index.cancel("i", "t")
    assert _ids(index.pop_due(0, 100.0, 10)) == [("j", "t")]


def test_cancel_drops_the_timer_from_memory_and_store() -> None:
    store: dict[bytes, bytes] = {}
    index = TimerIndex(store)
    index.schedule(0, "i", "a", 10.0)
    index.schedule(0, "i", "b", 20.0)

    index.cancel("i", "a")

    assert index.pending() == 1
    assert index.next_due(0) == 20.0
    assert len(store) == 1
    assert _ids(index.pop_due(0, 100.0, 10)) == [("i", "b")]


def test_cancelling_an_unknown_timer_does_nothing() -> None:
    store: dict[bytes, bytes] = {}
    index = TimerIndex(store)
    index.schedule(0, "i", "a", 10.0)

    index.cancel("i", "nope")
    index.cancel("nope", "a")

    assert index.pending() == 1
    assert len(store) == 1


def test_cancelling_a_popped_timer_removes_its_stored_record() -> None:
    store: dict[bytes, bytes] = {}
    index = TimerIndex(store)
    index.schedule(0, "i", "a", 10.0)
    index.pop_due(0, 10.0, 10)
    assert len(store) == 1

    index.cancel("i", "a")

    assert store == {}


# -- the store: load and drop ------------------------------------------------------------


def _shared_store() -> tuple[dict[bytes, bytes], TimerIndex]:
    store: dict[bytes, bytes] = {}
    writer = TimerIndex(store)
    for partition in range(3):
        for n in range(4):
            writer.schedule(partition, f"i{partition}-{n}", "t", 100.0 - n + partition / 10)
    return store, writer


def test_load_rebuilds_the_owned_partitions_from_the_store() -> None:
    store, writer = _shared_store()
    reader = TimerIndex(store)

    assert reader.load([0, 2]) == 8

    assert reader.partitions() == {0, 2}
    assert (reader.pending(0), reader.pending(1), reader.pending(2)) == (4, 0, 4)
    assert reader.next_due(2) == writer.next_due(2)
    assert reader.pop_due(0, 1000.0, 100) == writer.pop_due(0, 1000.0, 100)
    assert reader.pop_due(1, 1000.0, 100) == []


def test_loading_twice_does_not_duplicate_timers() -> None:
    store, _ = _shared_store()
    reader = TimerIndex(store)

    reader.load([1])
    assert reader.load([1]) == 4

    assert reader.pending() == 4


def test_loading_again_brings_back_popped_timers_not_yet_applied() -> None:
    store, _ = _shared_store()
    reader = TimerIndex(store)
    reader.load([1])
    popped = reader.pop_due(1, 1000.0, 100)
    reader.cancel(popped[0].instance_id, popped[0].task_id)

    assert reader.load([1]) == 3

    assert reader.pop_due(1, 1000.0, 100) == popped[1:]


def test_loading_a_partition_keeps_the_others_in_memory() -> None:
    store, _ = _shared_store()
    reader = TimerIndex(store)
    reader.load([0])
    reader.pop_due(0, 1000.0, 1)

    reader.load([2])

    assert (reader.pending(0), reader.pending(2)) == (3, 4)


def test_timers_scheduled_after_load_are_kept_with_the_loaded_ones() -> None:
    store, _ = _shared_store()
    reader = TimerIndex(store)
    reader.load([0])
    reader.schedule(0, "new", "t", 1.0)

    assert reader.pending(0) == 5
    assert reader.pop_due(0, 1.0, 10) == [DueTimer(1.0, "new", "t")]
    assert TimerIndex(store).load([0]) == 5


def test_drop_forgets_the_partition_in_memory_only() -> None:
    store, _ = _shared_store()
    reader = TimerIndex(store)
    reader.load([0, 1])
    stored = dict(store)

    reader.drop(1)

    assert reader.partitions() == {0}
    assert reader.pending(1) == 0
    assert reader.next_due(1) is None
    assert reader.pop_due(1, 1000.0, 100) == []
    assert store == stored
    assert reader.load([1]) == 4


def test_a_dropped_timer_can_still_be_cancelled_and_rescheduled() -> None:
    store: dict[bytes, bytes] = {}
    index = TimerIndex(store)
    index.schedule(0, "i", "a", 10.0)
    index.schedule(0, "i", "b", 10.0)
    index.drop(0)

    index.cancel("i", "a")
    index.schedule(0, "i", "b", 20.0)

    assert len(store) == 1
    assert index.pending(0) == 1
    assert index.pop_due(0, 100.0, 10) == [DueTimer(20.0, "i", "b")]


def test_dropping_an_unknown_partition_does_nothing() -> None:
    index = _index((0, "i", "a", 1.0))

    index.drop(5)

    assert index.pending() == 1


def test_a_tick_with_nothing_due_does_not_touch_the_store() -> None:
    store = CountingStore()
    index = TimerIndex(store)
    for n in range(50):
        index.schedule(0, "i", f"t{n}", 100.0 + n)
    store.reads = store.writes = 0

    for now in (0.0, 50.0, 99.999):
        assert index.pop_due(0, now, 2000) == []
        assert index.pop_due(7, now, 2000) == []
    assert index.next_due(0) == 100.0
    assert index.pending() == 50

    assert store.touched() == 0


def test_popping_due_timers_does_not_touch_the_store_either() -> None:
    store = CountingStore()
    index = TimerIndex(store)
    for n in range(10):
        index.schedule(0, "i", f"t{n}", float(n))
    store.reads = store.writes = 0

    assert len(index.pop_due(0, 4.0, 100)) == 5

    assert store.touched() == 0


def test_schedule_and_cancel_write_through_to_the_store() -> None:
    store = CountingStore()
    index = TimerIndex(store)

    index.schedule(0, "i", "a", 1.0)
    assert store.writes == 1
    index.cancel("i", "a")
    assert store.writes == 2
    assert dict(store) == {}


# -- the worker's tick -------------------------------------------------------------------


class Tick:
    """The worker runtime of an offline engine, with the timers and sends replaced."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
        self.now = 1_000.0
        self.engine = new_engine(clock=lambda: self.now, **settings)
        self.app = self.engine.faust_app
        self.store: dict[bytes, bytes] = {}
        self.sent: list[tuple[TimerFired, str, int]] = []
        self.owned: set[int] = set()
        runtime = self.engine._runtime
        monkeypatch.setattr(runtime, "timers", TimerIndex(self.store))
        monkeypatch.setattr(runtime, "_append", self._append)
        monkeypatch.setattr(self.app.assignor, "assigned_actives", self._assigned)
        self.topic = self.engine.settings.tasks_topic

    async def _append(self, event: Any, key: str, partition: int) -> None:
        self.sent.append((event, key, partition))

    def _assigned(self) -> set[TP]:
        return {TP(self.topic, p) for p in self.owned} | {TP("another-topic", 9)}

    def seed(self, *timers: tuple[int, str, str, float]) -> None:
        writer = TimerIndex(self.store)
        for partition, instance_id, task_id, due in timers:
            writer.schedule(partition, instance_id, task_id, due)


async def test_the_tick_fires_at_most_max_tasks_per_trigger_timers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tick = Tick(monkeypatch, max_tasks_per_trigger=3)
    tick.seed(*((p, f"i{p}{n}", "t", 900.0 + n) for p in (0, 1, 2) for n in range(3)))
    tick.owned = {0, 2}

    assert await tick.engine.fire_due_timers() == 3
    assert await tick.engine.fire_due_timers() == 3
    assert await tick.engine.fire_due_timers() == 0

    assert [(event.instance_id, key, partition) for event, key, partition in tick.sent] == [
        *((f"i0{n}", f"i0{n}", 0) for n in range(3)),
        *((f"i2{n}", f"i2{n}", 2) for n in range(3)),
    ]
    first = tick.sent[0][0]
    assert first == TimerFired("timer:t:900.0", "i00", "t", 900.0)


async def test_the_tick_fires_only_what_is_due_by_the_engine_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tick = Tick(monkeypatch)
    tick.seed((0, "early", "t", 999.0), (0, "late", "t", 1_001.0))
    tick.owned = {0}

    assert await tick.engine.fire_due_timers() == 1
    tick.now = 1_001.0
    assert await tick.engine.fire_due_timers() == 1

    assert [event.instance_id for event, _, _ in tick.sent] == ["early", "late"]


async def test_the_tick_follows_the_assignment(monkeypatch: pytest.MonkeyPatch) -> None:
    tick = Tick(monkeypatch)
    tick.seed((0, "a", "t", 2_000.0), (1, "b", "t", 2_000.0))
    timers = tick.engine._runtime.timers
    tick.owned = {0, 1}
    await tick.engine.fire_due_timers()
    assert timers.partitions() == {0, 1}

    tick.owned = {1}
    await tick.engine.fire_due_timers()
    assert timers.partitions() == {1}
    assert timers.pending() == 1

    tick.now = 2_000.0
    assert await tick.engine.fire_due_timers() == 1
    assert [event.instance_id for event, _, _ in tick.sent] == ["b"]


async def test_the_tick_waits_while_the_worker_rebalances_or_recovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tick = Tick(monkeypatch)
    tick.seed((0, "a", "t", 1.0))
    tick.owned = {0}

    monkeypatch.setattr(tick.app, "rebalancing", True)
    assert await tick.engine.fire_due_timers() == 0
    monkeypatch.setattr(tick.app, "rebalancing", False)
    monkeypatch.setattr(tick.app, "in_recovery", True)
    assert await tick.engine.fire_due_timers() == 0
    monkeypatch.setattr(tick.app, "in_recovery", False)
    assert await tick.engine.fire_due_timers() == 1


async def test_the_tick_reloads_the_store_after_a_rebalance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tick = Tick(monkeypatch)
    tick.seed((0, "a", "t", 1.0))
    tick.owned = {0}
    assert await tick.engine.fire_due_timers() == 1
    assert await tick.engine.fire_due_timers() == 0

    # Not applied before the rebalance: it is still stored, so it fires again after it.
    monkeypatch.setattr(tick.app, "rebalancing_count", tick.app.rebalancing_count + 1)
    assert await tick.engine.fire_due_timers() == 1
    assert [event.event_id for event, _, _ in tick.sent] == ["timer:t:1.0"] * 2


async def test_an_offline_engine_owns_no_partition_so_its_tick_fires_nothing() -> None:
    engine = new_engine()
    assert Dagger.app is engine

    assert await engine.fire_due_timers() == 0
