"""What ``dagger._faust_internals`` relies on is there, in the pinned versions.

A faust, aiokafka or mode-streaming upgrade that renames or reshapes one of the private
parts the engine uses fails here, by name, rather than as a lost record in production.
The Tansu correction's use of aiokafka's Fetcher (``dagger.broker._tansu_compat``) is
checked here too.
"""

from __future__ import annotations

import contextvars
import gc
import importlib.metadata
import inspect
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiokafka.consumer.consumer as aiokafka_consumer
import faust
import faust.streams
import pytest
from aiokafka.consumer.fetcher import Fetcher, OffsetResetStrategy
from aiokafka.protocol.fetch import FetchRequest
from faust.assignor.partition_assignor import PartitionAssignor
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.tables.table import Table
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.utils.queues import ThrowableQueue

from dagger import _faust_internals as internals
from dagger._faust_internals._recovery import _ChangelogContinuity
from dagger.broker import _tansu_compat
from dagger.service.services import Dagger
from tests.unit._workflows import OFFLINE_BROKER

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _assigns(cls: type, attribute: str) -> bool:
    """Whether ``cls.__init__`` sets ``self.<attribute>``."""
    return re.search(rf"self\.{attribute}\s*[:=]", inspect.getsource(cls.__init__)) is not None


@pytest.mark.parametrize("distribution", sorted(internals.CHECKED_AGAINST))
def test_the_installed_versions_are_the_ones_checked(distribution: str) -> None:
    installed = importlib.metadata.version(distribution)

    assert installed == internals.CHECKED_AGAINST[distribution], (
        f"{distribution} {installed} is installed; dagger._faust_internals was "
        f"checked against {internals.CHECKED_AGAINST[distribution]}: check each use again"
    )


@pytest.mark.parametrize("distribution", sorted(internals.CHECKED_AGAINST))
def test_pyproject_pins_the_versions_checked(distribution: str) -> None:
    pins = PYPROJECT.read_text()

    assert f'"{distribution}=={internals.CHECKED_AGAINST[distribution]}"' in pins


def test_the_module_docstring_names_the_versions_checked() -> None:
    text = " ".join((internals.__doc__ or "").split())

    expected = (
        f"faust-streaming {internals.CHECKED_AGAINST['faust-streaming']} / aiokafka "
        f"{internals.CHECKED_AGAINST['aiokafka']} / mode-streaming "
        f"{internals.CHECKED_AGAINST['mode-streaming']}"
    )
    assert expected in text


def test_each_function_says_why_and_what_it_was_checked_against() -> None:
    for name in internals.__all__:
        value = getattr(internals, name)
        if not callable(value) or name == "current_event":
            continue
        doc = " ".join((inspect.getdoc(value) or "").split())
        assert "Why" in doc, name
        assert "Checked against faust-streaming 0.15.3" in doc, name


def test_the_current_event_is_a_context_variable_of_weak_references() -> None:
    assert isinstance(faust.streams._current_event, contextvars.ContextVar)
    assert faust.streams.current_event() is None

    class Event:
        pass

    event = Event()
    with internals.as_current_event(event):
        assert faust.streams.current_event() is event
    assert faust.streams.current_event() is None


def test_the_assignor_knows_what_is_owned_and_who_the_members_are() -> None:
    assert _parameters(PartitionAssignor.assigned_actives) == ["self"]
    assert _parameters(PartitionAssignor.tables_metadata) == ["self"]
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    app = engine.faust_app

    assert internals.owned_partitions(app, engine.settings.tasks_topic) == frozenset()
    assert internals.group_member_urls(app) == []


def test_the_app_counts_rebalances_and_says_when_it_recovers() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app

    assert internals.rebalance_generation(app) == 0
    assert internals.partitions_settling(app) is False
    assert internals.recovery_completed(app) is False
    assert _assigns(Recovery, "completed")


def test_a_stream_has_its_channel_queue() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app
    stream = app.stream(app.topic("probe"))

    assert internals.fetched_queue(stream).empty()


def test_the_worker_has_a_spinner_to_turn_off() -> None:
    assert "spinner" in faust.Worker.__annotations__
    assert _assigns(faust.Worker, "spinner")


