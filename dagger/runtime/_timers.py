"""The timer index: due times kept ordered per partition, so a tick reads only what is due.

Each timer (one per task at most) is stored in a partition-local table, written by the
instance's owner, so timers survive a crash; the index in memory is rebuilt from the table
when a worker takes a partition over. A tick pops the due timers of each owned partition
(at most ``max_tasks_per_trigger``) and fires them as events through the instances'
owners; a tick with nothing due only compares one number per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from sortedcontainers import SortedList

from dagger.core._codec import dumps, loads
from dagger.core._events import TimerFired

Clock = Callable[[], float]


@dataclass(frozen=True, order=True, slots=True)
class DueTimer:
    """A timer in the index: when, and for which task of which instance."""

    due: float
    instance_id: str
    task_id: str

    def fired(self) -> TimerFired:
        """The event that fires this timer; its id makes a second firing a no-op."""
        return TimerFired(
            f"timer:{self.task_id}:{self.due!r}", self.instance_id, self.task_id, self.due
        )


def _key(instance_id: str, task_id: str) -> bytes:
    return f"{instance_id}\x1f{task_id}".encode()


class TimerIndex:
    """Timers by partition, ordered by due time, over a persistent ``store``."""

    def __init__(self, store: MutableMapping[bytes, bytes]) -> None:
        self._store = store
        self._due: dict[int, SortedList] = {}
        self._by_task: dict[bytes, tuple[int, DueTimer]] = {}

    def schedule(self, partition: int, instance_id: str, task_id: str, due: float) -> None:
        """Store (or move) the timer of a task; called by the instance's owner."""
        key = _key(instance_id, task_id)
        if key not in self._by_task:
            # A shared store (aerospike://) checks a write against the record as this
            # worker last read it, and a previous owner may have stored this timer.
            self._store.get(key)
        self._store[key] = dumps([due, partition])
        self._forget(key)
        self._index(key, partition, DueTimer(due, instance_id, task_id))

    def cancel(self, instance_id: str, task_id: str) -> None:
        """Drop the timer of a task; called by the instance's owner."""
        key = _key(instance_id, task_id)
        if key in self._store:
            del self._store[key]
        self._forget(key)

    def cancel_if_due_at(self, instance_id: str, task_id: str, due: float) -> None:
        """Drop the stored timer of a task if it is still the one due at ``due``."""
        key = _key(instance_id, task_id)
        raw = self._store.get(key)
        if raw is not None and float(loads(raw)[0]) == due:
            self.cancel(instance_id, task_id)

    def pop_due(self, partition: int, now: float, limit: int) -> list[DueTimer]:
        """Take up to ``limit`` timers of ``partition`` due at ``now`` out of memory.

        They stay stored until their owner applies them, so a crash before that fires
        them again after the restart (the owner drops a timer it already applied).
        """
        timers = self._due.get(partition)
        if not timers or timers[0].due > now:
            return []
        due: list[DueTimer] = []
        while timers and len(due) < limit and timers[0].due <= now:
            timer = timers.pop(0)
            self._by_task.pop(_key(timer.instance_id, timer.task_id), None)
            due.append(timer)
        return due

    def pop_due_across(
        self, partitions: Iterable[int], now: float, limit: int
    ) -> list[tuple[int, DueTimer]]:
        """Take up to ``limit`` due timers of ``partitions``, partition by partition."""
        due: list[tuple[int, DueTimer]] = []
        for partition in sorted(partitions):
            if len(due) >= limit:
                break
            due.extend(
                (partition, timer) for timer in self.pop_due(partition, now, limit - len(due))
            )
        return due

    def load(self, partitions: Iterable[int]) -> int:
        """Rebuild the in-memory index of ``partitions`` from the store; return the count."""
        wanted = set(partitions)
        for partition in wanted:
            self.drop(partition)
            self._due[partition] = SortedList()
        loaded = 0
        for key, raw in list(self._store.items()):
            due, partition = loads(raw)
            if partition in wanted:
                instance_id, task_id = key.decode().split("\x1f", 1)
                self._index(key, partition, DueTimer(float(due), instance_id, task_id))
                loaded += 1
        return loaded

    def drop(self, partition: int) -> None:
        """Forget the in-memory timers of a partition this worker no longer owns."""
        for timer in self._due.pop(partition, SortedList()):
            self._by_task.pop(_key(timer.instance_id, timer.task_id), None)

    def partitions(self) -> set[int]:
        """The partitions whose timers are in memory."""
        return set(self._due)

    def pending(self, partition: int | None = None) -> int:
        """How many timers are waiting in memory (for one partition, or all)."""
        if partition is not None:
            return len(self._due.get(partition, ()))
        return sum(len(timers) for timers in self._due.values())

    def next_due(self, partition: int) -> float | None:
        """The earliest due time of a partition, if any."""
        timers = self._due.get(partition)
        return timers[0].due if timers else None

    def earliest_due(self) -> float | None:
        """The earliest due time over every partition in memory, if any."""
        return min((timers[0].due for timers in self._due.values() if timers), default=None)

    def _index(self, key: bytes, partition: int, timer: DueTimer) -> None:
        self._due.setdefault(partition, SortedList()).add(timer)
        self._by_task[key] = (partition, timer)

    def _forget(self, key: bytes) -> None:
        known = self._by_task.pop(key, None)
        if known is not None:
            partition, timer = known
            timers = self._due.get(partition)
            if timers is not None:
                timers.discard(timer)
