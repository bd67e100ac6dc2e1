"""The Dagger engine object: templates, topics and handing instances to their owners."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated, InstanceSubmitted
from dagger.exceptions.exceptions import DaggerError, TemplateDoesNotExist
from dagger.modeler.definition import ProcessTemplateDagBuilder
from dagger.runtime._partitioning import partition_for_key
from dagger.service.services import Dagger
from dagger.stores import DEFAULT_ROCKSDB_OPTIONS
from dagger.templates.template import ITemplateDAG
from tests.unit._workflows import OFFLINE_BROKER, RecordingTask, build_template, task_named


def _new_engine(**arguments: Any) -> Dagger:
    return Dagger(broker=OFFLINE_BROKER, store="memory://", **arguments)


class SendRecorder:
    """Stands in for ``Dagger._send``: records (event, key, partition)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, int]] = []

    async def __call__(self, event: Any, key: str, partition: int) -> None:
        self.calls.append((event, key, partition))


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> SendRecorder:
    """Return a fresh engine's ``_send`` recorder; ``Dagger.app`` is that engine."""
    engine = _new_engine(kafka_partitions=8)
    recorder = SendRecorder()
    monkeypatch.setattr(engine, "_send", recorder)
    return recorder


# -- construction -----------------------------------------------------------------------


def test_the_last_constructed_engine_is_dagger_app() -> None:
    first = _new_engine()
    second = _new_engine()

    assert Dagger.app is second
    assert first.template_dags == {} and second.template_dags == {}
    assert first.faust_app is not second.faust_app


# -- templates --------------------------------------------------------------------------


def test_register_template_registers_on_the_current_engine() -> None:
    older = _new_engine()
    engine = _new_engine()
    built: list[ITemplateDAG] = []

    @Dagger.register_template("orders")
    def orders(template_name: str) -> ITemplateDAG:
        template = build_template(engine, [("p", [("t", RecordingTask)])], name=template_name)
        built.append(template)
        return template

    assert engine.get_template("orders") is built[0]
    assert built[0].name == "orders"
    assert "orders" not in older.template_dags
    assert orders("again").name == "again"


def test_register_template_wants_a_built_template(engine: Dagger) -> None:
    with pytest.raises(
        TypeError, match="must return a built template, got ProcessTemplateDagBuilder"
    ):

        @Dagger.register_template("orders")
        def orders(template_name: str) -> Any:
            return ProcessTemplateDagBuilder(engine)

    assert engine.template_dags == {}


def test_register_template_needs_an_engine(engine: Dagger, monkeypatch: pytest.MonkeyPatch) -> None:
    template = build_template(engine, [("p", [("t", RecordingTask)])])
    monkeypatch.setattr(Dagger, "app", None)

    with pytest.raises(DaggerError, match=r"needs a Dagger\(\.\.\.\) instance"):
        Dagger.register_template("orders")(lambda name: template)
    with pytest.raises(DaggerError, match=r"needs a Dagger\(\.\.\.\) instance"):
        Dagger.create_topic("orders")


def test_get_template_of_an_unknown_name_lists_the_known_ones(engine: Dagger) -> None:
    engine.template_dags["orders"] = build_template(engine, [("p", [("t", RecordingTask)])])

    with pytest.raises(TemplateDoesNotExist, match=r"'refunds'; registered: \['orders'\]"):
        engine.get_template("refunds")


def test_register_process_template_names_a_builder(engine: Dagger) -> None:
    builder = ProcessTemplateDagBuilder(engine)

    @Dagger.register_process_template("payment")
    def payment(name: str) -> ProcessTemplateDagBuilder:
        return builder

    assert engine.process_templates == {"payment": builder}
    assert builder.build().name == "payment"


def test_register_process_template_refuses_none(engine: Dagger) -> None:
    with pytest.raises(TypeError, match=r"'payment'.*returned None"):
        Dagger.register_process_template("payment")(lambda name: None)


# -- topics -----------------------------------------------------------------------------


def test_create_topic_creates_once(engine: Dagger) -> None:
    topic = Dagger.create_topic("orders", key_type=str, value_type=bytes)

    assert topic.get_topic_name() == "orders"
    assert topic.app is engine.faust_app
    assert Dagger.create_topic("orders") is topic
    assert engine.get_topic("orders") is topic


def test_add_topic_and_get_topic(engine: Dagger) -> None:
    topic = engine.faust_app.topic("payments")

    engine.add_topic("payments", topic)

    assert engine.get_topic("payments") is topic


def test_get_topic_of_an_unknown_name_says_how_to_create_it(engine: Dagger) -> None:
    with pytest.raises(DaggerError, match=r"'nope'; create it with Dagger\.create_topic\(\)"):
        engine.get_topic("nope")


def test_create_topic_belongs_to_the_current_engine() -> None:
    _new_engine()
    Dagger.create_topic("orders")
    engine = _new_engine()

    assert Dagger.create_topic("orders").app is engine.faust_app


def test_get_db_options_is_empty_for_the_memory_store(engine: Dagger) -> None:
    assert engine.get_db_options() == {}


_ENGINE_TABLES = (
    "dagger_instances",
    "dagger_correlation",
    "dagger_early_messages",
    "dagger_timers",
)


def test_rocksdb_tables_open_bounded_databases_by_default(tmp_path: Path) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="rocksdb://", datadir=tmp_path)

    assert engine.get_db_options() == DEFAULT_ROCKSDB_OPTIONS
    for name in _ENGINE_TABLES:
        options = engine.faust_app.tables[name].data.rocksdb_options
        # faust's own defaults are a 64 MiB write buffer and a 2 GiB block cache.
        assert options.write_buffer_size == 4 * 2**20
        assert options.block_cache_size == 8 * 2**20


