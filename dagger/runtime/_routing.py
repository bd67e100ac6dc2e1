"""Which partition of the engine topic owns an instance."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for_key(key: str, partitions: int) -> int:
    """Return the partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions
