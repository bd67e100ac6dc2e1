"""Engine configuration records: store kinds, the engine config and Aerospike settings."""

from __future__ import annotations

from typing import Any, NamedTuple

from dagger.stores._kinds import AerospikeConfig, StoreEnum

__all__ = ["AerospikeConfig", "EngineConfig", "StoreEnum"]


class EngineConfig(NamedTuple):
    """The settings the engine's faust app is created with."""

    BROKER: str
    DATADIR: str | None
    STORE: str
    APPLICATION_NAME: str
    PACKAGE_NAME: str
    KAFKA_PARTITIONS: int
    KWARGS: Any
