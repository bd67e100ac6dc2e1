"""An Aerospike set as the ``MutableMapping[bytes, bytes]`` the engine's owners write.

Each engine table is one set of the configured namespace; a record holds one value in
the bin ``v`` and is written with its user key, so a scan returns the keys.

Only the worker owning a record's partition writes it, and every write checks that the
record is still as that worker last saw it. The store remembers the generation it read
(or wrote, or saw in a scan) per key: a known key is written with "replace only" and
"generation equal", a key it saw absent (or never saw) with "create only", and a delete
carries the generation too. A worker that lost its partition and writes late finds a newer
generation (or an existing record) and gets :class:`~dagger.exceptions.exceptions.StaleWriteError`
instead of overwriting the new owner's state.

The client is synchronous, like the faust stores: each operation is one round trip to the
cluster. Iteration (``keys``, ``items``, ``len``) is a scan of the whole set.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, MutableMapping, ValuesView
from types import ModuleType
from typing import Any

from dagger.exceptions.exceptions import StaleWriteError, StoreError
from dagger.stores._aerospike_config import AerospikeSettings, import_client_package

BIN = "v"
"""The bin holding a record's value."""

Record = tuple[bytes, int, bytes]
"""A scanned record: (key, generation, value)."""


class AerospikeConnection:
    """The client the stores of one engine share, created and connected on first use.

    Creating it lazily lets a process that only sends (a web app calling
    ``create_instance``) build the engine without reaching the cluster.
    """

    def __init__(self, settings: AerospikeSettings) -> None:
        self.settings = settings
        self._client: Any = settings.client

    def client(self) -> Any:
        """Return the client, connecting it first if needed."""
        if self._client is None:
            aerospike = import_client_package()
            try:
                client = aerospike.client(dict(self.settings.client_config))
                if not client.is_connected():
                    client.connect()
            except aerospike.exception.AerospikeError as exc:
                raise StoreError(
                    f"cannot connect to Aerospike at {list(self.settings.hosts)}: {exc}"
                ) from exc
            self._client = client
        return self._client

    def store(self, table: str) -> AerospikeStore:
        """The store of ``table``: its own set in the namespace."""
        return AerospikeStore(
            self.client,
            namespace=self.settings.namespace,
            set_name=self.settings.set_name(table),
            ttl=self.settings.ttl,
        )


