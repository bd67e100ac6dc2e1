"""The store contract: what the engine's owners need from ``MutableMapping[bytes, bytes]``.

The same tests run against each backend: ``memory`` and ``rocksdb`` (faust's stores, which
the engine's faust tables keep their data in; the table adds the changelog on top) and
``aerospike`` (:class:`~dagger.stores._aerospike.AerospikeStore`), on a real server when
``AEROSPIKE_HOST`` is set, else on :class:`~dagger.testing.FakeAerospikeClient`: the test id
says ``aerospike-real-server`` or ``aerospike-FAKE-client``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dagger.exceptions.exceptions import StaleWriteError
from dagger.stores._aerospike import AerospikeStore
from tests.unit.stores._backends import (
    AEROSPIKE_KIND,
    Backend,
    Store,
    aerospike_store,
    backends,
    twin,
)

BACKENDS = ["memory", "rocksdb", AEROSPIKE_KIND]
LARGE = 512 * 1024


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return backends(tmp_path)[request.param]


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    with backend.open() as opened:
        yield opened


def test_a_missing_key_is_missing(store: Store) -> None:
    with pytest.raises(KeyError):
        store[b"nope"]
    assert store.get(b"nope") is None
    assert store.get(b"nope", b"default") == b"default"
    assert b"nope" not in store


def test_a_value_set_is_read_back_as_the_same_bytes(store: Store) -> None:
    store[b"instance-1"] = b'{"status": "EXECUTING"}'

    value = store[b"instance-1"]

    assert value == b'{"status": "EXECUTING"}'
    assert type(value) is bytes
    assert b"instance-1" in store
    assert store.get(b"instance-1") == value


def test_an_overwrite_replaces_the_value(store: Store) -> None:
    store[b"k"] = b"first"
    store[b"k"] = b"second"
    store[b"k"] = b"third"

    assert store[b"k"] == b"third"
    assert list(store) == [b"k"]


def test_a_deleted_key_is_gone_and_others_stay(store: Store) -> None:
    store[b"gone"] = b"1"
    store[b"kept"] = b"2"

    del store[b"gone"]

    assert b"gone" not in store
    with pytest.raises(KeyError):
        store[b"gone"]
    assert store[b"kept"] == b"2"


def test_deleting_a_missing_key(store: Store, backend: Backend) -> None:
    store[b"kept"] = b"2"

    if backend.del_missing_raises:
        with pytest.raises(KeyError):
            del store[b"never-written"]
    else:
        del store[b"never-written"]

    assert b"never-written" not in store
    assert dict(store.items()) == {b"kept": b"2"}


def test_a_key_deleted_then_set_again_is_back(store: Store) -> None:
    store[b"k"] = b"old"
    del store[b"k"]
    store[b"k"] = b"new"

    assert store[b"k"] == b"new"


def test_iteration_sees_every_key_and_value(store: Store) -> None:
    written = {f"key-{n}".encode(): f"value-{n}".encode() for n in range(25)}
    written[b"\x00\xffbinary\x1fkey"] = b"\x00\x01\x02"
    for key, value in written.items():
        store[key] = value

    assert sorted(store) == sorted(written)
    assert sorted(store.keys()) == sorted(written)
    assert dict(store.items()) == written
    assert sorted(store.values()) == sorted(written.values())
    assert len(store) == len(written)
    assert all(type(key) is bytes and type(value) is bytes for key, value in store.items())


def test_an_empty_store_iterates_nothing(store: Store) -> None:
    assert list(store) == []
    assert list(store.items()) == []
    assert len(store) == 0


def test_every_byte_value_survives(store: Store) -> None:
    value = bytes(range(256)) * 4
    key = bytes(range(1, 256))

    store[key] = value

    assert store[key] == value
    assert dict(store.items()) == {key: value}


def test_a_large_value_survives(store: Store) -> None:
    value = (bytes(range(256)) * (LARGE // 256 + 1))[:LARGE]

    store[b"large"] = value
    store[b"large"] = value[::-1]

    assert store[b"large"] == value[::-1]


def test_pop_and_setdefault_work_as_for_a_dict(store: Store) -> None:
    assert store.setdefault(b"k", b"first") == b"first"
    assert store.setdefault(b"k", b"second") == b"first"
    assert store.pop(b"k") == b"first"
    assert store.pop(b"k", None) is None


# -- only the shared store has writers on other workers ---------------------------------------


@pytest.fixture(params=[AEROSPIKE_KIND])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AerospikeStore]:
    with aerospike_store(tmp_path) as opened:
        yield opened


def test_a_write_at_a_stale_generation_is_refused(shared: AerospikeStore) -> None:
    shared[b"instance"] = b"v1"
    assert shared[b"instance"] == b"v1"  # the old owner read generation 1
    new_owner = twin(shared)
    assert new_owner[b"instance"] == b"v1"
    new_owner[b"instance"] = b"v2 by the new owner"

    with pytest.raises(StaleWriteError, match="another worker changed the record") as refused:
        shared[b"instance"] = b"v2 by the old owner"

    assert refused.value.key == b"instance"
    assert refused.value.expected_generation is not None
    assert new_owner[b"instance"] == b"v2 by the new owner"


def test_creating_a_key_another_worker_created_is_refused(shared: AerospikeStore) -> None:
    assert shared.get(b"timer") is None  # seen absent
    twin(shared)[b"timer"] = b"by the new owner"

    with pytest.raises(StaleWriteError, match="saw it absent"):
        shared[b"timer"] = b"by the old owner"

    assert shared[b"timer"] == b"by the new owner"


def test_a_delete_at_a_stale_generation_is_refused(shared: AerospikeStore) -> None:
    shared[b"held"] = b"v1"
    new_owner = twin(shared)
    new_owner[b"held"]
    new_owner[b"held"] = b"v2"

    with pytest.raises(StaleWriteError):
        del shared[b"held"]

    assert new_owner[b"held"] == b"v2"


def test_writing_over_a_record_another_worker_deleted_is_refused(shared: AerospikeStore) -> None:
    shared[b"k"] = b"v1"
    new_owner = twin(shared)
    del new_owner[b"k"]

    with pytest.raises(StaleWriteError):
        shared[b"k"] = b"v2"

    assert b"k" not in new_owner


def test_reading_again_takes_the_new_generation(shared: AerospikeStore) -> None:
    shared[b"k"] = b"v1"
    new_owner = twin(shared)
    assert b"k" in new_owner  # a membership test remembers the generation too
    new_owner[b"k"] = b"v2"
    with pytest.raises(StaleWriteError):
        shared[b"k"] = b"v3"

    assert shared[b"k"] == b"v2"
    shared[b"k"] = b"v3"  # the owner again (a later event reads before it writes)

    assert twin(shared)[b"k"] == b"v3"


def test_a_scan_remembers_generations(shared: AerospikeStore) -> None:
    twin(shared)[b"timer"] = b"v1"

    assert dict(shared.items()) == {b"timer": b"v1"}  # the timer index load
    shared[b"timer"] = b"v2"

    assert twin(shared)[b"timer"] == b"v2"
