"""The ``aerospike://`` store beyond the shared contract: errors, ownership, the fake itself."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import aerospike
import pytest
from aerospike import exception as aerospike_errors

from dagger.exceptions.exceptions import StaleWriteError, StoreError
from dagger.runtime._timers import TimerIndex
from dagger.service.engineconfig import AerospikeConfig
from dagger.service.services import Dagger
from dagger.stores._aerospike import AerospikeConnection, AerospikeStore
from dagger.stores._aerospike_config import resolve_aerospike
from dagger.testing import FakeAerospikeClient
from tests.unit._workflows import OFFLINE_BROKER
from tests.unit.stores._backends import AEROSPIKE_KIND, aerospike_store, twin


@pytest.fixture(params=[AEROSPIKE_KIND])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AerospikeStore]:
    with aerospike_store(tmp_path) as opened:
        yield opened


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_an_unreachable_cluster_is_a_store_error_naming_the_hosts() -> None:
    """Runs the real client package against a loopback port nobody listens on."""
    port = _free_port()
    config = AerospikeConfig(
        HOSTS=[("127.0.0.1", port)],
        POLICIES={"timeout": 200},
        NAMESPACE="dagger",
        USERNAME=None,
        PASSWORD=None,
        TTL=-1,
        KWARGS={},
    )
    connection = AerospikeConnection(resolve_aerospike(config, "app"))
    store = connection.store("dagger_instances")

    with pytest.raises(
        StoreError, match=rf"cannot connect to Aerospike at \[\('127.0.0.1', {port}\)\]"
    ):
        store.get(b"k")


def test_the_engine_keeps_each_table_in_its_own_set() -> None:
    client = FakeAerospikeClient()
    engine = Dagger(
        broker=OFFLINE_BROKER,
        store="aerospike://",
        application_name="shop",
        aerospike_config=AerospikeConfig(
            HOSTS=[],
            POLICIES=None,
            NAMESPACE="dagger",
            USERNAME=None,
            PASSWORD=None,
            TTL=-1,
            KWARGS={"client": client},
        ),
    )
    runtime = engine._runtime
    staged = [runtime.owner.instances, runtime.keys.index, runtime.keys.held, runtime.timers._store]
    stores = [store.backing for store in staged]  # type: ignore[attr-defined]

    assert all(isinstance(store, AerospikeStore) for store in stores)
    assert [store.set_name for store in stores] == [
        "shop_dagger_instances",
        "shop_dagger_correlation",
        "shop_dagger_early_messages",
        "shop_dagger_timers",
    ]
    key = ("dagger", "shop_dagger_instances", bytearray(b"id"))
    runtime.owner.instances[b"id"] = b"{}"
    assert client.exists(key)[1] is None  # staged until the batch commits
    assert staged[0].commit() == 1  # type: ignore[attr-defined]
    assert client.get(key)[2] == {"v": bytearray(b"{}")}
    client.close()


def test_a_new_owner_moves_a_timer_the_old_owner_stored(shared: AerospikeStore) -> None:
    """The timer index reads a timer it does not know before it writes it.

    The new owner handles an event (an interval's next try, say) before its first tick
    has loaded the timers: its write must replace the previous owner's record, not fail
    as if another worker had created it.
    """
    old_owner = TimerIndex(shared)
    old_owner.schedule(3, "instance-1", "task-1", due=100.0)
    new_owner = TimerIndex(twin(shared))

    new_owner.schedule(3, "instance-1", "task-1", due=200.0)

    with pytest.raises(StaleWriteError):
        old_owner.schedule(3, "instance-1", "task-1", due=150.0)
    assert new_owner.load([3]) == 1
    assert new_owner.next_due(3) == 200.0


def test_a_value_over_the_record_limit_is_a_store_error() -> None:
    """Against FakeAerospikeClient with a 1 KiB limit (a server's is its namespace config)."""
    client = FakeAerospikeClient(max_record_size=1024)
    store = AerospikeStore(lambda: client, namespace="dagger", set_name="s", ttl=-1)

    with pytest.raises(StoreError, match="larger than the namespace's record size limit"):
        store[b"k"] = b"x" * 2048

    assert b"k" not in store
    client.close()


def test_other_client_errors_become_store_errors() -> None:
    client = FakeAerospikeClient()
    store = AerospikeStore(lambda: client, namespace="dagger", set_name="s", ttl=-1)
    client.close()

    with pytest.raises(StoreError, match="read of b'k' failed"):
        store.get(b"k")
    with pytest.raises(StoreError, match="scan failed"):
        list(store)


def test_keys_and_values_must_be_bytes(shared: AerospikeStore) -> None:
    with pytest.raises(TypeError, match="stores bytes values"):
        shared[b"k"] = "text"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="has bytes keys"):
        shared["k"] = b"v"  # type: ignore[index]
    assert "k" not in shared


def test_a_ttl_of_minus_one_is_written_as_never_expire() -> None:
    client = FakeAerospikeClient()
    store = AerospikeStore(lambda: client, namespace="dagger", set_name="s", ttl=-1)

    store[b"k"] = b"v"

    _, meta, _ = client.get(("dagger", "s", bytearray(b"k")))
    assert meta["ttl"] == aerospike.TTL_NEVER_EXPIRE
    client.close()


# -- the fake ----------------------------------------------------------------------------------


def test_the_fake_shares_records_between_clients_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "fake.sqlite"
    worker, reader = FakeAerospikeClient(path), FakeAerospikeClient(path)
    written = AerospikeStore(lambda: worker, namespace="dagger", set_name="s", ttl=-1)
    read = AerospikeStore(lambda: reader, namespace="dagger", set_name="s", ttl=-1)

    written[b"k"] = b"v1"
    read[b"k"] = b"v2" if read[b"k"] == b"v1" else b"unexpected"

    with pytest.raises(StaleWriteError):
        written[b"k"] = b"v3"
    assert dict(read.items()) == {b"k": b"v2"}
    worker.close()
    reader.close()


def test_the_fake_enforces_policies_with_the_client_packages_errors() -> None:
    client = FakeAerospikeClient()
    key = ("dagger", "s", "k")
    write = [{"op": aerospike.OPERATOR_WRITE, "bin": "b", "val": 1}]

    assert client.operate(key, write)[1]["gen"] == 1
    assert client.operate(key, write, {"gen": 1}, {"gen": aerospike.POLICY_GEN_EQ})[1]["gen"] == 2
    with pytest.raises(aerospike_errors.RecordGenerationError):
        client.operate(key, write, {"gen": 1}, {"gen": aerospike.POLICY_GEN_EQ})
    with pytest.raises(aerospike_errors.RecordExistsError):
        client.operate(key, write, None, {"exists": aerospike.POLICY_EXISTS_CREATE})
    with pytest.raises(aerospike_errors.RecordNotFound):
        client.operate(
            ("dagger", "s", "other"), write, None, {"exists": aerospike.POLICY_EXISTS_REPLACE}
        )
    with pytest.raises(aerospike_errors.RecordGenerationError):
        client.remove(key, {"gen": 1}, {"gen": aerospike.POLICY_GEN_EQ})
    client.remove(key, {"gen": 2}, {"gen": aerospike.POLICY_GEN_EQ})
    with pytest.raises(aerospike_errors.RecordNotFound):
        client.get(key)
    assert client.exists(key)[1] is None
    client.close()


def test_a_scan_of_the_fake_has_no_user_key_unless_it_was_sent() -> None:
    client = FakeAerospikeClient()
    write = [{"op": aerospike.OPERATOR_WRITE, "bin": "v", "val": bytearray(b"x")}]
    client.operate(("dagger", "s", bytearray(b"digest-only")), write)
    client.operate(
        ("dagger", "s", bytearray(b"sent")), write, None, {"key": aerospike.POLICY_KEY_SEND}
    )
    store = AerospikeStore(lambda: client, namespace="dagger", set_name="s", ttl=-1)

    scanned = client.query("dagger", "s").results()

    assert sorted(str(key[2]) for key, _, _ in scanned) == ["None", "bytearray(b'sent')"]
    assert list(store) == [b"sent"]  # a record the store cannot name is left out
    client.close()
