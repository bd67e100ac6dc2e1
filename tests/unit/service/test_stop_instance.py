"""Dagger.stop_instance and the stop() of instances, processes and composites outside a hook.

The engine's ``_send`` is recorded, so these tests see the StopRequested events and the
partitions they go to; nothing applies them.
"""

from __future__ import annotations

from typing import Any

import pytest

from dagger.core._events import StopRequested
from dagger.runtime._partitioning import partition_for_key
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from tests.unit._control_flow_workflows import one_process, parallel, step
from tests.unit._workflows import OFFLINE_BROKER, task_named

PARTITIONS = 6


class Sent:
    """Stands in for ``Dagger._send``: records (event, key, partition)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, int]] = []

    async def __call__(self, event: Any, key: str, partition: int) -> None:
        self.calls.append((event, key, partition))

    def stops(self) -> list[tuple[StopRequested, str, int]]:
        return [call for call in self.calls if isinstance(call[0], StopRequested)]


@pytest.fixture
def engine_and_sent(monkeypatch: pytest.MonkeyPatch) -> tuple[Dagger, Sent]:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://", kafka_partitions=PARTITIONS)
    sent = Sent()
    monkeypatch.setattr(engine, "_send", sent)
    return engine, sent


async def _instance(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    par = parallel(engine, "par", step(engine, "a"), step(engine, "b"))
    template = one_process(engine, par)
    return await template.create_instance("i-1", "order_id", order_id="o-7")


async def test_a_stop_given_the_instance_goes_to_its_owner_partition(
    engine_and_sent: tuple[Dagger, Sent],
) -> None:
    engine, sent = engine_and_sent
    instance = await _instance(engine)
    owner = partition_for_key("o-7", PARTITIONS)
    assert instance.owner_partition == owner

    await engine.stop_instance(instance)

    [(event, key, partition)] = sent.stops()
    assert (event.instance_id, event.task_id, key, partition) == ("i-1", None, "o-7", owner)
    assert event.event_id


async def test_a_stop_for_an_instance_without_an_owner_goes_by_its_key(
    engine_and_sent: tuple[Dagger, Sent],
) -> None:
    engine, sent = engine_and_sent
    instance = await _instance(engine)
    instance.owner_partition = -1

    await engine.stop_instance(instance)

    [(_, key, partition)] = sent.stops()
    assert (key, partition) == ("o-7", partition_for_key("o-7", PARTITIONS))


async def test_a_stop_given_an_id_goes_to_every_partition(
    engine_and_sent: tuple[Dagger, Sent],
) -> None:
    engine, sent = engine_and_sent

    await engine.stop_instance("i-1", task_id="t-1")

    stops = sent.stops()
    assert [partition for _, _, partition in stops] == list(range(PARTITIONS))
    assert {(event.instance_id, event.task_id, key) for event, key, _ in stops} == {
        ("i-1", "t-1", "i-1")
    }
    assert len({event.event_id for event, _, _ in stops}) == PARTITIONS


async def test_stop_outside_a_hook_sends_a_stop_for_that_part(
    engine_and_sent: tuple[Dagger, Sent],
) -> None:
    engine, sent = engine_and_sent
    instance = await _instance(engine)
    process, composite = task_named(instance, "P"), task_named(instance, "par")

    await instance.stop(instance.runtime_parameters)
    await process.stop(instance.runtime_parameters, instance)
    await composite.stop(instance.runtime_parameters, instance)

    assert [event.task_id for event, _, _ in sent.stops()] == [None, process.id, composite.id]
    assert {partition for _, _, partition in sent.stops()} == {instance.owner_partition}
    # Nothing changed locally: the owner applies the stop.
    assert instance.status.code == "NOT_STARTED"
    assert process.status.code == "NOT_STARTED"


async def test_stopping_a_part_outside_a_hook_needs_its_instance(
    engine_and_sent: tuple[Dagger, Sent],
) -> None:
    engine, sent = engine_and_sent
    instance = await _instance(engine)

    with pytest.raises(TypeError, match="needs the workflow_instance"):
        await task_named(instance, "par").stop(instance.runtime_parameters)
    with pytest.raises(TypeError, match="needs the workflow_instance"):
        await task_named(instance, "P").stop(instance.runtime_parameters, None)
    assert sent.stops() == []
