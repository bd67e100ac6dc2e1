"""A FAKE of the Aerospike client, for running the ``aerospike://`` store where no server can.

:class:`FakeAerospikeClient` is not Aerospike. It implements only the calls
:class:`~dagger.stores._aerospike.AerospikeStore` makes (``get``, ``exists``, ``operate``
with write operations, ``remove``, ``query(...).results()``/``foreach``), with the
record generations and the ``exists``/``gen``/``key`` write policies those calls honour on a
real server, and raises the client package's own exceptions. Records live in SQLite: in
memory, or in a file shared by several processes (a worker and the test reading its state),
where each write is one transaction, so a generation check is atomic across processes.

Not modelled: TTL expiry, clusters and replication, generation wrap-around, digests (a
stand-in digest is returned), bin types other than bytes, str, int and float.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagger.stores._aerospike_config import import_client_package

__all__ = ["FakeAerospikeClient"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    namespace TEXT NOT NULL,
    set_name TEXT NOT NULL,
    user_key BLOB NOT NULL,
    key_sent INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    ttl INTEGER NOT NULL,
    bins TEXT NOT NULL,
    PRIMARY KEY (namespace, set_name, user_key)
)
"""

DEFAULT_MAX_RECORD_SIZE = 1024 * 1024
"""Aerospike's default record size limit (1 MiB)."""


