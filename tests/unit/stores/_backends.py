"""The store backends the contract runs against, and the Aerospike client they use.

``aerospike://`` runs against a real server when ``AEROSPIKE_HOST`` (``host`` or
``host:port``; ``AEROSPIKE_NAMESPACE``, default ``dagger``, as in docker-compose.yml) is
set, and against :class:`~dagger.testing.FakeAerospikeClient` otherwise; the test ids say
which (``aerospike-real-server`` or ``aerospike-FAKE-client``).
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP

from dagger.stores._aerospike import AerospikeStore
from dagger.testing import FakeAerospikeClient

Store = MutableMapping[bytes, bytes]

AEROSPIKE_HOST = os.environ.get("AEROSPIKE_HOST")
AEROSPIKE_NAMESPACE = os.environ.get("AEROSPIKE_NAMESPACE", "dagger")
AEROSPIKE_KIND = "aerospike-real-server" if AEROSPIKE_HOST else "aerospike-FAKE-client"


def aerospike_hosts() -> list[tuple[str, int]]:
    """The ``AEROSPIKE_HOST`` server as a HOSTS list."""
    assert AEROSPIKE_HOST
    host, _, port = AEROSPIKE_HOST.partition(":")
    return [(host, int(port or 3000))]


def aerospike_client(fake_path: Path | None = None) -> Any:
    """A real client on ``AEROSPIKE_HOST`` when set, else a FakeAerospikeClient."""
    if AEROSPIKE_HOST:
        import aerospike

        return aerospike.client({"hosts": aerospike_hosts()})
    return FakeAerospikeClient(fake_path)


@dataclass
class Backend:
    """A store kind under test: how to open a store, and the behaviours that differ."""

    name: str
    open: Callable[[], Iterator[Store]]
    del_missing_raises: bool = True


@contextmanager
def _memory(tmp_path: Path) -> Iterator[Store]:
    app = faust.App("contract", broker="kafka://127.0.0.1:9", store="memory://")
    table = app.Table("t", partitions=1, key_type=bytes, value_type=bytes)
    yield table.data


class _Event:
    """A stub of the faust event being processed: only its message's partition is read."""

    message = SimpleNamespace(partition=0)


@contextmanager
def _rocksdb(tmp_path: Path) -> Iterator[Store]:
    """faust's RocksDB store, as the engine's tables use it, inside a partition-0 event.

    faust's store writes to the database of the current event's partition and iterates
    the partitions the consumer group assigned: the test stands in for both (a stub event
    of partition 0, and an assignor reporting partition 0 active), since no group runs here.
    """
    app = faust.App(
        "contract",
        broker="kafka://127.0.0.1:9",
        store="rocksdb://",
        datadir=str(tmp_path / "rocksdb"),
        key_serializer="raw",
        value_serializer="raw",
    )
    table = app.Table("t", partitions=1, key_type=bytes, value_type=bytes)
    store = table.data
    active = {TP(table.changelog_topic_name, 0)}
    app.assignor.assigned_actives = lambda: active  # type: ignore[method-assign]
    event = _Event()
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield store
    finally:
        _current_event.reset(token)
        for db in store._dbs.values():
            db.close()


@contextmanager
def aerospike_store(tmp_path: Path, set_name: str | None = None) -> Iterator[AerospikeStore]:
    """An AerospikeStore over a fresh set; its records are deleted at the end."""
    client = aerospike_client(tmp_path / "fake-aerospike.sqlite")
    store = AerospikeStore(
        lambda: client,
        namespace=AEROSPIKE_NAMESPACE,
        set_name=set_name or f"contract_{uuid.uuid4().hex[:12]}",
        ttl=-1,
    )
    try:
        yield store
    finally:
        for key in list(store):
            store.pop(key, None)
        client.close()


def twin(store: AerospikeStore) -> AerospikeStore:
    """A second store over the same set: what another worker's store sees."""
    return AerospikeStore(store._client, namespace=store.namespace, set_name=store.set_name, ttl=-1)


def backends(tmp_path: Path) -> dict[str, Backend]:
    """Every backend, by name."""
    return {
        "memory": Backend("memory", lambda: _memory(tmp_path)),
        # faust's RocksDB store deletes a missing key without complaint.
        "rocksdb": Backend("rocksdb", lambda: _rocksdb(tmp_path), del_missing_raises=False),
        AEROSPIKE_KIND: Backend(AEROSPIKE_KIND, lambda: aerospike_store(tmp_path)),
    }
