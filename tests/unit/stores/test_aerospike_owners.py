"""The engine's owners over ``aerospike://`` stores: a worker that lost its partition.

Two instance owners share the sets of one FakeAerospikeClient, as two workers share a
cluster; each owner's stores are staged as the worker stages them (writes wait for the end
of the batch).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated, InstanceSubmitted, StopRequested
from dagger.exceptions.exceptions import StaleWriteError
from dagger.runtime._dead_letter_writer import DeadLetterWriter
from dagger.runtime._owner import InstanceOwner
from dagger.runtime._staging import StagingArea
from dagger.runtime._timers import TimerIndex
from dagger.runtime._updates import UpdatePublisher
from dagger.service.services import Dagger
from dagger.stores._aerospike import AerospikeStore
from dagger.testing import FakeAerospikeClient
from tests.unit._workflows import RecordingTask, build_template


@pytest.fixture
def client() -> Iterator[FakeAerospikeClient]:
    fake = FakeAerospikeClient()
    yield fake
    fake.close()


async def _nothing_to_flush() -> None:
    return None


def _worker(client: FakeAerospikeClient) -> tuple[InstanceOwner, StagingArea]:
    """An instance owner over staged Aerospike stores, and its staging area."""
    staging = StagingArea(_nothing_to_flush)

    async def send(event: Any, key: str, partition: int) -> None:
        return None

    def no_payloads(topic: str, raw: bytes) -> Any:
        raise AssertionError("no listener messages here")

    def store(table: str) -> Any:
        return staging.stage(
            AerospikeStore(lambda: client, namespace="dagger", set_name=table, ttl=-1)
        )

    owner = InstanceOwner(
        store("instances"),
        publisher=UpdatePublisher(None, []),
        delete_on_complete=False,
        send=send,
        partitions=4,
        decode_payload=no_payloads,
        dead_letters=DeadLetterWriter(None),
        timers=TimerIndex(store("timers")),
    )
    return owner, staging


async def test_the_old_owner_cannot_overwrite_the_new_owners_state(
    engine: Dagger, client: FakeAerospikeClient
) -> None:
    template = build_template(engine, [("p", [("a", RecordingTask)])])
    instance = await template.create_instance("i-1", "k", seed=random.Random(1), k="v")
    old, old_batch = _worker(client)
    new, new_batch = _worker(client)
    await old.handle(InstanceCreated("c-1", instance.id, codec.to_document(instance)), 2)
    await old_batch.commit()

    # The old owner applies a submit; before its batch ends, the partition moves and the
    # new owner applies a stop and ends its own batch.
    await old.handle(InstanceSubmitted("u-1", instance.id), 2)
    await new.handle(StopRequested("s-1", instance.id), 2)
    await new_batch.commit()

    with pytest.raises(StaleWriteError, match="another worker changed the record"):
        await old_batch.commit()

    stored = new.load(instance.id)
    assert stored is not None
    assert stored.status.code == "STOPPED"
    assert "u-1" not in stored.applied_events