def test_rocksdb_options_replace_single_defaults_and_open_a_real_database(tmp_path: Path) -> None:
    engine = Dagger(
        broker=OFFLINE_BROKER,
        store="rocksdb://",
        datadir=tmp_path,
        rocksdb_options={"write_buffer_size": 2**20, "max_write_buffer_number": 3},
    )

    options = engine.faust_app.tables["dagger_instances"].data.rocksdb_options
    assert (options.write_buffer_size, options.max_write_buffer_number) == (2**20, 3)
    assert options.block_cache_size == DEFAULT_ROCKSDB_OPTIONS["block_cache_size"]
    database = options.open(tmp_path / "probe")
    database[b"key"] = b"value"
    assert database[b"key"] == b"value"
    database.close()


# -- instances --------------------------------------------------------------------------


async def test_a_new_instance_is_sent_to_the_owner_of_its_key(sends: SendRecorder) -> None:
    engine = Dagger.app
    template = build_template(engine, [("p", [("t", RecordingTask)])])

    instance = await template.create_instance("i-1", "order_id", order_id="o-42")

    [(event, key, partition)] = sends.calls
    assert isinstance(event, InstanceCreated)
    assert (event.instance_id, event.submit) == ("i-1", False)
    assert key == "o-42"
    assert partition == partition_for_key("o-42", 8) == instance.owner_partition
    assert instance.status.code == "NOT_STARTED"
    decoded = codec.from_document(event.document)
    assert list(decoded.tasks) == list(instance.tasks)
    assert task_named(decoded, "t").id == task_named(instance, "t").id


async def test_a_new_instance_with_submit_is_marked_submitted(sends: SendRecorder) -> None:
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])

    instance = await template.create_instance("i-1", "k", k="v", submit_task=True)

    [(event, _, _)] = sends.calls
    assert event.submit is True
    assert instance.status.code == "SUBMITTED"
    assert codec.from_document(event.document).status.code == "NOT_STARTED"


async def test_repartition_false_outside_a_worker_is_refused(sends: SendRecorder) -> None:
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])

    with pytest.raises(DaggerError, match="use repartition=True"):
        await template.create_instance("i-1", "k", k="v", repartition=False)
    assert sends.calls == []


def _handling(monkeypatch: pytest.MonkeyPatch, topic: str, partition: int) -> None:
    """Make faust's current event a record of ``topic``'s ``partition``."""
    event = SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition))
    monkeypatch.setattr(faust, "current_event", lambda: event)


def _assign(monkeypatch: pytest.MonkeyPatch, engine: Dagger, *partitions: int) -> None:
    owned = {TP(engine.settings.tasks_topic, partition) for partition in partitions}
    monkeypatch.setattr(engine.faust_app.assignor, "assigned_actives", lambda: owned)


@pytest.mark.parametrize(("topic", "partition", "chosen"), [("orders", 5, 5), ("orders", 11, 3)])
async def test_repartition_false_in_an_agent_takes_the_handled_records_partition_whatever_is_owned(
    sends: SendRecorder, monkeypatch: pytest.MonkeyPatch, topic: str, partition: int, chosen: int
) -> None:
    """A record read again after a crash or a rebalance creates on the same partition, so
    its owner finds the instance it created before (one id, one owner)."""
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])
    _handling(monkeypatch, topic, partition)
    owners = []
    for owned in ((0, 1, 2, 3, 4, 5, 6, 7), (1, 3), (6,)):
        _assign(monkeypatch, Dagger.app, *owned)
        instance = await template.create_instance("i-1", "k", k="v", repartition=False)
        owners.append(instance.owner_partition)

    assert owners == [chosen, chosen, chosen]
    assert [partition for _, _, partition in sends.calls] == [chosen] * 3


async def test_repartition_false_outside_an_agent_uses_the_keys_partition(
    sends: SendRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])
    key_partition = partition_for_key("key-7", 8)
    _assign(monkeypatch, Dagger.app, *(p for p in range(8) if p != key_partition))

    instance = await template.create_instance("i-1", "k", k="key-7", repartition=False)

    assert instance.owner_partition == key_partition


async def test_submit_sends_a_submission_to_the_owner(sends: SendRecorder) -> None:
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])
    instance = await template.create_instance("i-1", "k", k="key-7")
    sends.calls.clear()

    await Dagger.app.submit(instance)
    await Dagger.app.submit(instance)

    [(first, key, partition), (second, _, _)] = sends.calls
    assert isinstance(first, InstanceSubmitted) and first.instance_id == "i-1"
    assert (key, partition) == ("key-7", partition_for_key("key-7", 8))
    assert first.event_id != second.event_id
    assert instance.status.code == "SUBMITTED"


async def test_submit_keeps_the_partition_an_instance_was_created_on(
    sends: SendRecorder,
) -> None:
    template = build_template(Dagger.app, [("p", [("t", RecordingTask)])])
    instance = await template.create_instance("i-1", "k", k="key-7")
    instance.owner_partition = (partition_for_key("key-7", 8) + 1) % 8
    sends.calls.clear()

    await Dagger.app.submit(instance)

    assert sends.calls[0][2] == instance.owner_partition


@pytest.mark.parametrize("thing", [None, "i-1", RecordingTask(id="t", task_name="t")])
async def test_submit_of_something_else_is_refused(engine: Dagger, thing: Any) -> None:
    with pytest.raises(TypeError, match="submit\\(\\) takes a workflow instance"):
        await engine.submit(thing)


async def test_get_instance_of_an_instance_not_held_is_none(engine: Dagger) -> None:
    assert await engine.get_instance("unknown") is None
    assert await engine.get_instance("unknown", log=False) is None
