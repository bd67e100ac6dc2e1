"""The owner loop, driven directly with a dict for a table: no faust app, no broker."""

from __future__ import annotations

import asyncio
import contextlib
import random
from types import SimpleNamespace
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated, InstanceSubmitted
from dagger.core._wire import MalformedEvent, encode_event
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._dispatch import EventDispatcher
from dagger.runtime._keys_owner import KeysOwner
from dagger.runtime._owner import TOMBSTONE, InstanceOwner
from dagger.runtime._timers import TimerIndex
from dagger.runtime._updates import UpdatePublisher
from dagger.service._worker_view import EngineWorkerView
from dagger.service.services import Dagger
from dagger.tasks.task import DefaultTemplateDAGInstance, ExecutorTask, ITemplateDAGInstance
from tests.unit._workflows import (
    OFFLINE_BROKER,
    FailingTask,
    RecordingTask,
    build_template,
    task_named,
)


class Unserializable(ExecutorTask[str, Any]):
    """Leaves a runtime parameter JSON cannot hold."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["handle"] = object()


class FakeApp:
    """The stores of one owner: dicts where a worker has faust tables."""

    def __init__(self) -> None:
        self.table: dict[bytes, bytes] = {}
        self.index: dict[bytes, bytes] = {}
        self.held: dict[bytes, bytes] = {}


class Owner:
    """The worker's owners over dict stores, with the published instances recorded."""

    def __init__(self, *, delete_on_complete: bool = False) -> None:
        self.app = FakeApp()
        self.published: list[ITemplateDAGInstance[Any, Any]] = []
        self.sent: list[Any] = []

        async def record(instance: ITemplateDAGInstance[Any, Any]) -> None:
            self.published.append(instance)

        async def send(event: Any, key: str, partition: int) -> None:
            self.sent.append(event)

        def undecodable(topic: str, raw: bytes) -> Any:
            raise AssertionError("no listener messages in these tests")

        self.runtime = InstanceOwner(
            self.app.table,
            publisher=UpdatePublisher(None, [record]),
            delete_on_complete=delete_on_complete,
            send=send,
            partitions=4,
            decode_payload=undecodable,
            dead_letters=DeadLetterWriter(None),
            timers=TimerIndex({}),
        )
        keys = KeysOwner(
            self.app.index, self.app.held, send=send, chunk_size=10, early_message_window=0
        )
        self.router = EventDispatcher(self.runtime, keys, 4)

    async def handle(self, event: InstanceCreated | InstanceSubmitted) -> None:
        await self.router.handle(encode_event(event), partition=2)
        await self.runtime.end_batch()

    def stored(self, instance_id: str) -> ITemplateDAGInstance[Any, Any]:
        loaded = self.runtime.load(instance_id)
        assert loaded is not None
        return loaded


async def _created(
    engine: Dagger, tasks: list[tuple[str, type[Any]]], *, submit: bool, event_id: str = "c-1"
) -> InstanceCreated:
    template = build_template(engine, [("p", tasks)])
    instance = await template.create_instance("i-1", "k", seed=random.Random(1), k="v")
    return InstanceCreated(event_id, instance.id, codec.to_document(instance), submit=submit)


async def test_a_created_and_submitted_instance_runs_to_completion(engine: Dagger) -> None:
    owner = Owner()

    await owner.handle(
        await _created(engine, [("a", RecordingTask), ("b", RecordingTask)], submit=True)
    )

    stored = owner.stored("i-1")
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["a", "b"]
    assert stored.owner_partition == 2
    assert stored.applied_events == ["c-1"]
    assert [published.status.code for published in owner.published] == ["COMPLETED"]


async def test_a_created_instance_waits_for_its_submission(engine: Dagger) -> None:
    owner = Owner()
    await owner.handle(await _created(engine, [("a", RecordingTask)], submit=False))
    assert owner.stored("i-1").status.code == "NOT_STARTED"

    await owner.handle(InstanceSubmitted("s-1", "i-1"))
    await owner.handle(InstanceSubmitted("s-1", "i-1"))

    stored = owner.stored("i-1")
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["a"]
    # The replayed submission changes nothing but publishes the stored state again:
    # updates are at-least-once, in case a crash came between the store and the publish.
    assert [published.status.code for published in owner.published] == [
        "NOT_STARTED",
        "COMPLETED",
        "COMPLETED",
    ]


async def test_a_replayed_create_is_dropped(engine: Dagger) -> None:
    owner = Owner()
    created = await _created(engine, [("a", RecordingTask)], submit=True)
    await owner.handle(created)
    before = dict(owner.app.table)

    await owner.handle(created)

    assert owner.app.table == before
    assert [published.status.code for published in owner.published] == ["COMPLETED", "COMPLETED"]


async def test_a_submission_for_an_unknown_instance_is_dropped(engine: Dagger) -> None:
    owner = Owner()

    await owner.handle(InstanceSubmitted("s-1", "nobody"))

    assert owner.app.table == {}
    assert owner.published == []
    assert owner.runtime.load("nobody") is None


