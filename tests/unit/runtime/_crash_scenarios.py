"""The workflows, input and checks of the crash-consistency tests (no test here).

A :class:`Scenario` plays steps (create an instance of a shape, reply to a listener,
apply a batch of a partition, move the clock, sweep the held messages) on a
:class:`~tests.unit.runtime._crash_world.CrashWorld`, asking ``choose_crash`` where to
kill each batch commit. :class:`Model` says what each instance must end with;
:func:`check_rule` checks that the index, the timers and the held messages agree with
the stored instances; :func:`check_outcome` that every instance completed, each reply
handled once and each task run once.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated
from dagger.core._keys import index_key
from dagger.core._kinds.listener import registered_index_keys
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.runtime._partitioning import partition_for_index_key, partition_for_key
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance, KafkaListenerTask, TaskLookupKey
from dagger.templates.template import ITemplateDAG, TaskTemplateBuilder
from dagger.testing._local import ManualClock
from tests.unit._listener_workflows import new_engine, unique
from tests.unit._timed_workflows import Alarm
from tests.unit._workflows import RecordingTask
from tests.unit.runtime._crash_world import CrashWorld

PARTITIONS = 2
OWN_TOPIC = unique("own-replies")
REMOTE_TOPIC = unique("remote-replies")
START = 1_000_000.0
LONGEST_DELAY = 60
"""The longest a trigger waits after its instance is created, in seconds."""
EARLY_MESSAGE_WINDOW = 10 * LONGEST_DELAY * 1_000
"""Far longer than the ticks of a run: a held message or a memory expires only when a
test advances the clock past it on purpose."""
PARTS = ("own", "remote", "trigger")
SHAPES = [
    shape for size in range(1, len(PARTS) + 1) for shape in itertools.permutations(PARTS, size)
]
"""Every order of a subset of the parts between the ``start`` and ``end`` executors."""

CrashChoice = Callable[[int], "int | None"]
"""Given the number of steps of a batch commit, the step to crash before (None: none)."""


class _Reply(KafkaListenerTask[str, Any]):
    """Records the reply's ``mid`` in ``runtime_parameters['seen']`` and completes."""

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [(str(self.correlatable_key), payload[str(self.correlatable_key)])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters.setdefault("seen", []).append(args[0]["mid"])
        return True


class OwnReply(_Reply):
    """Waits under ``order_id``, the instance's partition key: an entry beside it."""

    correlatable_key = "order_id"


class RemoteReply(_Reply):
    """Waits under ``ref``, chosen to hash to another partition: ``index_add`` events."""

    correlatable_key = "ref"


SLOT_TOPIC = {"own": OWN_TOPIC, "remote": REMOTE_TOPIC}
SLOT_KEY = {"own": "order_id", "remote": "ref"}


@dataclass
class Engine:
    """An engine and its templates, one per shape (built once, reused by every example)."""

    engine: Dagger
    templates: dict[tuple[str, ...], ITemplateDAG] = field(default_factory=dict)

    def template(self, shape: tuple[str, ...]) -> ITemplateDAG:
        if shape not in self.templates:
            helper = DAGBuilderHelper(dagger_app=self.engine)
            tasks: list[TaskTemplateBuilder] = [
                helper.generic_executor_task_builder(task_type=RecordingTask, name="start")
            ]
            for part in shape:
                if part == "trigger":
                    tasks.append(
                        helper.generic_trigger_task_builder(
                            task_type=Alarm, name="alarm", time_to_execute_key="at"
                        )
                    )
                else:
                    tasks.append(
                        helper.generic_listener_task_builder(
                            topic=SLOT_TOPIC[part],
                            task_type=OwnReply if part == "own" else RemoteReply,
                            process_name="P",
                            value_serializer="json",
                        )
                    )
            tasks.append(helper.generic_executor_task_builder(task_type=RecordingTask, name="end"))
            self.templates[shape] = helper.generic_template(
                template_name=unique("crash"),
                root_process=helper.build_and_link_processes(
                    [
                        helper.generic_process_builder(
                            process_name="P", root_task=helper.build_and_link_tasks(tasks)
                        )
                    ]
                ),
            )
        return self.templates[shape]


def _engine(delete_on_complete: bool) -> Engine:
    engine = new_engine(
        kafka_partitions=PARTITIONS,
        delete_workflow_on_complete=delete_on_complete,
        early_message_window=EARLY_MESSAGE_WINDOW,
    )

    async def sent_by_the_test(instance: Any, *, repartition: bool, submit: bool) -> None:
        """The test appends the ``created`` event itself, to the world's engine topic."""

    engine._send_new_instance = sent_by_the_test  # type: ignore[method-assign]
    built = Engine(engine)
    for shape in SHAPES:  # registers the listener topics once
        built.template(shape)
    return built


ENGINES: dict[bool, Engine] = {}


def engine_for(delete_on_complete: bool) -> Engine:
    if delete_on_complete not in ENGINES:
        ENGINES[delete_on_complete] = _engine(delete_on_complete)
    return ENGINES[delete_on_complete]


def _value_on(partition: int, prefix: str, avoid: int | None = None) -> str:
    """A key value that hashes to ``partition`` (or away from ``avoid``)."""
    for n in itertools.count():
        value = f"{prefix}-{n}"
        landed = partition_for_key(value, PARTITIONS)
        if (avoid is None and landed == partition) or (avoid is not None and landed != avoid):
            return value
    raise AssertionError("unreachable")


@dataclass
class Model:
    """What each instance must end with: its shape and the first reply of each listener."""

    shapes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    first_reply: dict[tuple[str, str], str] = field(default_factory=dict)
    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def expected_seen(self, instance_id: str) -> list[str]:
        return [
            self.first_reply[(instance_id, part)]
            for part in self.shapes[instance_id]
            if part != "trigger"
        ]


class Scenario:
    """Plays steps on a :class:`CrashWorld`, crashing each commit where ``choose_crash`` says."""

    def __init__(self, delete_on_complete: bool, choose_crash: CrashChoice) -> None:
        self.built = engine_for(delete_on_complete)
        self.world = CrashWorld(self.built.engine, ManualClock(START))
        self.model = Model()
        self.choose_crash = choose_crash
        self.offsets = itertools.count()
        self.events = itertools.count()

    def crash_at(self, commit_steps: int) -> int | None:
        return self.choose_crash(commit_steps)

    def partition_of(self, instance_id: str) -> int:
        """The engine-topic partition that owns ``instance_id``."""
        return partition_for_key(self.model.values[(instance_id, "own")], PARTITIONS)

    async def play(self, step: tuple[Any, ...]) -> None:
        world = self.world
        if step[0] == "create":
            await self.create(step[1], step[2])
        elif step[0] == "reply":
            await self.reply(step[1], step[2], duplicate=step[3])
        elif step[0] == "batch":
            await world.run_batch(step[1], step[2], self.crash_at)
        elif step[0] == "commit":
            world.commit_offsets()
        elif step[0] == "tick":
            world.clock.advance(step[1])
            world.fire_due_timers()
        else:
            world.sweep(f"sweep-{next(self.events)}")

    async def create(self, shape: tuple[str, ...], delay: int) -> None:
        number = len(self.model.shapes)
        order_id = f"order-{number}"
        partition = partition_for_key(order_id, PARTITIONS)
        ref = _value_on(partition, f"ref-{number}", avoid=partition)
        template = self.built.template(shape)
        instance = await template.create_instance(
            f"i-{number}",
            "order_id",
            seed=random.Random(number),
            order_id=order_id,
            ref=ref,
            at=self.world.clock() + delay,
        )
        self.model.shapes[instance.id] = shape
        self.model.values[(instance.id, "own")] = order_id
        self.model.values[(instance.id, "remote")] = ref
        assert partition_for_index_key(index_key(REMOTE_TOPIC, "ref", ref), PARTITIONS) != (
            partition
        )
        document = codec.to_document(instance)
        self.world.append(
            InstanceCreated(f"c-{instance.id}", instance.id, document, submit=True), partition
        )

    async def reply(self, pick: int, slot_pick: int, *, duplicate: bool) -> None:
        if not self.model.shapes:
            return
        instance_id = sorted(self.model.shapes)[pick % len(self.model.shapes)]
        slots = [part for part in self.model.shapes[instance_id] if part != "trigger"]
        if not slots:
            return
        await self.send_reply(instance_id, slots[slot_pick % len(slots)], duplicate=duplicate)

    async def send_reply(self, instance_id: str, slot: str, *, duplicate: bool = False) -> None:
        offset = next(self.offsets)
        mid = f"m-{offset}"
        self.model.first_reply.setdefault((instance_id, slot), mid)
        payload = {SLOT_KEY[slot]: self.model.values[(instance_id, slot)], "mid": mid}
        for _ in range(2 if duplicate else 1):  # a listener agent that read it twice
            await self.world.reply(SLOT_TOPIC[slot], payload, offset)

    async def finish(self) -> None:
        """Reply to every listener that got nothing yet, let every timer fall due."""
        for instance_id, shape in sorted(self.model.shapes.items()):
            for part in shape:
                if part != "trigger" and (instance_id, part) not in self.model.first_reply:
                    await self.send_reply(instance_id, part)
        await self.world.drain(self.crash_at)
        self.world.clock.advance(2 * LONGEST_DELAY)
        await self.world.settle(self.crash_at)
        await self.world.settle()  # the crashes the drains above ended with are recovered


# -- the rule ----------------------------------------------------------------------------
def final_states(world: CrashWorld) -> dict[str, dict[str, Any]]:
    """The last update document of each instance: what its owner last stored."""
    latest: dict[str, dict[str, Any]] = {}
    for document in world.updates:
        latest[document["id"]] = document
    return latest


def check_rule(world: CrashWorld) -> None:
    """Index, timers and held messages agree with the stored instances."""
    instances: dict[str, ITemplateDAGInstance[Any, Any]] = world.stored_instances()
    waiting = {
        (key, instance.id, task_id)
        for instance in instances.values()
        for task_id, key in registered_index_keys(instance)
    }
    assert world.index_entries() == waiting, "the index and the waiting listeners disagree"
    pending = {
        (instance.id, task.id): task.timer_due
        for instance in instances.values()
        for task in instance.tasks.values()
        if task.timer_due is not None
    }
    assert world.stored_timers() == pending, "the timer table and the pending timers disagree"
    in_memory = {
        (timer.instance_id, timer.task_id): timer.due
        for _partition, timer in world.worker.owners.timers._by_task.values()
    }
    assert in_memory == pending, "the timer index and the pending timers disagree"
    handled = {
        mid
        for document in final_states(world).values()
        for mid in document["runtime_parameters"].get("seen", [])
    }
    waited_under = {key for key, _instance_id, _task_id in waiting}
    for key, payloads in world.held_messages().items():
        assert key not in waited_under, f"messages held under {key!r}, where a listener waits"
        for payload in payloads:
            assert payload["mid"] not in handled, f"{payload['mid']} is held and was handled"


def check_outcome(scenario: Scenario) -> None:
    """Every instance completed, each reply handled once and each task run once."""
    world, model = scenario.world, scenario.model
    states = final_states(world)
    assert set(states) == set(model.shapes)
    for instance_id, shape in model.shapes.items():
        state = states[instance_id]
        parameters = state["runtime_parameters"]
        assert state["status"] == "COMPLETED", (instance_id, shape, state["status"])
        assert parameters.get("seen", []) == model.expected_seen(instance_id), instance_id
        assert parameters.get("ran") == ["start", "end"], instance_id
        assert parameters.get("fired", []) == (["alarm_trigger_task"] if "trigger" in shape else [])
    assert not world.index_entries()
    assert not world.stored_timers()


async def run_scenario(
    chosen: list[tuple[Any, ...]], delete_on_complete: bool, choose_crash: CrashChoice
) -> Scenario:
    """Play ``chosen``, recover, check the rule; reply to all, let all fall due, check all."""
    scenario = Scenario(delete_on_complete, choose_crash)
    for step in chosen:
        await scenario.play(step)
    await scenario.world.drain(scenario.crash_at)
    await scenario.world.drain()  # the last crash recovered
    check_rule(scenario.world)
    await scenario.finish()
    check_rule(scenario.world)
    check_outcome(scenario)
    return scenario
