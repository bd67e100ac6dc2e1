"""The instance owner: decode -> step -> run effects -> stage, over a dict store.

Everything here is real: dict stores, the timer index, the dead letters and the update
publisher, with the engine-topic sender, the publish callback and the dead-letter sender
recorded (a worker hands them a Kafka producer, which cannot run here). The clock is a
:class:`~dagger.testing._local.ManualClock` far from the wall clock, so a time the owner
stamps can be told from one read from the wall clock.
"""

from __future__ import annotations

import json
import random
from typing import Any

from dagger.core import _codec as codec
from dagger.core._events import (
    InstanceCreated,
    InstanceEvent,
    InstanceSubmitted,
    MessageDelivered,
    TimerFired,
)
from dagger.runtime._dead_letter_writer import ON_MESSAGE_RAISED, UNDECODABLE, DeadLetterWriter
from dagger.runtime._owner import DECODED_INSTANCES_KEPT, InstanceOwner
from dagger.runtime._telemetry import NO_TELEMETRY, NoTelemetry, Telemetry
from dagger.runtime._timers import TimerIndex
from dagger.runtime._updates import UpdatePublisher
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance, TaskStatus, TaskStatusEnum
from dagger.templates.template import ITemplateDAG
from dagger.testing._local import ManualClock
from tests.unit._control_flow_workflows import alarm, chain, one_process, statuses
from tests.unit._control_flow_workflows import step as executor
from tests.unit._listener_workflows import LISTENER, order_template, unique
from tests.unit._workflows import RecordingTask, SelfCompletingTask, task_named

PARTITION = 3
"""The engine-topic partition every event of these tests is read from."""
NOW = 1_000.0
"""The owner's clock: far from the wall clock."""
ORIGIN = {"topic": "status", "partition": 0, "offset": 7}


class KeepsAHandle(ExecutorTask[str, Any]):
    """Leaves a runtime parameter JSON cannot hold (an open handle, say)."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["handle"] = object()


class SkipsItself(ExecutorTask[str, Any]):
    """Finishes itself SKIPPED from inside ``execute``; its return alone would complete it."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        await self.on_complete(workflow_instance, TaskStatus.of(TaskStatusEnum.SKIPPED))