async def test_a_failing_task_is_stored_as_a_failure(engine: Dagger) -> None:
    owner = Owner()

    await owner.handle(
        await _created(engine, [("a", FailingTask), ("b", RecordingTask)], submit=True)
    )

    stored = owner.stored("i-1")
    assert stored.status.code == "FAILURE"
    assert (task_named(stored, "a").error_type, task_named(stored, "a").error_message) == (
        "RuntimeError",
        "boom",
    )
    assert task_named(stored, "b").status.code == "NOT_STARTED"


async def test_a_finished_instance_is_deleted_when_asked(engine: Dagger) -> None:
    owner = Owner(delete_on_complete=True)
    created = await _created(engine, [("a", RecordingTask)], submit=True)

    await owner.handle(created)
    await owner.handle(created)

    assert owner.app.table == {b"i-1": TOMBSTONE}
    assert owner.runtime.load("i-1") is None
    assert len(owner.published) == 1


async def test_a_malformed_record_raises_malformed_event() -> None:
    with pytest.raises(MalformedEvent):
        await Owner().router.handle(b"not json", partition=0)


async def test_unserializable_runtime_parameters_fail_the_instance(engine: Dagger) -> None:
    owner = Owner()

    await owner.handle(await _created(engine, [("a", Unserializable)], submit=True))

    stored = owner.stored("i-1")
    assert isinstance(stored.runtime_parameters["handle"], str)
    assert stored.status.code == "FAILURE"
    assert stored.error_type == "UnserializableRuntimeParameters"


async def test_a_failing_batch_commit_is_tried_again_and_the_worker_is_not_ready_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    runtime = engine._runtime
    view = EngineWorkerView(engine)
    attempts: list[bool] = []
    readiness: list[bool] = []

    async def commit() -> int:
        attempts.append(True)
        if len(attempts) < 3:
            raise OSError("store unavailable")
        return 1

    async def no_wait(seconds: float) -> None:
        readiness.append(runtime.commit_error is None)

    monkeypatch.setattr(runtime._staging, "commit", commit)
    monkeypatch.setattr(asyncio, "sleep", no_wait)
    monkeypatch.setattr(engine.faust_app.tables.recovery.completed, "is_set", lambda: True)

    await runtime._end_batch()

    assert len(attempts) == 3
    assert runtime.commit_failures == 2
    assert readiness == [False, False]
    assert runtime.commit_error is None
    assert view.is_ready()


async def test_a_batch_sends_its_updates_before_its_writes_are_stored_and_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Sent after the writes, a crash in between lost the update for good (the replayed
    # message of a completed listener is held, not delivered, so nothing sends it again).
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    runtime = engine._runtime
    order: list[str] = []
    instance = DefaultTemplateDAGInstance(id="i-1", task_name="orders")
    runtime.owner._changed[instance.id] = instance

    async def send(changed: Any) -> None:
        order.append(f"update {changed.id}")

    async def commit() -> int:
        order.append("flush and store")
        return 1

    monkeypatch.setattr(runtime.owner._publisher, "send", send)
    monkeypatch.setattr(runtime._staging, "commit", commit)

    await runtime._end_batch()

    assert order == ["update i-1", "flush and store"]


class _Record:
    """An engine-topic event as the agent sees it (faust keeps a weak reference to it)."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.message = None


class _StalledStream:
    """A faust stream whose queue is emptied (a revocation) after it handed out ``events``.

    Its queue says records are still fetched after each one, so the agent keeps its batch
    open, and then no record comes: the agent waits in ``events()`` for ever.
    """

    def __init__(self, events: list[Any]) -> None:
        self._events = events
        self.acked: list[Any] = []
        self.channel = SimpleNamespace(queue=SimpleNamespace(empty=lambda: False))

    def noack(self) -> _StalledStream:
        return self

    async def events(self) -> Any:
        for event in self._events:
            yield event
        await asyncio.Event().wait()

    async def ack(self, event: Any) -> None:
        self.acked.append(event)


async def test_a_batch_whose_agent_waits_for_no_record_is_ended_so_a_revocation_can_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    runtime = engine._runtime
    applied: list[Any] = []
    committed: list[int] = []

    async def apply(event: Any) -> None:
        applied.append(event)

    async def end_batch() -> None:
        committed.append(len(applied))

    monkeypatch.setattr(runtime, "_apply", apply)
    monkeypatch.setattr(runtime, "_end_batch", end_batch)
    events = [_Record(n) for n in range(3)]
    stream = _StalledStream(events)
    agent = asyncio.ensure_future(runtime._consume(stream))
    try:
        for _ in range(100):
            await asyncio.sleep(0)
        assert applied == events and stream.acked == []  # open: the queue "had" more

        assert await runtime.end_idle_batch()

        assert stream.acked == events
        assert committed == [3]
        assert not await runtime.end_idle_batch()  # nothing left open
    finally:
        agent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agent


def test_the_owner_s_decoded_instances_are_dropped_when_a_rebalance_came() -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    runtime = engine._runtime
    forgotten: list[int] = []
    runtime.owner.forget_decoded = lambda: forgotten.append(1)  # type: ignore[method-assign]

    runtime._forget_decoded_after_rebalance()  # the first batch
    runtime._forget_decoded_after_rebalance()  # no rebalance since
    assert forgotten == [1]
    engine.faust_app.rebalancing_count += 1
    runtime._forget_decoded_after_rebalance()
    assert forgotten == [1, 1]
