"""The stores an engine can be configured with, and the ``aerospike://`` connection record.

These are the original engine's public records; ``dagger.service.engineconfig`` re-exports
them under their original import path. They live here, beside the stores that read them,
so that a store imports nothing from the service layer above it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, NamedTuple

__all__ = ["AerospikeConfig", "StoreEnum"]


class StoreEnum(Enum):
    """The stores instance state can live in."""

    AEROSPIKE = "aerospike://"
    ROCKSDB = "rocksdb://"
    MEMORY = "memory://"


class AerospikeConfig(NamedTuple):
    """Connection settings for the ``aerospike://`` store."""

    HOSTS: Any
    POLICIES: Any
    NAMESPACE: str
    USERNAME: str | None
    PASSWORD: str | None
    TTL: int
    KWARGS: Any
