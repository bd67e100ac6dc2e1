"""The engine's table writes: the store at once, the changelog records at the end of a commit.

The producer here is a stand-in that records what it is handed (no broker runs in a unit
test); ``integration_tests/test_standby_takeover.py`` runs the same path against the
embedded broker and checks the stores, the changelogs and the persisted offsets agree.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dagger.runtime._logged_table import LoggedTable
from dagger.runtime._staging import StagingArea
from dagger.service.services import Dagger

OFFLINE_BROKER = "kafka://127.0.0.1:9"


class _Producer:
    """Hands each record a future the test resolves; can refuse the n-th record."""

    started = True

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, int | None]] = []
        self.deliveries: list[asyncio.Future[Any]] = []
        self.refuse_at: int | None = None

    async def send(self, topic: str, key: Any, value: Any, partition: Any, *_: Any) -> Any:
        if self.refuse_at == len(self.records):
            self.refuse_at = None
            raise ConnectionError("the producer is closed")
        self.records.append((topic, key, value, partition))
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivery)
        return delivery

    def deliver(self) -> None:
        for offset, delivery in enumerate(self.deliveries):
            if not delivery.done():
                delivery.set_result(type("Metadata", (), {"offset": offset})())


class _Table:
    """What the engine's table class offers :class:`LoggedTable`: its store, its partition."""

    changelog_topic_name = "app-instances-changelog"

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.partition = 0
        self.persisted: dict[int, int] = {}

    def write_store(self, key: bytes, value: bytes | None) -> int:
        if value is None:
            del self.data[key]
        else:
            self.data[key] = value
        return self.partition

    def changelog_sent(self, partition: int, offset: int) -> None:
        self.persisted[partition] = offset


@pytest.fixture
def producer() -> _Producer:
    return _Producer()


@pytest.fixture
def table() -> _Table:
    return _Table()


@pytest.fixture
def logged(producer: _Producer, table: _Table) -> LoggedTable:
    return LoggedTable(type("App", (), {"producer": producer})(), table)


async def test_writes_reach_the_store_at_once_and_the_changelog_when_sent(
    producer: _Producer, table: _Table, logged: LoggedTable
) -> None:
    logged[b"a"] = b"1"
    table.partition = 2
    logged[b"b"] = b"2"
    del logged[b"a"]

    assert table.data == {b"b": b"2"}
    assert logged[b"b"] == b"2" and b"a" not in logged and list(logged) == [b"b"]
    assert producer.records == [] and logged.queued == 3

    assert await logged.send_changelog_queue() == 3
    topic = table.changelog_topic_name
    assert producer.records == [
        (topic, b"a", b"1", 0),
        (topic, b"b", b"2", 2),
        (topic, b"a", None, 2),
    ]
    assert logged.queued == 0


async def test_the_persisted_offset_is_kept_once_per_partition_from_its_last_record(
    producer: _Producer, table: _Table, logged: LoggedTable
) -> None:
    for number, partition in enumerate((0, 1, 0, 0, 1)):
        table.partition = partition
        logged[f"k{number}".encode()] = b"v"
    await logged.send_changelog_queue()
    assert table.persisted == {}  # nothing is kept before the broker has the records

    producer.deliver()
    await asyncio.sleep(0)
    assert table.persisted == {0: 3, 1: 4}


async def test_a_refused_record_stays_queued_with_those_after_it(
    producer: _Producer, table: _Table, logged: LoggedTable
) -> None:
    for key in (b"a", b"b", b"c"):
        logged[key] = key.upper()
    producer.refuse_at = 1

    with pytest.raises(ConnectionError):
        await logged.send_changelog_queue()
    assert [record[1] for record in producer.records] == [b"a"]
    assert logged.queued == 2

    assert await logged.send_changelog_queue() == 2
    assert [record[1] for record in producer.records] == [b"a", b"b", b"c"]


async def test_a_failed_delivery_keeps_no_offset_and_is_logged(
    producer: _Producer, table: _Table, logged: LoggedTable, caplog: pytest.LogCaptureFixture
) -> None:
    logged[b"a"] = b"1"
    await logged.send_changelog_queue()
    producer.deliveries[0].set_exception(ConnectionError("broker gone"))
    await asyncio.sleep(0)
    assert table.persisted == {}
    assert "refused a changelog record of app-instances-changelog" in caplog.text


def test_deleting_a_key_that_is_not_stored_raises(logged: LoggedTable) -> None:
    with pytest.raises(KeyError):
        del logged[b"missing"]
    assert logged.queued == 0


async def test_a_staging_area_sends_the_queue_after_the_writes_and_drops_it_on_discard(
    producer: _Producer, table: _Table, logged: LoggedTable
) -> None:
    flushed: list[int] = []

    async def flush() -> None:
        flushed.append(len(producer.records))

    area = StagingArea(flush)
    staged = area.stage(logged)
    staged[b"a"] = b"1"
    staged[b"a"] = b"2"  # a key's last write of the batch is the only one stored
    assert await area.commit() == 1
    assert flushed == [0]  # the batch's sends are flushed before its writes are made
    assert [record[1:3] for record in producer.records] == [(b"a", b"2")]

    logged[b"b"] = b"3"  # written, its record queued, when the batch is abandoned
    area.discard()
    assert logged.queued == 0


def test_the_engine_writes_its_own_tables() -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    assert isinstance(engine._runtime.instances.backing, LoggedTable)


async def test_each_store_s_records_leave_right_after_its_writes_in_rank_order(
    producer: _Producer,
) -> None:
    app = type("App", (), {"producer": producer})()
    instances_table, timers_table = _Table(), _Table()
    timers_table.changelog_topic_name = "app-timers-changelog"
    area = StagingArea(_no_flush)
    instances = area.stage(LoggedTable(app, instances_table), rank=1)
    timers = area.stage(LoggedTable(app, timers_table), rank=0)
    instances[b"i"] = b"instance"
    timers[b"t"] = b"timer"

    await area.commit()
    assert [record[0] for record in producer.records] == [
        "app-timers-changelog",
        "app-instances-changelog",
    ]


async def _no_flush() -> None:
    return None
