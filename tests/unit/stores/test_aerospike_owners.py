"""The engine's owners over ``aerospike://`` stores: a worker that lost its partition.

Two instance owners share one set of a FakeAerospikeClient, as two workers share a cluster.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated, InstanceSubmitted, StopRequested
from dagger.exceptions.exceptions import StaleWriteError
from dagger.runtime._dead_letters import DeadLetters
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._timers import TimerIndex
from dagger.runtime._updates import UpdatePublisher
from dagger.service.services import Dagger
from dagger.stores._aerospike import AerospikeStore
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.testing import FakeAerospikeClient
from tests.unit._workflows import build_template

_meanwhile: list[Callable[[], Awaitable[None]]] = []


class PausingTask(ExecutorTask[str, Any]):
    """Lets the test run something while the owner is inside the event (a slow hook)."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        while _meanwhile:
            await _meanwhile.pop(0)()


@pytest.fixture
def client() -> Iterator[FakeAerospikeClient]:
    fake = FakeAerospikeClient()
    yield fake
    fake.close()


def _owner(client: FakeAerospikeClient) -> InstanceOwner:
    async def send(event: Any, key: str, partition: int) -> None:
        return None

    def no_payloads(topic: str, raw: bytes) -> Any:
        raise AssertionError("no listener messages here")

    def store(table: str) -> AerospikeStore:
        return AerospikeStore(lambda: client, namespace="dagger", set_name=table, ttl=-1)

    return InstanceOwner(
        store("instances"),
        publisher=UpdatePublisher(None, []),
        delete_on_complete=False,
        send=send,
        partitions=4,
        decode_payload=no_payloads,
        dead_letters=DeadLetters(None),
        timers=TimerIndex(store("timers")),
    )


async def test_the_old_owner_cannot_overwrite_the_new_owners_state(
    engine: Dagger, client: FakeAerospikeClient
) -> None:
    template = build_template(engine, [("p", [("slow", PausingTask)])])
    instance = await template.create_instance("i-1", "k", seed=random.Random(1), k="v")
    old, new = _owner(client), _owner(client)
    await old.handle(InstanceCreated("c-1", instance.id, codec.to_document(instance)), 2)

    async def new_owner_stops_it() -> None:
        # The partition moved while the old owner ran the hook: the new owner applies a stop.
        await new.handle(StopRequested("s-1", instance.id), 2)

    _meanwhile.append(new_owner_stops_it)
    with pytest.raises(StaleWriteError, match="another worker changed the record"):
        await old.handle(InstanceSubmitted("u-1", instance.id), 2)

    stored = new.load(instance.id)
    assert stored is not None
    assert stored.status.code == "STOPPED"
    assert "u-1" not in stored.applied_events
