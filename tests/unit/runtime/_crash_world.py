"""A worker that can be killed at any point of its batch commit, and what it left behind.

:class:`CrashWorld` runs the real owners (``assemble_owners``: the instance owner with
the real ``dagger.core.step``, the keys owner, the held messages, the timer index, the
listener intake) over the real :class:`~dagger.runtime._staging.StagingArea`, with dicts
for the tables. What a worker has around them is simulated, and only that:

- the engine topic is a list of records per partition, with a committed offset each
  and the position of the next record to read; acked records are committed only when
  :meth:`CrashWorld.commit_offsets` is called, as faust commits every few seconds, so a
  crash may apply several acked batches again;
- the producer is a buffer that a flush moves onto the engine topic (and the update
  topic); a crash drops what was not flushed;
- a table's dict is its changelog: what was written before a crash is what a new owner
  restores;
- a batch ends as ``EngineRuntime._end_batch`` and ``_close`` end it: the updates go to
  the producer, the staging area flushes the producer and applies the writes one by one,
  the callbacks run, the producer is flushed again and the records are acked.

A :class:`CrashPlan` raises :class:`Crash` at a chosen step of one batch commit: before
the flush, before any one table write, before the callbacks, or before the ack. The
world then restarts as a new worker would: fresh owners over the same tables, the timer
index loaded from its table, and the records after the committed offsets read again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dagger.core._codec import loads
from dagger.core._events import HeldMessagesSwept, LogEvent
from dagger.core._wire import decode_event, encode_event
from dagger.runtime._assembly import COMMIT_RANKS, Owners, assemble_owners
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._held import MESSAGE_MARK
from dagger.runtime._owner import TOMBSTONE
from dagger.runtime._staging import StagingArea
from dagger.runtime._updates import UpdatePublisher
from dagger.service.services import Dagger
from dagger.testing._local import ManualClock

TABLES = ("instances", "index", "held", "timers")


class Crash(Exception):
    """The worker is killed here."""


class CrashPlan:
    """Counts the steps of a batch commit and raises :class:`Crash` at the chosen one."""

    def __init__(self) -> None:
        self.crash_at: int | None = None
        self.steps = 0

    def arm(self, crash_at: int | None) -> None:
        """Crash before step ``crash_at`` of the next commit (None: do not crash)."""
        self.crash_at = crash_at
        self.steps = 0

    def step(self) -> None:
        """One step of the commit is about to happen."""
        if self.crash_at is not None and self.steps == self.crash_at:
            self.crash_at = None
            raise Crash
        self.steps += 1


class Changelog(dict[bytes, bytes]):
    """A table as its changelog has it: each write is one step of the commit."""

    def __init__(self, plan: CrashPlan) -> None:
        super().__init__()
        self._plan = plan

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._plan.step()
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self._plan.step()
        super().__delitem__(key)


class _UpdateTopic:
    """The task update topic: its documents go through the producer buffer."""

    def __init__(self, world: CrashWorld) -> None:
        self._world = world

    async def send(self, *, key: bytes, value: bytes) -> None:
        self._world.buffer.append(("updates", 0, value))


@dataclass
class Worker:
    """What a worker holds in memory; a crash loses all of it."""

    owners: Owners
    staging: StagingArea


@dataclass
class CrashWorld:
    """One worker owning every partition of ``engine``'s topic, and its durable state."""

    engine: Dagger
    clock: ManualClock
    plan: CrashPlan = field(default_factory=CrashPlan)
    log: dict[int, list[bytes]] = field(default_factory=dict)
    committed: dict[int, int] = field(default_factory=dict)
    position: dict[int, int] = field(default_factory=dict)
    buffer: list[tuple[str, int, bytes]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, Changelog] = field(default_factory=dict)
    crashes: int = 0

    def __post_init__(self) -> None:
        self.partitions = self.engine.settings.kafka_partitions
        for partition in range(self.partitions):
            self.log[partition] = []
            self.committed[partition] = 0
            self.position[partition] = 0
        self.tables = {name: Changelog(self.plan) for name in TABLES}
        self.worker = self._start()

    # -- the worker ----------------------------------------------------------------------
    def _start(self) -> Worker:
        staging = StagingArea(self._flush)
        # Staged as EngineRuntime stages its tables, in the same order of commit.
        stores = {
            name: staging.stage(self.tables[name], rank=COMMIT_RANKS[name]) for name in TABLES
        }

        async def send(event: LogEvent, key: str, partition: int) -> None:
            self.buffer.append(("engine", partition, encode_event(event)))

        async def no_dead_letter(key: bytes, value: bytes) -> None:
            raise AssertionError(f"no dead letter expected here: {json.loads(value)}")

        owners = assemble_owners(
            settings=self.engine.settings,
            instances=stores["instances"],
            index=stores["index"],
            held=stores["held"],
            timers=stores["timers"],
            send=send,
            publisher=UpdatePublisher(_UpdateTopic(self), []),
            dead_letters=DeadLetterWriter(no_dead_letter),
            serializers=self.engine.faust_app.serializers,
            clock=self.clock,
        )
        owners.listeners.topics = self.engine._runtime.listeners.topics
        owners.timers.load(range(self.partitions))  # as a worker does once assigned
        return Worker(owners, staging)

    def restart(self) -> None:
        """The worker died: what was not flushed is gone; a new one restores the tables."""
        self.crashes += 1
        self.buffer.clear()
        self.position = dict(self.committed)  # read again from the committed offsets
        self.worker = self._start()

    def commit_offsets(self) -> None:
        """faust's periodic commit: the acked records are not read again after a crash."""
        self.committed = dict(self.position)

    async def _flush(self) -> None:
        self.plan.step()
        self._deliver_buffer()

    def _deliver_buffer(self) -> None:
        for topic, partition, raw in self.buffer:
            if topic == "engine":
                self.log[partition].append(raw)
            else:
                self.updates.append(json.loads(raw))
        self.buffer.clear()

    # -- input from outside --------------------------------------------------------------
    def append(self, event: LogEvent, partition: int) -> None:
        """An event another process put on the engine topic (acked by the broker)."""
        self.log[partition].append(encode_event(event))

    async def reply(self, topic: str, payload: dict[str, Any], offset: int) -> None:
        """A message on a listener topic, routed by the listener agent (its sends flushed)."""
        raw = json.dumps(payload).encode()
        origin = {"topic": topic, "partition": 0, "offset": offset}
        await self.worker.owners.listeners.route(topic, raw, origin, None)
        self._deliver_buffer()

    def fire_due_timers(self) -> int:
        """The timer tick: append a ``timer`` event for each due timer."""
        due = self.worker.owners.timers.pop_due_across(
            range(self.partitions), self.clock(), 1_000_000
        )
        for partition, timer in due:
            self.append(timer.fired(), partition)
        return len(due)

    def sweep(self, event_id: str) -> None:
        """The held-message sweep timer: one ``sweep`` event per partition."""
        for partition in range(self.partitions):
            self.append(HeldMessagesSwept(f"{event_id}-{partition}", self.clock()), partition)

    # -- consuming -----------------------------------------------------------------------
    def unread(self, partition: int) -> int:
        """How many records of ``partition`` are not acked."""
        return len(self.log[partition]) - self.position[partition]

    async def run_batch(
        self, partition: int, size: int, crash_at: Callable[[int], int | None]
    ) -> bool:
        """Apply up to ``size`` records of ``partition`` not acked yet as one batch.

        ``crash_at`` is given the number of steps of the commit (the flush, each table
        write, the callbacks, the ack) and returns the step to crash before, or None.
        Returns False when the worker crashed (and was restarted).
        """
        start = self.position[partition]
        records = self.log[partition][start : start + size]
        if not records:
            return True
        owners, staging = self.worker.owners, self.worker.staging
        for raw in records:
            await owners.dispatcher.handle(raw, partition)
        await owners.instance_owner.send_updates()
        self.plan.arm(crash_at(staging.pending + 3))
        try:
            if staging.pending:
                await staging.commit()  # flush, then the writes
            else:
                self.plan.step()  # no writes: faust's ack flushes the producer
            self.plan.step()
            await owners.instance_owner.end_batch()  # the callbacks
            self.plan.step()
        except Crash:
            self.restart()
            return False
        self.plan.arm(None)
        self._deliver_buffer()  # faust flushes the producer before it commits
        self.position[partition] = start + len(records)
        return True

    async def drain(
        self, crash_at: Callable[[int], int | None] = lambda _steps: None, *, rounds: int = 200
    ) -> None:
        """Apply every record not acked until none is left, then commit the offsets.

        ``crash_at`` may crash the batches as in :meth:`run_batch` (by default none is).
        """
        for _ in range(rounds):
            pending = [p for p in range(self.partitions) if self.unread(p)]
            if not pending:
                self.commit_offsets()
                return
            for partition in pending:
                await self.run_batch(partition, self.unread(partition), crash_at)
        raise AssertionError("the engine topic does not settle")

    async def settle(self, crash_at: Callable[[int], int | None] = lambda _steps: None) -> None:
        """Drain, and fire the timers now due, until neither has anything left."""
        for _ in range(50):
            await self.drain(crash_at)
            if not self.fire_due_timers():
                return
        raise AssertionError("the timers do not settle")

    def events(self) -> list[LogEvent]:
        """Every event on the engine topic, partition by partition."""
        return [decode_event(raw) for partition in sorted(self.log) for raw in self.log[partition]]

    # -- what is stored ------------------------------------------------------------------
    def stored_instances(self) -> dict[str, Any]:
        """The instances the changelog holds (deleted ones left out)."""
        load = self.worker.owners.instance_owner.load
        return {
            key.decode(): load(key.decode())
            for key, raw in self.tables["instances"].items()
            if raw != TOMBSTONE
        }

    def index_entries(self) -> set[tuple[str, str, str]]:
        """Every (index key, instance id, task id) the index holds, by its chunk chains."""
        keys = self.worker.owners.keys
        heads = {key.decode() for key in self.tables["index"] if b"#" not in key}
        entries: set[tuple[str, str, str]] = set()
        reachable: set[str] = set()
        for head in heads:
            for chunk in keys.chunks(head):
                reachable.add(chunk.key)
                for lookup in chunk.lookup_keys:
                    entries.add((head, lookup.workflow_id, lookup.task_id))
        stray = {key.decode() for key in self.tables["index"]} - reachable
        assert not stray, f"index records no chain reaches: {sorted(stray)}"
        return entries

    def stored_timers(self) -> dict[tuple[str, str], float]:
        """Every timer the timer table holds: (instance id, task id) -> due."""
        timers: dict[tuple[str, str], float] = {}
        for key, raw in self.tables["timers"].items():
            instance_id, task_id = key.decode().split("\x1f", 1)
            timers[(instance_id, task_id)] = float(loads(raw)[0])
        return timers

    def held_messages(self) -> dict[str, list[dict[str, Any]]]:
        """The payloads held, by index key (a key's listed messages that have a record)."""
        held: dict[str, list[dict[str, Any]]] = {}
        keys = self.worker.owners.keys
        for index_key in keys.held_keys():
            for message_id, _expires in keys.held_ids(index_key):
                record = self.tables["held"].get(f"{index_key}{MESSAGE_MARK}{message_id}".encode())
                if record is None:
                    # Its record went and a crash kept its id listed: nothing is held (the
                    # id is dropped when it expires or the key's messages are taken).
                    continue
                body = loads(record)
                held.setdefault(index_key, []).append(json.loads(base64.b64decode(body["payload"])))
        return held