def test_the_consumer_internals_the_corrections_override_are_there() -> None:
    thread = faust_aiokafka.AIOKafkaConsumerThread
    assert _parameters(thread._create_worker_consumer) == ["self", "transport"]
    assert _parameters(thread._ensure_consumer) == ["self"]
    assert _parameters(thread.seek_to_committed) == ["self"]
    assert callable(thread.call_thread)
    consumer = faust_aiokafka.Consumer
    assert _parameters(consumer._new_consumer_thread) == ["self"]
    assert _parameters(consumer.getmany) == ["self", "timeout"]
    assert _parameters(consumer.perform_seek) == ["self"]
    assert _parameters(consumer.stop_flow) == ["self"]
    assert faust_aiokafka.Transport.Consumer is faust_aiokafka.Consumer
    assert _assigns(aiokafka_consumer.AIOKafkaConsumer, "_fetch_max_wait_ms")
    assert _parameters(faust.App._new_transport) == ["self"]
    assert _parameters(faust.App.on_webserver_init) == ["self", "web"]


def test_the_engine_app_uses_the_corrected_consumer() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app

    assert isinstance(app, internals.EngineFaustApp)
    assert app.transport.Consumer.__module__.startswith(internals.__name__ + ".")
    assert callable(app.topics.acks_enabled_for)


def test_the_fetcher_internals_the_tansu_correction_wraps_are_there() -> None:
    original = _tansu_compat._original_proc_offset_request
    assert _parameters(original) == ["self", "node_id", "topic_data"]
    assert inspect.iscoroutinefunction(original)
    assert _assigns(Fetcher, "_isolation_level")
    assert _assigns(Fetcher, "_client")
    assert OffsetResetStrategy.LATEST == -1
    assert _parameters(FetchRequest.__init__)[:6] == [
        "self",
        "max_wait_time",
        "min_bytes",
        "max_bytes",
        "isolation_level",
        "topics",
    ]


class _Sample(faust.Record, serializer="json"):
    """A record of every shape the instance codec meets: required, default, optional."""

    name: str
    count: int = 3
    note: str | None = None


def test_record_options_hold_what_the_codec_reads() -> None:
    assert set(internals.record_fields(_Sample)) == {"name", "count", "note"}
    assert dict(internals.record_defaults(_Sample)) == {"count": 3, "note": None}
    assert internals.record_optional_fields(_Sample) == {"count", "note"}
    assert internals.record_validates(_Sample) is False
    assert internals.plain_record_fields(_Sample) == {"name", "count", "note"}


def test_a_bare_record_reads_like_one_made_by_init() -> None:
    record, values = internals.bare_record(_Sample)
    values.update({"name": "a", "count": 5, "note": None})

    assert (record.name, record.count, record.note) == ("a", 5, None)
    assert record == _Sample(name="a", count=5)
    assert record.asdict() == {"name": "a", "count": 5, "note": None}


def test_the_codec_registry_is_a_dict_of_names() -> None:
    assert internals.codec_registered("json") is True
    assert internals.codec_registered("no-such-codec") is False


def test_the_consumer_client_can_ask_the_broker_for_its_cluster_id() -> None:
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.metadata import MetadataRequest, MetadataResponse_v2

    assert _assigns(aiokafka_consumer.AIOKafkaConsumer, "_client")
    assert _parameters(AIOKafkaClient.get_random_node) == ["self"]
    assert _parameters(AIOKafkaClient.send)[:3] == ["self", "node_id", "request"]
    assert _parameters(MetadataRequest.__init__)[:2] == ["self", "topics"]
    assert "cluster_id" in MetadataResponse_v2.SCHEMA.names
    assert _parameters(faust_aiokafka.AIOKafkaConsumerThread.on_start) == ["self"]


class _Client:
    def __init__(self, response: Any, node: int | None = 1) -> None:
        self.response, self.node, self.sent = response, node, []

    def get_random_node(self) -> int | None:
        return self.node

    async def send(self, node_id: int, request: Any) -> Any:
        self.sent.append((node_id, request))
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


class _Response:
    cluster_id = "dagger-0123"


class _Consumer:
    def __init__(self, client: _Client) -> None:
        self._client = client


async def test_the_cluster_id_is_read_with_one_metadata_request() -> None:
    client = _Client(_Response())

    assert await internals.broker_cluster_id(_Consumer(client)) == "dagger-0123"
    assert [node for node, _ in client.sent] == [1]


@pytest.mark.parametrize(
    "client", [_Client(object()), _Client(OSError("down")), _Client(_Response(), node=None)]
)
async def test_no_cluster_id_when_the_broker_does_not_say(client: _Client) -> None:
    assert await internals.broker_cluster_id(_Consumer(client)) is None


def test_the_engine_app_tells_the_tansu_correction_who_the_broker_is() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app

    assert _tansu_compat.recognise_broker in app.broker_identified


def test_faust_says_its_producer_buffer_is_full_in_the_words_matched() -> None:
    import logging

    from faust.transport.producer import ProducerBuffer

    assert 'logger.warning(f"producer buffer full size {self.size}")' in inspect.getsource(
        ProducerBuffer.wait_until_ebb
    )
    assert ProducerBuffer.__module__ == internals.PRODUCER_BUFFER_LOGGER
    record = logging.LogRecord(
        internals.PRODUCER_BUFFER_LOGGER, logging.WARNING, __file__, 1,
        "producer buffer full size 101", None, None,
    )  # fmt: skip
    assert internals.producer_buffer_full_size(record) == 101
    record.msg = "producer flush took 0.1"
    assert internals.producer_buffer_full_size(record) is None


# -- the standby and takeover recovery (corrections 4 and 5) ----------------------------
CHANGELOG = TP("app-dagger_instances-changelog", 2)


def test_the_recovery_internals_the_corrections_override_are_there() -> None:
    assert _parameters(Recovery.on_recovery_completed) == ["self", "generation_id"]
    assert _parameters(Recovery._seek_offsets) == ["self", "consumer", "tps", "offsets", "title"]
    assert _assigns(Recovery, "standby_tps") and _assigns(Recovery, "standby_offsets")
    slurp = inspect.getsource(Recovery._slurp_changelogs.fun)  # a mode ServiceTask
    # A record is taken only above the partition's offset, and the table hears of it.
    assert "if seen_offset is None or offset > seen_offset:" in slurp
    assert "await table.on_changelog_event(event)" in slurp
    assert "self.standby_tps = set()" in inspect.getsource(Recovery.__init__)
    assert TableManager._recovery is None and _assigns(TableManager, "_changelog_queue")
    assert "clear_on_resume=True" in inspect.getsource(TableManager.changelog_queue.fget)
    assert _parameters(Table.on_changelog_event) == ["self", "event"]
    assert _parameters(Table.apply_changelog_batch) == ["self", "batch"]
    assert _parameters(Table._on_changelog_sent) == ["self", "fut"]
    assert "self.data.set_persisted_offset" in inspect.getsource(Table._on_changelog_sent)
    consumer = faust_aiokafka.Consumer
    assert _parameters(consumer.seek_wait) == ["self", "partitions"]
    assert _parameters(consumer.pause_partitions) == ["self", "tps"]
    assert _parameters(consumer.resume_partitions) == ["self", "tps"]
    assert _parameters(ThrowableQueue.clear) == ["self"]


def test_the_engine_app_recovers_with_the_corrected_recovery() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app

    assert type(app.tables.recovery).__module__.startswith(internals.__name__ + ".")
    assert type(app.tables.changelog_queue).__module__.startswith(internals.__name__ + ".")
    assert type(app.Table("probe", partitions=4)).__module__.startswith(internals.__name__ + ".")


class _StandbyConsumer:
    """What the recovery's end asks of the consumer, noted (a real one needs a broker)."""

    def __init__(self) -> None:
        self.paused: set[TP] = set()
        self.sought: list[dict[TP, int]] = []

    def pause_partitions(self, tps: Any) -> None:
        self.paused |= set(tps)

    def resume_partitions(self, tps: Any) -> None:
        self.paused -= set(tps)

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.sought.append(dict(partitions))


