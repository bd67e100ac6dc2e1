"""Engine configuration records: store kinds, the engine config and Aerospike settings."""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

__all__ = ["AerospikeConfig", "EngineConfig", "StoreEnum"]


class StoreEnum(Enum):
    """The stores instance state can live in."""

    AEROSPIKE = "aerospike://"
    ROCKSDB = "rocksdb://"
    MEMORY = "memory://"


class EngineConfig(NamedTuple):
    """The settings the engine's faust app is created with."""

    BROKER: str
    DATADIR: str | None
    STORE: str
    APPLICATION_NAME: str
    PACKAGE_NAME: str
    KAFKA_PARTITIONS: int
    KWARGS: Any


class AerospikeConfig(NamedTuple):
    """Connection settings for the ``aerospike://`` store."""

    HOSTS: Any
    POLICIES: Any
    NAMESPACE: str
    USERNAME: str | None
    PASSWORD: str | None
    TTL: int
    KWARGS: Any
