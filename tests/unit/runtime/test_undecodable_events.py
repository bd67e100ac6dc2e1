"""The owner meets an instance it cannot decode: the event is a dead letter, nothing stops."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import pytest

from dagger.runtime._dead_letter_writer import UNDECODABLE_INSTANCE
from dagger.service.services import Dagger
from dagger.tasks._aliases import task_class_aliases
from dagger.tasks.task import register_alias
from dagger.testing import LocalEngine
from tests.unit._control_flow_workflows import Recorder, process, step, wait, workflow
from tests.unit._listener_workflows import new_engine, unique
from tests.unit._renamed import GONE, rename_stored_class


class Prepare(Recorder):
    """The executor that runs before the listener; its class is the one renamed."""


@pytest.fixture(autouse=True)
def _no_alias() -> Iterator[None]:
    yield
    task_class_aliases.remove(GONE)


@pytest.fixture
def engine() -> Dagger:
    return new_engine(kafka_partitions=2)


@pytest.fixture
async def local(engine: Dagger) -> AsyncIterator[LocalEngine]:
    async with LocalEngine(engine) as running:
        yield running


async def _two_waiting(engine: Dagger, local: LocalEngine) -> str:
    """Instances w-1 and w-2 wait for the same order's reply; w-1's class is then renamed."""
    topic = unique("replies")
    template = workflow(
        engine,
        process(
            engine, "P", step(engine, "prepare", wait(engine, "reply", topic), task_type=Prepare)
        ),
        name=unique("waiting"),
    )
    for instance_id in ("w-1", "w-2"):
        await template.create_instance(instance_id, "order_id", order_id="o-1", submit_task=True)
    rename_stored_class(local.store, "w-1", Prepare)
    return topic


async def test_a_message_reaches_the_others_and_is_dead_lettered_for_the_undecodable(
    engine: Dagger, local: LocalEngine
) -> None:
    topic = await _two_waiting(engine, local)
    stored = local.store[b"w-1"]

    await local.send_message(topic, {"order_id": "o-1"})

    assert local.get_instance("w-2").status.code == "COMPLETED"  # type: ignore[union-attr]
    [letter] = local.dead_letters
    assert letter["reason"] == UNDECODABLE_INSTANCE
    assert letter["error_type"] == "UndecodableInstanceError"
    assert GONE in letter["error_message"]
    assert local.store[b"w-1"] == stored  # left as it was, for a reinjection


async def test_a_stop_of_the_undecodable_instance_is_dead_lettered_not_raised(
    engine: Dagger, local: LocalEngine
) -> None:
    await _two_waiting(engine, local)

    await engine.stop_instance("w-1")
    await engine.stop_instance("w-2")

    assert [letter["reason"] for letter in local.dead_letters] == [UNDECODABLE_INSTANCE]
    assert local.get_instance("w-2").status.code == "STOPPED"  # type: ignore[union-attr]


async def test_with_an_alias_the_reinjected_event_applies(
    engine: Dagger, local: LocalEngine
) -> None:
    topic = await _two_waiting(engine, local)
    await local.send_message(topic, {"order_id": "o-1"})
    [letter] = local.dead_letters

    register_alias(GONE)(Prepare)  # the renamed class says where it was
    # What dagger dlq reinject does: the letter's value, back to its partition.
    await local._dispatcher.handle(base64.b64decode(letter["value"]), letter["origin"]["partition"])
    await local._owner.end_batch()

    instance = local.get_instance("w-1")
    assert instance is not None and instance.status.code == "COMPLETED"
    assert instance.runtime_parameters["heard"] == ["reply"]
