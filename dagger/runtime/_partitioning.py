"""Which partition of the engine topic owns an instance, or a correlation index key."""

from __future__ import annotations

from aiokafka.partitioner import murmur2

from dagger.core._keys import split_index_key


def partition_for_index_key(index_key: str, partitions: int) -> int:
    """Return the partition owning a correlation index key: the one its value hashes to.

    An instance created with the same value as its partition key (an order keyed by
    ``order_id`` whose listener waits for that ``order_id``) lives on the same partition,
    so its owner keeps the index entry itself, without index events.
    """
    return partition_for_key(split_index_key(index_key)[2], partitions)


def partition_for_key(key: str, partitions: int) -> int:
    """Return the partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions
