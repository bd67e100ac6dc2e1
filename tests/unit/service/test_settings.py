"""Every Dagger(...) argument either works or fails with a clear, specific error."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
import pytest

from dagger.broker._addresses import broker_hosts, resolve_broker
from dagger.exceptions.exceptions import ConfigurationError
from dagger.service._worker import run_worker
from dagger.service.engineconfig import AerospikeConfig, StoreEnum
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit._workflows import OFFLINE_BROKER, RecordingTask, build_template

AEROSPIKE = AerospikeConfig(
    HOSTS=[("127.0.0.1", 3000)],
    POLICIES={},
    NAMESPACE="test",
    USERNAME=None,
    PASSWORD=None,
    TTL=-1,
    KWARGS={},
)


def _engine(**arguments: Any) -> Dagger:
    arguments.setdefault("broker", OFFLINE_BROKER)
    arguments.setdefault("store", "memory://")
    return Dagger(**arguments)


# -- broker -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broker", "hosts"),
    [
        ("kafka://127.0.0.1:9092", ["127.0.0.1:9092"]),
        ("aiokafka://broker:1", ["broker:1"]),
        ("kafka://a:1;b:2", ["a:1", "b:2"]),
        ("kafka://a:1,b:2/", ["a:1", "b:2"]),
    ],
)
def test_a_broker_url_is_accepted(broker: str, hosts: list[str]) -> None:
    engine = _engine(broker=broker)

    assert engine.settings.broker == broker
    assert engine.settings.bootstrap_servers == hosts
    assert broker == engine.config.BROKER


@pytest.mark.parametrize(
    ("broker", "hosts"),
    [("127.0.0.1:9092", ["127.0.0.1:9092"]), ("kafka:29092;b:2", ["kafka:29092", "b:2"])],
)
def test_a_broker_without_a_scheme_means_kafka_as_in_faust(broker: str, hosts: list[str]) -> None:
    engine = _engine(broker=broker)

    assert engine.settings.broker == f"kafka://{broker}"
    assert engine.settings.bootstrap_servers == hosts
    assert engine.faust_app.conf.broker[0].scheme == "kafka"


@pytest.mark.parametrize(
    "broker",
    [
        "127.0.0.1",
        "http://127.0.0.1:9092",
        "kafka://",
        "kafka://host",
        "kafka://host:port",
        "kafka://a:1;b",
        "kafka://my host:1",
        "kafka://host:123456",
        9092,
    ],
)
def test_a_bad_broker_url_is_refused(broker: Any) -> None:
    with pytest.raises(ConfigurationError, match="broker must look like 'kafka://host:port"):
        _engine(broker=broker)


def test_the_broker_comes_from_dagger_broker_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGGER_BROKER", "kafka://from-env:1234")

    assert _engine(broker=None).settings.broker == "kafka://from-env:1234"
    assert _engine(broker="kafka://argument:1").settings.broker == "kafka://argument:1"


def test_a_bad_dagger_broker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGGER_BROKER", "localhost")

    with pytest.raises(ConfigurationError, match="'localhost'"):
        _engine(broker=None)


def test_without_a_broker_the_engine_builds_but_will_not_run_a_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGGER_BROKER", "")
    engine = _engine(broker=None)  # a workflow module imports without a broker

    assert engine.settings.broker_configured is False
    with pytest.raises(ConfigurationError, match=r"running a worker needs a broker: no broker"):
        run_worker(engine)


async def test_without_a_broker_a_local_engine_runs_and_a_send_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGGER_BROKER", "")
    engine = _engine(broker=None)
    template = build_template(engine, [("only", [("work", RecordingTask)])])

    async with LocalEngine(engine) as local:
        instance = await template.create_instance(
            "i-1", "order_id", order_id="o-1", submit_task=True
        )
        assert local.get_instance(instance.id) is not None
    with pytest.raises(
        ConfigurationError, match=r"InstanceCreated to the engine topic needs a broker"
    ):
        await template.create_instance("i-2", "order_id", order_id="o-2")


def test_kafka_broker_list_replaces_the_broker_hosts() -> None:
    engine = _engine(broker=OFFLINE_BROKER, kafka_broker_list=["kafka://a:1", "b:2"])

    assert engine.settings.broker == "kafka://a:1;b:2"
    assert engine.settings.bootstrap_servers == ["a:1", "b:2"]
    assert engine.kafka_broker_list == ["kafka://a:1", "b:2"]
    assert _engine(broker=None, kafka_broker_list=["c:3"]).settings.broker == "kafka://c:3"


@pytest.mark.parametrize("hosts", ["a:1,b:2", ["a:1", 2], [b"a:1"]])
def test_a_kafka_broker_list_must_be_a_list_of_strings(hosts: Any) -> None:
    with pytest.raises(ConfigurationError, match="kafka_broker_list must be a list"):
        _engine(kafka_broker_list=hosts)


def test_a_kafka_broker_list_entry_needs_a_port() -> None:
    with pytest.raises(ConfigurationError, match="broker must look like"):
        _engine(kafka_broker_list=["a:1", "b"])


def test_broker_helpers() -> None:
    assert broker_hosts("kafka://a:1;b:2,c:3") == ["a:1", "b:2", "c:3"]
    assert broker_hosts("a:1") == ["a:1"]
    assert resolve_broker(None, None) is None
    assert resolve_broker(None, []) is None
    assert resolve_broker("kafka://a:1", None) == "kafka://a:1"


# -- store ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory://", "rocksdb://", StoreEnum.MEMORY, StoreEnum.ROCKSDB])
def test_the_embedded_stores_are_accepted(store: Any, tmp_path: Path) -> None:
    engine = _engine(store=store, datadir=str(tmp_path))
    expected = store.value if isinstance(store, StoreEnum) else store

    assert engine.settings.store == expected
    assert expected == engine.config.STORE
    assert engine.faust_app.conf.store.scheme == expected.split(":")[0]


def test_the_aerospike_store_is_accepted_without_connecting() -> None:
    engine = _engine(store="aerospike://", aerospike_config=AEROSPIKE)

    assert engine.settings.store == "aerospike://" == engine.config.STORE
    assert engine.settings.aerospike is not None
    assert engine.settings.aerospike.hosts == (("127.0.0.1", 3000),)
    # The state is in Aerospike sets: faust opens no table, so no changelog topic exists.
    assert engine.faust_app.conf.store.scheme == "memory"
    assert list(engine.faust_app.tables) == []


def test_the_aerospike_store_without_aerospike_config_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs aerospike_config=AerospikeConfig"):
        _engine(store="aerospike://")


def test_the_default_store_is_rocksdb(tmp_path: Path) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, datadir=tmp_path)

    assert engine.settings.store == "rocksdb://"
    assert engine.settings.aerospike is None


def test_the_default_store_is_aerospike_when_aerospike_config_is_given() -> None:
    engine = Dagger(broker=OFFLINE_BROKER, aerospike_config=AEROSPIKE)

    assert engine.settings.store == "aerospike://"
    assert engine.settings.aerospike is not None


@pytest.mark.parametrize("store", ["redis://", "memory", "", 1])
def test_an_unknown_store_is_refused(store: Any) -> None:
    with pytest.raises(ConfigurationError, match="store must be one of"):
        _engine(store=store)


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_aerospike_config_without_the_aerospike_store_is_ignored_with_a_warning(
    store: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING, logger="dagger.service._settings"):
        engine = _engine(store=store, aerospike_config=AEROSPIKE, datadir=tmp_path)

    assert engine.settings.store == store
    assert engine.settings.aerospike is None
    assert "aerospike_config is ignored" in caplog.text


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_enable_changelog_false_is_ignored_with_a_warning_by_embedded_stores(
    store: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING, logger="dagger.service._settings"):
        engine = _engine(store=store, enable_changelog=False, datadir=tmp_path)

    assert engine.settings.store == store
    assert "enable_changelog=False is ignored" in caplog.text
    assert "changelog stays on" in caplog.text


def test_datadir_is_kept_as_a_string(tmp_path: Path) -> None:
    engine = _engine(store="rocksdb://", datadir=tmp_path)

    assert engine.settings.datadir == str(tmp_path)
    assert str(tmp_path) == engine.config.DATADIR
    assert str(engine.faust_app.conf.datadir) == str(tmp_path)
    assert _engine().settings.datadir is None


def test_a_datadir_that_is_not_a_path_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="datadir must be a path"):
        _engine(datadir=7)


# -- unavailable features ---------------------------------------------------------------


def test_restart_tasks_on_boot_false_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="dagger.service._settings"):
        _engine(restart_tasks_on_boot=False)

    assert "restart_tasks_on_boot=False is ignored" in caplog.text


# -- names ------------------------------------------------------------------------------


def test_names_and_topics_are_used() -> None:
    engine = _engine(
        application_name="shop",
        package_name="shop_workflows",
        tasks_topic="shop.engine",
        task_update_topic="shop_updates",
        kafka_partitions=4,
    )

    assert engine.faust_app.conf.id == "shop"
    assert engine.faust_app.conf.origin == "shop_workflows"
    assert engine.config.APPLICATION_NAME == "shop"
    assert engine.config.PACKAGE_NAME == "shop_workflows"
    assert engine.tasks_topic.get_topic_name() == "shop.engine"
    assert engine.tasks_topic.partitions == 4
    assert engine.task_update_topic is not None
    assert engine.task_update_topic.get_topic_name() == "shop_updates"
    assert engine.faust_app.conf.topic_partitions == 4
    assert engine.config.KAFKA_PARTITIONS == 4


def test_there_is_no_update_topic_unless_named() -> None:
    assert _engine().task_update_topic is None


@pytest.mark.parametrize("argument", ["application_name", "package_name"])
@pytest.mark.parametrize("value", ["", None, 3])
def test_names_must_be_non_empty_strings(argument: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"{argument} must be a non-empty string"):
        _engine(**{argument: value})


@pytest.mark.parametrize("argument", ["tasks_topic", "bootstrap_topic", "task_update_topic"])
@pytest.mark.parametrize("value", ["", "has space", "slash/topic", "x" * 250, 5])
def test_bad_topic_names_are_refused(argument: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"{argument} must be a Kafka topic name"):
        _engine(**{argument: value})


def test_a_custom_bootstrap_topic_is_accepted_and_noted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="dagger.service._settings"):
        engine = _engine(bootstrap_topic="boot")

    assert engine.settings.bootstrap_topic == "boot"
    assert "bootstrap_topic='boot' is not needed" in caplog.text


# -- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argument",
    [
        "kafka_partitions",
        "max_tasks_per_trigger",
        "max_correletable_keys_in_values",
        "max_events_per_batch",
        "max_concurrent_hooks",
        "max_held_messages",
        "max_held_bytes",
    ],
)
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "4", None])
def test_counts_must_be_positive_ints(argument: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"{argument} must be a positive"):
        _engine(**{argument: value})


@pytest.mark.parametrize("argument", ["trigger_interval", "consumer_fetch_max_wait"])
@pytest.mark.parametrize("value", [0, -0.5, False, "1"])
def test_durations_must_be_positive_numbers(argument: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"{argument} must be a positive number"):
        _engine(**{argument: value})


def test_numbers_are_kept() -> None:
    engine = _engine(
        kafka_partitions=3,
        trigger_interval=2,
        max_tasks_per_trigger=10,
        max_correletable_keys_in_values=20,
        consumer_fetch_max_wait=0.25,
        max_events_per_batch=50,
        max_concurrent_hooks=8,
        max_held_messages=7,
        max_held_bytes=4096,
    )

    assert engine.settings.kafka_partitions == 3
    assert (engine.settings.max_held_messages, engine.settings.max_held_bytes) == (7, 4096)
    held = engine._runtime.keys._held.limits
    assert (held.messages_per_partition, held.bytes_per_partition) == (7, 4096)
    assert engine.trigger_interval == 2.0
    assert isinstance(engine.trigger_interval, float)
    assert engine.max_tasks_per_trigger == 10
    assert engine.max_correletable_keys_in_values == 20
    assert engine.settings.consumer_fetch_max_wait == 0.25
    assert engine.settings.max_events_per_batch == 50
    assert engine._runtime.owner.turns.max_concurrent_hooks == 8
    assert _engine()._runtime.owner.turns.max_concurrent_hooks == 100
    assert engine.faust_app.consumer_fetch_max_wait_ms == 250


def test_consumer_fetch_max_wait_defaults_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _engine().settings.consumer_fetch_max_wait == 0.05

    monkeypatch.setenv("DAGGER_CONSUMER_FETCH_MAX_WAIT", "0.5")
    assert _engine().settings.consumer_fetch_max_wait == 0.5
    assert _engine(consumer_fetch_max_wait=0.1).settings.consumer_fetch_max_wait == 0.1

    monkeypatch.setenv("DAGGER_CONSUMER_FETCH_MAX_WAIT", "0")
    with pytest.raises(ConfigurationError, match="consumer_fetch_max_wait"):
        _engine()


def test_a_non_numeric_consumer_fetch_max_wait_variable_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGGER_CONSUMER_FETCH_MAX_WAIT", "fast")

    with pytest.raises(ConfigurationError, match="DAGGER_CONSUMER_FETCH_MAX_WAIT"):
        _engine()


# -- everything else --------------------------------------------------------------------


def test_flags_callbacks_and_logging_config_are_kept() -> None:
    async def callback(instance: Any) -> None:
        return None

    engine = _engine(
        delete_workflow_on_complete=True,
        task_update_callbacks=[callback],
        logging_config={"version": 1},
    )

    assert engine.delete_workflow_on_complete is True
    assert engine.task_update_callbacks == [callback]
    assert engine.settings.logging_config == {"version": 1}
    assert _engine().delete_workflow_on_complete is False


@pytest.mark.parametrize("value", ["logging.ini", ["version"]])
def test_a_logging_config_must_be_a_dict(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="logging_config must be"):
        _engine(logging_config=value)


@pytest.mark.parametrize("argument", ["tracing_sensor", "datadog_sensor"])
def test_sensors_are_added_to_the_faust_app(argument: str) -> None:
    sensor = faust.Sensor()

    engine = _engine(**{argument: sensor})

    assert sensor in engine.faust_app.sensors


@pytest.mark.parametrize("argument", ["tracing_sensor", "datadog_sensor"])
def test_a_sensor_must_be_a_faust_sensor(argument: str) -> None:
    with pytest.raises(TypeError, match=f"{argument} must be a faust.Sensor, got object"):
        _engine(**{argument: object()})


def test_the_loop_is_given_to_the_faust_app() -> None:
    loop = asyncio.new_event_loop()
    try:
        engine = _engine(loop=loop)

        assert engine.faust_app.loop is loop
    finally:
        loop.close()


def test_a_beacon_is_accepted() -> None:
    parent = _engine()

    engine = _engine(beacon=parent.beacon)

    assert engine.beacon.parent is parent.beacon


def test_faust_settings_pass_through_and_override_the_defaults() -> None:
    engine = _engine(web_enabled=False, broker_session_timeout=30.0)

    assert engine.faust_app.conf.web_enabled is False
    assert engine.faust_app.conf.broker_session_timeout == 30.0
    assert engine.faust_app.conf.broker_heartbeat_interval == 1.0
    assert engine.config.KWARGS == {"web_enabled": False, "broker_session_timeout": 30.0}


def test_engine_defaults_for_faust_are_applied() -> None:
    conf = _engine().faust_app.conf

    assert conf.broker_session_timeout == 6.0
    assert conf.consumer_auto_offset_reset == "earliest"


@pytest.mark.parametrize("setting", ["serializer", "no_such_option"])
def test_a_setting_faust_does_not_know_is_ignored_with_one_warning_naming_it(
    setting: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dagger.service._settings"):
        engine = _engine(**{setting: "raw"})

    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [f"{setting}='raw' is not a faust setting: ignored"]
    assert setting not in engine.settings.faust_settings


def test_topic_partitions_equal_to_kafka_partitions_is_accepted() -> None:
    engine = _engine(kafka_partitions=4, topic_partitions=4)

    assert engine.faust_app.conf.topic_partitions == 4
    assert "topic_partitions" not in engine.settings.faust_settings


def test_topic_partitions_that_differ_from_kafka_partitions_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"pass kafka_partitions=4"):
        _engine(topic_partitions=4)


@pytest.mark.parametrize(
    "setting",
    [
        "version",
        "origin",
        "autodiscover",
        "key_serializer",
        "value_serializer",
        "Table",
        "TableManager",
    ],
)
def test_faust_settings_the_engine_owns_are_refused_clearly(setting: str) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        _engine(**{setting: 2})


# -- rocksdb options --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"write_buffer": 1}, r"unknown option 'write_buffer'; known: .*write_buffer_size"),
        ({"block_cache_size": 0}, r"rocksdb_options\['block_cache_size'\] must be a positive"),
        ({"write_buffer_size": "4MB"}, r"must be a positive integer, got '4MB'"),
        ({"max_open_files": True}, r"must be a positive integer, got True"),
        ([("write_buffer_size", 1)], r"rocksdb_options must be a mapping"),
    ],
)
def test_bad_rocksdb_options_are_refused(options: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _engine(store="rocksdb://", rocksdb_options=options)


def test_the_intake_topic_defaults_to_dagger_intake_and_none_turns_it_off() -> None:
    assert _engine().settings.intake_topic == "dagger_intake"
    assert _engine(intake_topic="starts").settings.intake_topic == "starts"
    off = _engine(intake_topic=None)
    assert off.settings.intake_topic is None
    assert not any(agent.name.endswith("dagger_intake") for agent in off.faust_app.agents.values())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"intake_topic": ""}, "intake_topic must be a Kafka topic name"),
        ({"intake_topic": "a b"}, "intake_topic must be a Kafka topic name"),
        ({"intake_topic": 3}, "intake_topic must be a topic name or None"),
        ({"intake_topic": "dagger_task_topic"}, "also the tasks_topic"),
        ({"intake_topic": "dagger_dead_letters"}, "also the dead_letter_topic"),
        ({"intake_topic": "up", "task_update_topic": "up"}, "also the task_update_topic"),
    ],
)
def test_a_bad_intake_topic_is_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _engine(**arguments)


def test_the_worker_has_an_intake_agent_on_the_intake_topic() -> None:
    engine = _engine(intake_topic="starts")
    agents = {agent.name: agent for agent in engine.faust_app.agents.values()}
    intake = next(agent for name, agent in agents.items() if name.endswith("dagger_intake"))
    assert intake.channel.get_topic_name() == "starts"