class AerospikeStore(MutableMapping[bytes, bytes]):
    """One set of an Aerospike namespace as a mapping of bytes to bytes."""

    def __init__(
        self, client: Callable[[], Any], *, namespace: str, set_name: str, ttl: int
    ) -> None:
        aerospike = import_client_package()
        from aerospike_helpers.operations import operations

        self._client = client
        self.namespace = namespace
        self.set_name = set_name
        self._as: ModuleType = aerospike
        self._errors: Any = aerospike.exception
        self._write_op = operations.write
        self._ttl = aerospike.TTL_NEVER_EXPIRE if ttl == -1 else ttl
        self._generations: dict[bytes, int] = {}

    def __repr__(self) -> str:
        return f"AerospikeStore({self.namespace}.{self.set_name})"

    # -- reads -----------------------------------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        record = self._read(key, self._client().get)
        if record is None:
            raise KeyError(key)
        _, _, bins = record
        return bytes(bins[BIN])

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (bytes, bytearray)):
            return False
        return self._generation(bytes(key)) is not None

    def __iter__(self) -> Iterator[bytes]:
        return iter([key for key, _, _ in self._scan()])

    def __len__(self) -> int:
        return len(self._scan())

    def items(self) -> ItemsView[bytes, bytes]:
        """The (key, value) pairs of the set, read by one scan."""
        return _ScannedItems(self)

    def values(self) -> ValuesView[bytes]:
        """The values of the set, read by one scan."""
        return _ScannedValues(self)

    # -- writes ----------------------------------------------------------------------------
    def __setitem__(self, key: bytes, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"{self!r} stores bytes values, got {type(value).__name__}")
        aerospike = self._as
        expected = self._generations.get(key)
        meta: dict[str, Any] = {"ttl": self._ttl}
        policy: dict[str, Any] = {"key": aerospike.POLICY_KEY_SEND}
        if expected is None:
            policy["exists"] = aerospike.POLICY_EXISTS_CREATE
        else:
            policy["exists"] = aerospike.POLICY_EXISTS_REPLACE
            policy["gen"] = aerospike.POLICY_GEN_EQ
            meta["gen"] = expected
        operation = self._write_op(BIN, bytearray(value))
        errors = self._errors
        try:
            _, written, _ = self._client().operate(self._key(key), [operation], meta, policy)
        except (errors.RecordExistsError, errors.RecordGenerationError, errors.RecordNotFound):
            self._generations.pop(key, None)
            raise self._stale("write", key, expected) from None
        except errors.RecordTooBig as exc:
            raise StoreError(
                f"{self!r}: the value of {key!r} ({len(value)} bytes) is larger than the "
                "namespace's record size limit",
                store=repr(self),
                key=key,
            ) from exc
        except errors.AerospikeError as exc:
            raise self._failed("write", key, exc) from exc
        self._generations[key] = written["gen"]

    def __delitem__(self, key: bytes) -> None:
        expected = self._generations.get(key)
        if expected is None:
            expected = self._generation(key)
            if expected is None:
                raise KeyError(key)
        errors = self._errors
        try:
            self._client().remove(
                self._key(key), {"gen": expected}, {"gen": self._as.POLICY_GEN_EQ}
            )
        except (errors.RecordGenerationError, errors.RecordNotFound):
            raise self._stale("delete", key, expected) from None
        except errors.AerospikeError as exc:
            raise self._failed("delete", key, exc) from exc
        finally:
            self._generations.pop(key, None)

    # -- helpers ---------------------------------------------------------------------------
    def _key(self, key: bytes) -> tuple[str, str, bytearray]:
        if not isinstance(key, (bytes, bytearray)):
            raise TypeError(f"{self!r} has bytes keys, got {type(key).__name__}")
        return (self.namespace, self.set_name, bytearray(key))

    def _generation(self, key: bytes) -> int | None:
        """The record's current generation (remembered), or None when it does not exist."""
        record = self._read(key, self._client().exists)
        if record is None:
            return None
        generation: int = record[1]["gen"]
        return generation

    def _read(self, key: bytes, operation: Callable[[Any], Any]) -> Any:
        """Run a client read (``get`` or ``exists``) of ``key``; None when there is no record.

        The record's generation is remembered for the owner's next write, or forgotten
        when the record is gone.
        """
        try:
            record = operation(self._key(key))
        except self._errors.RecordNotFound:
            record = None
        except self._errors.AerospikeError as exc:
            raise self._failed("read", key, exc) from exc
        meta = None if record is None else record[1]
        if meta is None:
            self._generations.pop(key, None)
            return None
        self._generations[key] = meta["gen"]
        return record

    def _scan(self) -> list[Record]:
        """Every record of the set, with its generation remembered."""
        try:
            results = self._client().query(self.namespace, self.set_name).results()
        except self._errors.AerospikeError as exc:
            raise StoreError(f"{self!r}: scan failed: {exc}", store=repr(self)) from exc
        records: list[Record] = []
        for (_, _, user_key, _), meta, bins in results:
            if user_key is None or bins is None or BIN not in bins:
                continue  # not written by this store (no user key sent, or another bin)
            key = bytes(user_key)
            self._generations[key] = meta["gen"]
            records.append((key, meta["gen"], bytes(bins[BIN])))
        return records

    def _stale(self, operation: str, key: bytes, expected: int | None) -> StaleWriteError:
        seen = "absent" if expected is None else f"at generation {expected}"
        return StaleWriteError(
            f"{self!r}: {operation} of {key!r} refused: another worker changed the record "
            f"since this worker saw it {seen}; this worker no longer owns its partition, and "
            "the new owner applies the event",
            store=repr(self),
            key=key,
            expected_generation=expected,
        )

    def _failed(self, operation: str, key: bytes, exc: Exception) -> StoreError:
        return StoreError(
            f"{self!r}: {operation} of {key!r} failed: {exc}", store=repr(self), key=key
        )


class _ScannedItems(ItemsView[bytes, bytes]):
    _mapping: AerospikeStore

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter([(key, value) for key, _, value in self._mapping._scan()])


class _ScannedValues(ValuesView[bytes]):
    _mapping: AerospikeStore

    def __iter__(self) -> Iterator[bytes]:
        return iter([value for _, _, value in self._mapping._scan()])