class FakeAerospikeClient:
    """A FAKE Aerospike client (SQLite-backed), implementing only what the store uses.

    Examples:
        >>> from dagger.service.engineconfig import AerospikeConfig
        >>> config = AerospikeConfig(HOSTS=[], POLICIES=None, NAMESPACE="test",
        ...     USERNAME=None, PASSWORD=None, TTL=-1,
        ...     KWARGS={"client": FakeAerospikeClient()})
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_record_size: int = DEFAULT_MAX_RECORD_SIZE,
    ) -> None:
        self._aerospike = import_client_package()
        self.path = ":memory:" if path is None else os.fspath(path)
        self.max_record_size = max_record_size
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None
        )
        self._db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"FakeAerospikeClient({self.path!r})"

    # -- connection ------------------------------------------------------------------------
    def connect(self, *_: Any) -> FakeAerospikeClient:
        """Return the client (it is connected from the start)."""
        return self

    def is_connected(self) -> bool:
        """Whether :meth:`close` has not been called."""
        return self._db is not None

    def close(self) -> None:
        """Close the SQLite connection."""
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- record calls ----------------------------------------------------------------------
    def get(self, key: tuple[Any, ...], policy: Mapping[str, Any] | None = None) -> Any:
        """Return ``(key, meta, bins)``; raise RecordNotFound when the record does not exist."""
        row = self._row(key)
        if row is None:
            raise self._error("RecordNotFound", 2, key)
        generation, ttl, bins = row
        return self._key_tuple(key), {"gen": generation, "ttl": ttl}, _decode_bins(bins)

    def exists(self, key: tuple[Any, ...], policy: Mapping[str, Any] | None = None) -> Any:
        """Return ``(key, meta)``, with ``meta`` None when the record does not exist."""
        row = self._row(key)
        if row is None:
            return self._key_tuple(key), None
        return self._key_tuple(key), {"gen": row[0], "ttl": row[1]}

    def operate(
        self,
        key: tuple[Any, ...],
        operations: list[Mapping[str, Any]],
        meta: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> Any:
        """Apply write operations under the ``exists``, ``gen`` and ``key`` policies."""
        aerospike = self._aerospike
        writes: dict[str, Any] = {}
        for operation in operations:
            if operation.get("op") != aerospike.OPERATOR_WRITE:
                raise NotImplementedError(
                    "FakeAerospikeClient.operate implements write operations only"
                )
            writes[operation["bin"]] = operation["val"]
        meta = meta or {}
        policy = policy or {}
        exists = policy.get("exists", aerospike.POLICY_EXISTS_IGNORE)
        with self._transaction() as db:
            row = self._row(key, db)
            if row is None:
                if exists in (aerospike.POLICY_EXISTS_UPDATE, aerospike.POLICY_EXISTS_REPLACE):
                    raise self._error("RecordNotFound", 2, key)
                bins: dict[str, Any] = {}
                generation = 0
            else:
                if exists == aerospike.POLICY_EXISTS_CREATE:
                    raise self._error("RecordExistsError", 5, key)
                generation = row[0]
                self._check_generation(key, generation, meta, policy)
                replace = exists in (
                    aerospike.POLICY_EXISTS_REPLACE,
                    aerospike.POLICY_EXISTS_CREATE_OR_REPLACE,
                )
                bins = {} if replace else _decode_bins(row[2])
            bins.update(writes)
            if _size(bins) > self.max_record_size:
                raise self._error("RecordTooBig", 13, key)
            encoded = _encode_bins(bins)
            ttl = int(meta.get("ttl", 0))
            key_policy = policy.get("key", aerospike.POLICY_KEY_DIGEST)
            key_sent = int(key_policy == aerospike.POLICY_KEY_SEND)
            db.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*_identity(key), key_sent, generation + 1, ttl, encoded),
            )
        return self._key_tuple(key), {"gen": generation + 1, "ttl": ttl}, {}

    def remove(
        self,
        key: tuple[Any, ...],
        meta: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        """Delete the record; honour a ``gen`` policy; raise RecordNotFound when missing."""
        with self._transaction() as db:
            row = self._row(key, db)
            if row is None:
                raise self._error("RecordNotFound", 2, key)
            self._check_generation(key, row[0], meta or {}, policy or {})
            db.execute(
                "DELETE FROM records WHERE namespace = ? AND set_name = ? AND user_key = ?",
                _identity(key),
            )

    def query(self, namespace: str, set: str | None = None) -> FakeQuery:
        """A scan of one set (``set`` None: the records in no set)."""
        return FakeQuery(self, namespace, set or "")

    # -- helpers ---------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise self._error("ClusterError", 11, None, "FakeAerospikeClient is closed")
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _row(
        self, key: tuple[Any, ...], db: sqlite3.Connection | None = None
    ) -> tuple[int, int, str] | None:
        row = (
            (db or self._connection())
            .execute(
                "SELECT generation, ttl, bins FROM records "
                "WHERE namespace = ? AND set_name = ? AND user_key = ?",
                _identity(key),
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), int(row[1]), str(row[2]))

    def _check_generation(
        self,
        key: tuple[Any, ...],
        generation: int,
        meta: Mapping[str, Any],
        policy: Mapping[str, Any],
    ) -> None:
        aerospike = self._aerospike
        gen_policy = policy.get("gen", aerospike.POLICY_GEN_IGNORE)
        expected = meta.get("gen")
        if gen_policy == aerospike.POLICY_GEN_EQ and expected != generation:
            raise self._error("RecordGenerationError", 3, key)
        if gen_policy == aerospike.POLICY_GEN_GT and not (expected or 0) > generation:
            raise self._error("RecordGenerationError", 3, key)

    def _key_tuple(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        return (key[0], key[1], key[2], _digest(_identity(key)))

    def _scan(self, namespace: str, set_name: str) -> list[Any]:
        rows = (
            self._connection()
            .execute(
                "SELECT user_key, key_sent, generation, ttl, bins FROM records "
                "WHERE namespace = ? AND set_name = ? ORDER BY user_key",
                (namespace, set_name),
            )
            .fetchall()
        )
        records = []
        for stored_key, key_sent, generation, ttl, bins in rows:
            user_key = _user_key(stored_key) if key_sent else None
            digest = _digest((namespace, set_name, stored_key))
            key = (namespace, set_name or None, user_key, digest)
            records.append((key, {"gen": generation, "ttl": ttl}, _decode_bins(bins)))
        return records

    def _error(self, name: str, code: int, key: Any, message: str | None = None) -> Exception:
        error_class = getattr(self._aerospike.exception, name)
        text = message or f"FakeAerospikeClient: {name} for key {key!r}"
        error: Exception = error_class(code, text, __file__, 0, False)
        return error


class FakeQuery:
    """The scan :meth:`FakeAerospikeClient.query` returns."""

    def __init__(self, client: FakeAerospikeClient, namespace: str, set_name: str) -> None:
        self._client = client
        self._namespace = namespace
        self._set_name = set_name

    def results(self, policy: Mapping[str, Any] | None = None, options: Any = None) -> list[Any]:
        """Every record of the set as ``(key, meta, bins)``."""
        return self._client._scan(self._namespace, self._set_name)

    def foreach(
        self,
        callback: Callable[[Any], Any],
        policy: Mapping[str, Any] | None = None,
        options: Any = None,
    ) -> None:
        """Call ``callback`` with each record; stop when it returns False."""
        for record in self.results():
            if callback(record) is False:
                return


def _identity(key: tuple[Any, ...]) -> tuple[str, str, bytes]:
    """(namespace, set, typed key): like Aerospike, "a" and b"a" are different records."""
    namespace, set_name, user_key = key[0], key[1] or "", key[2]
    if isinstance(user_key, (bytes, bytearray)):
        typed = b"b" + bytes(user_key)
    elif isinstance(user_key, str):
        typed = b"s" + user_key.encode()
    elif isinstance(user_key, int) and not isinstance(user_key, bool):
        typed = b"i" + str(user_key).encode()
    else:
        raise TypeError(f"FakeAerospikeClient: unsupported key {user_key!r}")
    return namespace, set_name, typed


def _user_key(typed: bytes) -> Any:
    kind, body = typed[:1], typed[1:]
    if kind == b"b":
        return bytearray(body)
    if kind == b"s":
        return body.decode()
    return int(body)


def _digest(identity: tuple[str, str, bytes]) -> bytearray:
    """A stand-in for Aerospike's RIPEMD-160 digest of (set, typed key)."""
    _, set_name, typed = identity
    return bytearray(hashlib.sha1(set_name.encode() + b"\0" + typed).digest())


def _size(bins: Mapping[str, Any]) -> int:
    return sum(
        len(name) + (len(value) if isinstance(value, (bytes, bytearray, str)) else 8)
        for name, value in bins.items()
    )


def _encode_bins(bins: Mapping[str, Any]) -> str:
    encoded: dict[str, Any] = {}
    for name, value in bins.items():
        if isinstance(value, (bytes, bytearray)):
            encoded[name] = {"bytes": base64.b64encode(bytes(value)).decode()}
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            encoded[name] = {"value": value}
        else:
            raise NotImplementedError(f"FakeAerospikeClient: unsupported bin value {value!r}")
    return json.dumps(encoded, sort_keys=True)


def _decode_bins(raw: str) -> dict[str, Any]:
    return {
        name: bytearray(base64.b64decode(value["bytes"])) if "bytes" in value else value["value"]
        for name, value in json.loads(raw).items()
    }