class WriteCountingStore(dict[bytes, bytes]):
    """A dict store that counts its writes (to tell a re-store from no store at all) and
    the owner's reads (to tell a decoded instance kept from one read again)."""

    writes = 0
    reads = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def get(self, key: bytes, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


class Harness:
    """An :class:`InstanceOwner` over dict stores, with what it sends and publishes recorded."""

    def __init__(
        self,
        telemetry: Telemetry = NO_TELEMETRY,
        *,
        callback: bool = True,
        decoded_kept: int = DECODED_INSTANCES_KEPT,
    ) -> None:
        self.store = WriteCountingStore()
        self.timer_store: dict[bytes, bytes] = {}
        self.timers = TimerIndex(self.timer_store)
        self.clock = ManualClock(NOW)
        self.sent: list[Any] = []
        self.published: list[ITemplateDAGInstance[Any, Any]] = []
        self.letters: list[dict[str, Any]] = []

        async def send(event: Any, key: str, partition: int) -> None:
            self.sent.append(event)

        async def publish(instance: ITemplateDAGInstance[Any, Any]) -> None:
            self.published.append(instance)

        async def send_letter(key: bytes, value: bytes) -> None:
            self.letters.append(json.loads(value))

        self.owner = InstanceOwner(
            self.store,
            publisher=UpdatePublisher(None, [publish] if callback else []),
            delete_on_complete=False,
            send=send,
            partitions=4,
            decode_payload=lambda topic, raw: json.loads(raw),
            dead_letters=DeadLetterWriter(send_letter),
            timers=self.timers,
            clock=self.clock,
            telemetry=telemetry,
            decoded_kept=decoded_kept,
        )

    async def apply(self, event: InstanceEvent) -> None:
        """Apply ``event`` as a batch of its own, as a worker would."""
        await self.owner.handle(event, PARTITION)
        await self.owner.end_batch()

    async def create(self, template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
        """Create and submit an instance of ``template``; return it as stored."""
        params.setdefault("order_id", "o-1")
        instance = await template.create_instance(
            "i-1", "order_id", seed=random.Random(0), **params
        )
        await self.apply(InstanceCreated("c-1", "i-1", codec.to_document(instance), submit=True))
        return self.stored()

    def stored(self) -> ITemplateDAGInstance[Any, Any]:
        """The instance as the store holds it."""
        instance = self.owner.load("i-1")
        assert instance is not None
        return instance


def _delivered(
    instance: ITemplateDAGInstance[Any, Any], payload: bytes, event_id: str = "m-1"
) -> MessageDelivered:
    listener = task_named(instance, LISTENER)
    return MessageDelivered(event_id, instance.id, listener.id, "status", payload, dict(ORIGIN))


async def _listening(engine: Dagger, harness: Harness) -> ITemplateDAGInstance[Any, Any]:
    """An order instance waiting in its OrderStatusListener; nothing recorded yet."""
    template = order_template(engine, status_topic=unique("status"))
    instance = await harness.create(template)
    assert task_named(instance, LISTENER).status.code == "EXECUTING"
    harness.sent.clear()
    harness.published.clear()
    return instance


async def test_a_created_and_submitted_instance_runs_its_executors_and_is_stored(
    engine: Dagger,
) -> None:
    harness = Harness()

    stored = await harness.create(
        one_process(engine, chain(engine, "a", "b", task_type=RecordingTask))
    )

    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["a", "b"]
    assert (stored.owner_partition, stored.applied_events) == (PARTITION, ["c-1"])
    assert (stored.time_completed, task_named(stored, "b").time_completed) == (NOW, NOW)
    assert [published.status.code for published in harness.published] == ["COMPLETED"]


async def test_a_replayed_message_is_stored_again_without_running_on_message_again(
    engine: Dagger,
) -> None:
    harness = Harness()
    instance = await _listening(engine, harness)
    pending = _delivered(instance, b'{"order_id": "o-1", "status": "PENDING"}')
    await harness.apply(pending)
    stored_once = harness.store[b"i-1"]
    writes = harness.store.writes

    await harness.apply(pending)

    stored = harness.stored()
    assert stored.runtime_parameters["statuses"] == ["PENDING"]  # on_message ran once
    assert task_named(stored, LISTENER).status.code == "EXECUTING"
    # A replay after a crash: the stored state may not have reached the changelog or the
    # update topic, so it is written and published again, unchanged.
    assert (harness.store.writes, harness.store[b"i-1"]) == (writes + 1, stored_once)
    assert len(harness.published) == 2


async def test_a_listener_whose_on_message_raises_dead_letters_the_message_and_changes_nothing(
    engine: Dagger,
) -> None:
    harness = Harness()
    instance = await _listening(engine, harness)
    before = harness.store[b"i-1"]
    payload = b'{"order_id": "o-1", "status": "EXPLODE"}'

    await harness.apply(_delivered(instance, payload))

    [letter] = harness.letters
    assert (letter["reason"], letter["error_type"]) == (ON_MESSAGE_RAISED, "RuntimeError")
    assert letter["error_message"] == "cannot handle o-1"
    assert letter["origin"] == ORIGIN
    # What on_message changed before it raised is dropped with the event.
    assert harness.store[b"i-1"] == before
    assert "statuses" not in harness.stored().runtime_parameters
    assert harness.published == []


async def test_a_message_that_cannot_be_decoded_is_dead_lettered_and_nothing_is_stored(
    engine: Dagger,
) -> None:
    harness = Harness()
    instance = await _listening(engine, harness)
    before = dict(harness.store)
    writes = harness.store.writes

    await harness.apply(_delivered(instance, b"not json"))

    [letter] = harness.letters
    assert (letter["reason"], letter["error_type"]) == (UNDECODABLE, "JSONDecodeError")
    assert letter["origin"] == ORIGIN
    assert (dict(harness.store), harness.store.writes) == (before, writes)
    assert "m-1" not in harness.stored().applied_events  # so a fixed redelivery applies
    assert harness.published == []


async def test_intents_a_hook_records_are_applied_when_it_returns(engine: Dagger) -> None:
    harness = Harness()
    template = one_process(
        engine,
        executor(
            engine,
            "skips",
            executor(engine, "completes", executor(engine, "after"), task_type=SelfCompletingTask),
            task_type=SkipsItself,
        ),
    )
    harness.clock.now = NOW + 5

    stored = await harness.create(template)

    # Each on_complete inside execute took effect, and moved the workflow on, once the
    # hook returned; the return itself (a TaskSucceeded) found nothing left to do.
    assert statuses(stored) == {
        "P": "COMPLETED",
        "skips": "SKIPPED",
        "completes": "COMPLETED",
        "after": "COMPLETED",
    }
    assert stored.runtime_parameters["ran"] == ["after"]
    assert task_named(stored, "skips").time_completed == NOW + 5  # the owner's clock
    assert stored.status.code == "COMPLETED"


async def test_runtime_parameters_json_cannot_hold_fail_the_instance(engine: Dagger) -> None:
    harness = Harness()

    stored = await harness.create(
        one_process(engine, executor(engine, "keep", task_type=KeepsAHandle))
    )

    assert stored.status.code == "FAILURE"
    assert stored.error_type == "UnserializableRuntimeParameters"
    assert (stored.error_message or "").startswith("runtime parameters are not JSON: ")
    handle = stored.runtime_parameters["handle"]
    assert isinstance(handle, str) and handle.startswith("<object object at ")
    assert stored.runtime_parameters["order_id"] == "o-1"
    assert [published.status.code for published in harness.published] == ["FAILURE"]


async def test_an_instance_failed_for_unserializable_parameters_runs_no_more_tasks(
    engine: Dagger,
) -> None:
    harness = Harness()
    template = one_process(
        engine, executor(engine, "keep", alarm(engine, "alarm"), task_type=KeepsAHandle)
    )
    stored = await harness.create(template, at=NOW + 60)
    assert stored.status.code == "FAILURE"
    alarm_id = task_named(stored, "alarm").id

    await harness.apply(TimerFired("t-1", "i-1", alarm_id, NOW + 60))

    assert "fired" not in harness.stored().runtime_parameters
    assert harness.timers.pending() == 0


async def test_a_stale_timer_changes_nothing(engine: Dagger) -> None:
    harness = Harness()
    stored = await harness.create(one_process(engine, alarm(engine, "alarm")), at=NOW + 60)
    alarm_id = task_named(stored, "alarm").id
    assert harness.timers.next_due(PARTITION) == NOW + 60
    before, timers_before = dict(harness.store), dict(harness.timer_store)
    harness.published.clear()
    harness.clock.now = NOW + 60

    await harness.apply(TimerFired("t-old", "i-1", alarm_id, NOW + 30))

    assert dict(harness.store) == before
    assert "fired" not in harness.stored().runtime_parameters
    # The live timer, due later, is kept; the stale one was never its record.
    assert harness.timer_store == timers_before
    assert harness.timers.next_due(PARTITION) == NOW + 60
    assert harness.published == []


async def test_an_instance_stays_decoded_across_batches_until_partitions_change(
    engine: Dagger,
) -> None:
    harness = Harness(callback=False)
    instance = await _listening(engine, harness)
    reads = harness.store.reads

    await harness.apply(_delivered(instance, b'{"status": "PENDING"}', "m-1"))
    assert harness.store.reads == reads  # the next batch found it decoded

    harness.owner.forget_decoded()  # the worker's partitions changed
    await harness.apply(_delivered(instance, b'{"status": "PENDING"}', "m-2"))
    assert harness.store.reads == reads + 1
    assert harness.stored().applied_events[-2:] == ["m-1", "m-2"]


async def test_finished_instances_and_those_waiting_for_a_later_timer_are_not_kept(
    engine: Dagger,
) -> None:
    # Their next event is far off or never comes: kept, they would only fill the heap.
    waiting = Harness(callback=False)
    stored = await waiting.create(one_process(engine, alarm(engine, "alarm")), at=NOW + 60)
    reads = waiting.store.reads
    waiting.clock.now = NOW + 60
    await waiting.apply(TimerFired("t-1", "i-1", task_named(stored, "alarm").id, NOW + 60))
    assert waiting.store.reads == reads + 1

    soon = Harness(callback=False)
    stored = await soon.create(one_process(engine, alarm(engine, "alarm")), at=NOW + 0.5)
    reads = soon.store.reads
    soon.clock.now = NOW + 0.5
    await soon.apply(TimerFired("t-1", "i-1", task_named(stored, "alarm").id, NOW + 0.5))
    assert soon.store.reads == reads
    assert soon.stored().status.code == "COMPLETED"

    reads = soon.store.reads
    await soon.apply(InstanceSubmitted("s-again", "i-1"))  # finished: read again
    assert soon.store.reads == reads + 1


async def test_with_an_update_callback_no_instance_stays_decoded_across_batches(
    engine: Dagger,
) -> None:
    # A callback is given the instance itself and may keep it: a later batch must not
    # change the object it holds.
    harness = Harness()
    instance = await _listening(engine, harness)
    reads = harness.store.reads

    await harness.apply(_delivered(instance, b'{"status": "PENDING"}', "m-1"))
    assert harness.store.reads == reads + 1
    await harness.apply(_delivered(instance, b'{"status": "PENDING"}', "m-2"))
    first, second = harness.published
    assert first is not second and first.applied_events[-1] == "m-1"


async def test_the_instances_kept_decoded_are_bounded_and_an_abandoned_batch_drops_them(
    engine: Dagger,
) -> None:
    harness = Harness(callback=False, decoded_kept=1)
    template = order_template(engine, status_topic=unique("status"))
    instances = {}
    for number in (1, 2):
        instance = await template.create_instance(
            f"i-{number}", "order_id", seed=random.Random(number), order_id=f"o-{number}"
        )
        instances[number] = instance
        document = codec.to_document(instance)
        await harness.apply(InstanceCreated(f"c-{number}", f"i-{number}", document, submit=True))
    reads = harness.store.reads
    pending = b'{"status": "PENDING"}'

    await harness.apply(_delivered(instances[2], pending, "m-1"))  # the one kept
    assert harness.store.reads == reads
    await harness.apply(_delivered(instances[1], pending, "m-2"))  # beyond the bound
    assert harness.store.reads == reads + 1
    await harness.apply(_delivered(instances[1], pending, "m-3"))  # kept now
    assert harness.store.reads == reads + 1

    await harness.owner.handle(_delivered(instances[1], pending, "m-4"), PARTITION)
    harness.owner.abandon_batch()
    await harness.apply(_delivered(instances[1], pending, "m-5"))
    assert harness.store.reads == reads + 2


class DropCounter(NoTelemetry):
    """Counts the inputs the owner reports dropped, by reason."""

    def __init__(self) -> None:
        self.dropped: list[tuple[str, int]] = []

    def input_dropped(self, reason: str, count: int = 1) -> None:
        self.dropped.append((reason, count))


async def test_events_that_change_nothing_are_counted_as_dropped_with_their_reason(
    engine: Dagger,
) -> None:
    counter = DropCounter()
    harness = Harness(telemetry=counter)
    instance = await _listening(engine, harness)

    await harness.apply(InstanceSubmitted("e-1", "nobody"))  # a forged or stale event
    await harness.apply(InstanceSubmitted("e-2", instance.id))  # started already
    await harness.apply(InstanceCreated("c-1", "i-1", codec.to_document(instance), False))

    assert counter.dropped == [
        ("unknown_instance", 1),
        ("already_started", 1),
        ("replayed", 1),  # the create event applied already
    ]
    assert harness.letters == []