@pytest.mark.parametrize("rebalanced_again", [False, True])
async def test_standby_records_dropped_at_the_end_of_a_recovery_are_read_again(
    monkeypatch: pytest.MonkeyPatch, rebalanced_again: bool
) -> None:
    # faust resumes the standby partitions, then ends the recovery: it stops the flow and
    # clears the changelog queue, dropping the standby records on their way (here 5..7),
    # while the consumer hands out the ones fetched after them (8, 9). faust's own end of
    # recovery needs a running consumer and broker, so it is stood in for: it hands the
    # records out to faust's rule for taking one (above the partition's offset).
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app
    recovery = app.tables.recovery
    consumer = _StandbyConsumer()
    monkeypatch.setattr(type(app), "consumer", consumer)
    recovery.standby_tps.add(CHANGELOG)
    recovery.standby_offsets[CHANGELOG] = 4  # records 0..4 taken
    taken: list[int] = []

    async def faust_end_of_recovery(self: Recovery, generation_id: int = 0) -> None:
        assert CHANGELOG in consumer.paused
        for offset in (8, 9):
            if offset > self.standby_offsets[CHANGELOG]:
                self.standby_offsets[CHANGELOG] = offset
                taken.append(offset)
        if rebalanced_again:
            app.consumer_generation_id += 1

    monkeypatch.setattr(Recovery, "on_recovery_completed", faust_end_of_recovery)
    await recovery.on_recovery_completed(app.consumer_generation_id)

    assert taken == []
    assert recovery.standby_offsets[CHANGELOG] == 4
    if rebalanced_again:  # the next recovery seeks and resumes them
        assert consumer.sought == [] and CHANGELOG in consumer.paused
    else:  # read on after record 4: 5.. come again
        assert consumer.sought == [{CHANGELOG: 4}] and CHANGELOG not in consumer.paused


def test_records_skipped_across_a_flow_stop_hold_the_persisted_offset_back() -> None:
    continuity = _ChangelogContinuity()
    continuity.sought(CHANGELOG, 4)
    continuity.taken(CHANGELOG, 5)
    continuity.flow_stopped()
    continuity.taken(CHANGELOG, 9)  # 6..8 were dropped with the stopped flow
    continuity.taken(CHANGELOG, 12)

    assert continuity.suspect == {CHANGELOG: 5}
    assert continuity.applied_up_to(CHANGELOG) == 5
    continuity.sought(CHANGELOG, 7)  # not far enough back
    assert continuity.applied_up_to(CHANGELOG) == 5
    continuity.sought(CHANGELOG, 5)  # read again from the first record maybe missing
    assert continuity.suspect == {} and continuity.applied_up_to(CHANGELOG) is None


def test_a_jump_with_no_flow_stop_or_right_after_a_seek_is_trusted() -> None:
    continuity = _ChangelogContinuity()
    continuity.sought(CHANGELOG, -1)
    continuity.taken(CHANGELOG, 3)  # a compacted changelog starts at 3
    continuity.taken(CHANGELOG, 7)  # and has no 4..6
    continuity.flow_stopped()
    continuity.sought(CHANGELOG, 7)
    continuity.taken(CHANGELOG, 10)
    continuity.flow_stopped()
    continuity.taken(CHANGELOG, 11)  # the next record: nothing skipped

    assert continuity.suspect == {}


class _OffsetStore:
    """A store that keeps what is persisted (faust's memory store keeps no offsets)."""

    def __init__(self) -> None:
        self.persisted: dict[TP, int] = {}

    def apply_changelog_batch(self, batch: Any, to_key: Any, to_value: Any) -> None:
        for event in batch:
            self.persisted[event.message.tp] = event.message.offset

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


def _changelog_event(offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(tp=CHANGELOG, offset=offset))


async def test_a_table_persists_no_offset_past_records_its_recovery_may_have_skipped() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app
    table = app.Table("probe", partitions=4)
    table._data = store = _OffsetStore()
    continuity = app.tables.recovery.continuity
    continuity.sought(CHANGELOG, 4)
    await table.on_changelog_event(_changelog_event(5))
    table.apply_changelog_batch([_changelog_event(5)])
    assert store.persisted == {CHANGELOG: 5}

    app.tables.changelog_queue.put_nowait(_changelog_event(6))
    app.flow_control.resume()  # clears the changelog queue: record 6 is dropped
    await table.on_changelog_event(_changelog_event(7))
    table.apply_changelog_batch([_changelog_event(7)])
    assert store.persisted == {CHANGELOG: 5}

    table._on_changelog_sent(SimpleNamespace(result=lambda: SimpleNamespace(
        topic_partition=CHANGELOG, offset=8)))  # fmt: skip
    assert store.persisted == {CHANGELOG: 5}


def test_a_stop_of_the_consumers_flow_is_a_possible_drop() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app
    continuity = app.tables.recovery.continuity
    continuity.sought(CHANGELOG, 4)
    try:
        app.consumer.stop_flow()
    finally:
        app.consumer._thread.thread_loop.close()  # the consumer thread's loop; never started
    continuity.taken(CHANGELOG, 6)

    assert continuity.suspect == {CHANGELOG: 4}


async def test_a_recovery_seek_back_to_where_records_may_be_missing_clears_the_doubt() -> None:
    app = Dagger(broker=OFFLINE_BROKER, store="memory://").faust_app
    recovery = app.tables.recovery
    recovery.continuity.sought(CHANGELOG, 4)
    recovery.continuity.flow_stopped()
    recovery.continuity.taken(CHANGELOG, 9)
    consumer = _StandbyConsumer()

    await recovery._seek_offsets(consumer, {CHANGELOG}, Counter({CHANGELOG: 4}), "active")

    assert consumer.sought == [{CHANGELOG: 4}]
    assert recovery.continuity.suspect == {}


def test_faust_s_rocksdb_store_pops_revoked_databases_and_always_collects() -> None:
    from faust.stores import rocksdb

    internals.collect_only_after_closing(rocksdb.Store)
    # The body the patch re-implements, as faust has it (kept on the replacement).
    faust_source = inspect.getsource(rocksdb.Store.revoke_partitions.faust_original)
    assert _parameters(rocksdb.Store.revoke_partitions.faust_original) == ["self", "table", "tps"]
    assert "self._dbs.pop(tp.partition, None)" in faust_source
    assert "tp.topic in table.changelog_topic.topics" in faust_source
    assert "gc.collect()" in faust_source


class _Logger:
    def info(self, *args: Any) -> None:
        pass


class _RevokingStore:
    """A stand-in with the attributes faust's rocksdb store's revoke_partitions uses."""

    def __init__(self, dbs: dict[int, object]) -> None:
        self._dbs = dbs
        self.logger = _Logger()

    def revoke_partitions(self, table: Any, tps: Any) -> None:
        raise AssertionError("replaced by collect_only_after_closing")


def _table(topic: str) -> Any:
    class Changelog:
        topics = frozenset({topic})

    class Table:
        changelog_topic = Changelog()

    return Table()


@pytest.mark.parametrize(
    ("dbs", "revoked", "collections", "left"),
    [
        ({}, [], 0, {}),  # a worker's start: nothing to revoke, nothing to collect
        ({0: "db0"}, [("other", 0)], 0, {0: "db0"}),  # another table's partition
        ({0: "db0", 1: "db1"}, [("log", 1)], 1, {0: "db0"}),  # one closed: collect
    ],
)
def test_the_rocksdb_store_collects_only_when_it_closed_a_database(
    monkeypatch: pytest.MonkeyPatch,
    dbs: dict[int, object],
    revoked: list[tuple[str, int]],
    collections: int,
    left: dict[int, object],
) -> None:
    from faust.types import TP

    internals.collect_only_after_closing(_RevokingStore)
    internals.collect_only_after_closing(_RevokingStore)  # idempotent
    counted: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda: counted.append(1) or 0)
    store = _RevokingStore(dict(dbs))

    store.revoke_partitions(_table("log"), {TP(topic, partition) for topic, partition in revoked})

    assert len(counted) == collections
    assert store._dbs == left


def test_a_rocksdb_engine_app_patches_faust_s_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.stores import rocksdb

    faust_own = getattr(
        rocksdb.Store.revoke_partitions, "faust_original", rocksdb.Store.revoke_partitions
    )
    monkeypatch.setattr(rocksdb.Store, "revoke_partitions", faust_own)
    Dagger(broker=OFFLINE_BROKER, store="rocksdb://")
    assert hasattr(rocksdb.Store.revoke_partitions, "faust_original")


def test_the_engine_s_tables_write_their_store_in_the_current_event_s_partition(
    tmp_path: Path,
) -> None:
    # What write_store and changelog_sent rely on: the table's store, its changelog
    # topic's name, the store's persisted offset, and the event's partition.
    app = Dagger(broker=OFFLINE_BROKER, store="rocksdb://", datadir=str(tmp_path)).faust_app
    table = app.Table("probe", partitions=4, key_type=bytes, value_type=bytes)
    event = type("Event", (), {"message": type("Message", (), {"partition": 3})()})()

    with internals.as_current_event(event):
        assert table.write_store(b"key", b"value") == 3
    assert table.data[b"key"] == b"value"
    with internals.as_current_event(event):
        table.write_store(b"key", None)
    assert b"key" not in table.data
    assert table.changelog_topic_name == table.changelog_topic.get_topic_name()
    table.changelog_sent(3, 41)
    assert table.data.persisted_offset(faust.types.TP(table.changelog_topic_name, 3)) == 41
    with pytest.raises(RuntimeError, match="outside an event"):
        table.write_store(b"key", b"value")
