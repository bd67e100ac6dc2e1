"""Instance ownership follows Kafka's default partitioner, so keys land where Java puts them.

A correlation index key is owned by the partition its value hashes to.
"""

from __future__ import annotations

import pytest

from dagger.core._keys import SEPARATOR, index_key
from dagger.runtime._partitioning import partition_for_index_key, partition_for_key

# Utils.murmur2 of these UTF-8 keys, from Apache Kafka's UtilsTest.testMurmur2 (signed ints).
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize("key", sorted(JAVA_MURMUR2))
@pytest.mark.parametrize("partitions", [1, 3, 8, 12, 100])
def test_the_partition_matches_kafkas_default_partitioner(key: str, partitions: int) -> None:
    # Java: Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions
    expected = (JAVA_MURMUR2[key] & 0x7FFFFFFF) % partitions

    assert partition_for_key(key, partitions) == expected


def test_known_partitions() -> None:
    assert partition_for_key("21", 8) == 4
    assert partition_for_key("foobar", 12) == 6
    assert partition_for_key("abc", 100) == 7


@pytest.mark.parametrize("key", ["", "order-1", "ü-é-中文", "x" * 1000])
def test_the_partition_is_stable_and_in_range(key: str) -> None:
    for partitions in range(1, 40):
        partition = partition_for_key(key, partitions)

        assert 0 <= partition < partitions
        assert partition_for_key(key, partitions) == partition


def test_one_partition_owns_every_key() -> None:
    assert {partition_for_key(f"key-{n}", 1) for n in range(50)} == {0}


def test_keys_spread_over_the_partitions() -> None:
    assert {partition_for_key(f"order-{n}", 8) for n in range(200)} == set(range(8))


@pytest.mark.parametrize("partitions", [0, -1])
def test_fewer_than_one_partition_is_refused(partitions: int) -> None:
    with pytest.raises(ValueError, match=f"partitions must be >= 1, got {partitions}"):
        partition_for_key("k", partitions)


@pytest.mark.parametrize("value", sorted(JAVA_MURMUR2))
def test_an_index_key_is_owned_by_the_partition_of_its_value(value: str) -> None:
    key = index_key("pizza_status", "order_id", value)

    assert partition_for_index_key(key, 12) == partition_for_key(value, 12)


def test_an_index_key_lives_with_the_instance_keyed_by_the_same_value() -> None:
    """Topic and name do not move the key: only the value is hashed."""
    partitions = {
        partition_for_index_key(index_key(topic, name, "o-42"), 8)
        for topic in ("status", "payments", "a-much-longer-topic-name")
        for name in ("order_id", "id", "x")
    }

    assert partitions == {partition_for_key("o-42", 8)}


def test_an_index_key_value_may_hold_the_separator() -> None:
    key = index_key("status", "order_id", index_key("a", "b", "c"))

    assert partition_for_index_key(key, 100) == partition_for_key(index_key("a", "b", "c"), 100)


@pytest.mark.parametrize("key", ["no-separator", f"status{SEPARATOR}order_id"])
def test_a_key_that_is_no_index_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError):
        partition_for_index_key(key, 8)


def test_an_index_key_with_fewer_than_one_partition_is_refused() -> None:
    with pytest.raises(ValueError, match="partitions must be >= 1, got 0"):
        partition_for_index_key(index_key("status", "order_id", "o-1"), 0)
