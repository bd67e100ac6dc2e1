"""Validation of the ``Dagger(...)`` arguments: every argument works or fails clearly.

Environment variables read here (only when the argument is not given):

- ``DAGGER_BROKER``: the broker URL, e.g. ``kafka://127.0.0.1:9092``.
- ``DAGGER_CONSUMER_FETCH_MAX_WAIT``: seconds a consumer fetch may wait for data (0.05).
- ``DAGGER_API_TOKEN``: the bearer token the HTTP API requires (none: no token).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from faust.types.settings import Settings as FaustSettings

from dagger.broker._addresses import check_topic_name, resolve_broker
from dagger.exceptions.exceptions import ConfigurationError
from dagger.observability._config import resolve_telemetry
from dagger.runtime._held import DEFAULT_HELD_LIMITS
from dagger.runtime._settings import UNCONFIGURED_BROKER, EngineSettings
from dagger.runtime._turns import DEFAULT_MAX_CONCURRENT_HOOKS
from dagger.serializers._config import resolve_serializer
from dagger.stores._aerospike_config import resolve_aerospike
from dagger.stores._kinds import AerospikeConfig, StoreEnum
from dagger.stores._rocksdb_options import resolve_rocksdb_options

__all__ = ["EngineSettings", "resolve_settings"]

logger = logging.getLogger(__name__)

DEFAULT_CONSUMER_FETCH_MAX_WAIT = 0.05
_FAUST_SETTINGS = frozenset(FaustSettings.setting_names())
# Tansu (and Kafka's group.min.session.timeout.ms) accept 6 s; faust's 60 s default makes
# every group join and restart take tens of seconds.
_FAUST_DEFAULTS: dict[str, Any] = {
    "broker_session_timeout": 6.0,
    "broker_heartbeat_interval": 1.0,
    "consumer_auto_offset_reset": "earliest",
    # The HTTP API can stop and retry instances: reachable from this machine only unless
    # the operator binds it wider (web_bind=, WEB_BIND or `dagger worker --web-bind`).
    "web_bind": "127.0.0.1",
}


def _positive(value: Any, argument: str, kind: type = int) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(f"{argument} must be a positive number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise ConfigurationError(f"{argument} must be a positive int, got {value!r}")
    return kind(value)


def _non_negative(value: Any, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(f"{argument} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _check_clock(clock: Any) -> Callable[[], float]:
    if clock is None:
        return time.time
    if not callable(clock):
        raise ConfigurationError(f"clock must be a function returning epoch seconds, got {clock!r}")
    return cast("Callable[[], float]", clock)


def _check_header(name: Any) -> str | None:
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(f"message_id_header must be a header name or None, got {name!r}")
    return name


def _check_intake_topic(
    name: Any, tasks_topic: str, dead_letter_topic: str, task_update_topic: str | None
) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise ConfigurationError(f"intake_topic must be a topic name or None, got {name!r}")
    check_topic_name(name, "intake_topic")
    for other, argument in (
        (tasks_topic, "tasks_topic"),
        (dead_letter_topic, "dead_letter_topic"),
        (task_update_topic, "task_update_topic"),
    ):
        if name == other:
            raise ConfigurationError(
                f"intake_topic={name!r} is also the {argument}: the intake topic carries "
                "JSON start requests only; give it a name of its own (or None for no intake)"
            )
    return name


def _check_token(token: Any) -> str | None:
    source = "api_token"
    if token is None:
        token = os.environ.get("DAGGER_API_TOKEN") or None
        source = "DAGGER_API_TOKEN"
    if token is None:
        return None
    if not isinstance(token, str) or not token or any(char.isspace() for char in token):
        raise ConfigurationError(
            f"{source} must be a non-empty token without spaces (the HTTP API's bearer "
            "token), or unset for none"
        )
    return token


def _check_store(
    store: Any, aerospike_config: AerospikeConfig | None, enable_changelog: bool
) -> str:
    values = {member.value for member in StoreEnum}
    if store not in values:
        raise ConfigurationError(f"store must be one of {sorted(values)}, got {store!r}")
    if store == StoreEnum.AEROSPIKE.value:
        # A shared store has no changelog, so enable_changelog changes nothing either way.
        return str(store)
    # The original used both arguments for Aerospike only and ignored them otherwise; a
    # program that switched its store to rocksdb:// kept passing them.
    if aerospike_config is not None:
        logger.warning("aerospike_config is ignored: it is used only with store='aerospike://'")
    if not enable_changelog:
        logger.warning(
            "enable_changelog=False is ignored with store=%r: an embedded store is rebuilt "
            "from its changelog after a restart, so the changelog stays on",
            store,
        )
    return str(store)


_ENGINE_OWNED_SETTINGS = {
    "version": "the engine sets it",
    "origin": "use package_name=",
    "autodiscover": "use package_name=",
    "key_serializer": "the engine topic carries JSON it encodes itself",
    "value_serializer": "the engine topic carries JSON it encodes itself",
    "broker": "use broker=",
    "store": "use store=",
    "datadir": "use datadir=",
    "id": "use application_name=",
    "Table": "the engine's tables check their recovery (docs/reliability.md)",
    "TableManager": "the engine's tables check their recovery (docs/reliability.md)",
}


def _check_faust_settings(kwargs: Mapping[str, Any], kafka_partitions: Any) -> dict[str, Any]:
    owned = sorted(set(kwargs) & set(_ENGINE_OWNED_SETTINGS))
    if owned:
        raise ConfigurationError(
            "; ".join(
                f"faust setting {name!r} is set by the engine ({_ENGINE_OWNED_SETTINGS[name]})"
                for name in owned
            )
        )
    if kwargs.get("web_in_thread"):
        raise ConfigurationError(
            "web_in_thread=True is not supported: the HTTP API sends stop and retry events "
            "with the worker's producer, on the worker's event loop; remove the argument"
        )
    passed = dict(kwargs)
    if "topic_partitions" in passed:
        topic_partitions = passed.pop("topic_partitions")
        if topic_partitions != kafka_partitions:
            raise ConfigurationError(
                f"topic_partitions={topic_partitions!r} differs from "
                f"kafka_partitions={kafka_partitions!r}: the engine topic and its tables "
                f"share one partition count; pass kafka_partitions={topic_partitions!r}"
            )
    unknown = sorted(set(passed) - _FAUST_SETTINGS)
    for name in unknown:
        # faust.App ignores settings it does not know, and the original passed every extra
        # keyword argument to it: warn, as a typo deserves, and carry on.
        logger.warning("%s=%r is not a faust setting: ignored", name, passed.pop(name))
    settings = dict(_FAUST_DEFAULTS)
    settings.update(passed)
    return settings


def resolve_settings(
    *,
    broker: str | None,
    datadir: str | None,
    store: Any,
    application_name: str,
    package_name: str,
    kafka_partitions: int,
    task_update_topic: str | None,
    tasks_topic: str,
    bootstrap_topic: str,
    kafka_broker_list: Sequence[str] | None,
    trigger_interval: float,
    max_tasks_per_trigger: int,
    restart_tasks_on_boot: bool,
    aerospike_config: AerospikeConfig | None,
    enable_changelog: bool,
    max_correletable_keys_in_values: int,
    schema_registry_url: str | None,
    message_serializer: Any,
    delete_workflow_on_complete: bool,
    logging_config: dict[str, Any] | None,
    consumer_fetch_max_wait: float | None,
    dead_letter_topic: str,
    early_message_window: float,
    message_id_header: str | None,
    clock: Callable[[], float] | None,
    api_token: str | None,
    embedded_broker_url: str | None,
    max_events_per_batch: int = 1000,
    max_concurrent_hooks: int = DEFAULT_MAX_CONCURRENT_HOOKS,
    max_held_messages: int = DEFAULT_HELD_LIMITS.messages_per_partition,
    max_held_bytes: int = DEFAULT_HELD_LIMITS.bytes_per_partition,
    rocksdb_options: Mapping[str, Any] | None = None,
    faust_kwargs: Mapping[str, Any],
    telemetry: Any = None,
    datadog_sensor: Any = None,
    intake_topic: str | None = "dagger_intake",
) -> EngineSettings:
    """Validate the constructor arguments of :class:`~dagger.service.services.Dagger`."""
    if store is None:
        # The original documented rocksdb:// as its default; its programs that use
        # Aerospike pass aerospike_config, so they keep the store they had.
        store = StoreEnum.ROCKSDB.value if aerospike_config is None else StoreEnum.AEROSPIKE.value
    if isinstance(store, StoreEnum):
        store = store.value
    resolved_broker = resolve_broker(broker, kafka_broker_list) or embedded_broker_url
    # Without a broker the engine can still be built, imported and run in a LocalEngine
    # (a test needs no broker); running it as a worker or sending refuses, saying why.
    broker_configured = resolved_broker is not None
    if not restart_tasks_on_boot:
        logger.warning(
            "restart_tasks_on_boot=False is ignored: after a restart the owner always resumes "
            "its instances from the log"
        )
    if logging_config is not None and not isinstance(logging_config, dict):
        raise ConfigurationError("logging_config must be a logging.config.dictConfig dict")
    if datadir is not None and not isinstance(datadir, (str, os.PathLike)):
        raise ConfigurationError(f"datadir must be a path, got {datadir!r}")
    if not isinstance(application_name, str) or not application_name:
        raise ConfigurationError(
            f"application_name must be a non-empty string, got {application_name!r}"
        )
    if not isinstance(package_name, str) or not package_name:
        raise ConfigurationError(f"package_name must be a non-empty string, got {package_name!r}")
    if task_update_topic is not None:
        check_topic_name(task_update_topic, "task_update_topic")
    if consumer_fetch_max_wait is None:
        raw_wait = os.environ.get("DAGGER_CONSUMER_FETCH_MAX_WAIT")
        try:
            consumer_fetch_max_wait = (
                DEFAULT_CONSUMER_FETCH_MAX_WAIT if raw_wait is None else float(raw_wait)
            )
        except ValueError:
            raise ConfigurationError(
                f"DAGGER_CONSUMER_FETCH_MAX_WAIT must be a number of seconds, got {raw_wait!r}"
            ) from None
    if bootstrap_topic != "dagger_bootstrap":
        logger.info(
            "bootstrap_topic=%r is not needed: restarts resume from the engine topic's log",
            bootstrap_topic,
        )
    checked_store = _check_store(store, aerospike_config, enable_changelog)
    return EngineSettings(
        broker=resolved_broker or UNCONFIGURED_BROKER,
        broker_configured=broker_configured,
        store=checked_store,
        datadir=None if datadir is None else os.fspath(datadir),
        application_name=application_name,
        package_name=package_name,
        kafka_partitions=_positive(kafka_partitions, "kafka_partitions"),
        tasks_topic=check_topic_name(tasks_topic, "tasks_topic"),
        bootstrap_topic=check_topic_name(bootstrap_topic, "bootstrap_topic"),
        task_update_topic=task_update_topic,
        trigger_interval=_positive(trigger_interval, "trigger_interval", float),
        max_tasks_per_trigger=_positive(max_tasks_per_trigger, "max_tasks_per_trigger"),
        max_correletable_keys_in_values=_positive(
            max_correletable_keys_in_values, "max_correletable_keys_in_values"
        ),
        delete_workflow_on_complete=bool(delete_workflow_on_complete),
        consumer_fetch_max_wait=_positive(
            consumer_fetch_max_wait, "consumer_fetch_max_wait", float
        ),
        dead_letter_topic=check_topic_name(dead_letter_topic, "dead_letter_topic"),
        early_message_window=_non_negative(early_message_window, "early_message_window"),
        message_id_header=_check_header(message_id_header),
        clock=_check_clock(clock),
        logging_config=logging_config,
        api_token=_check_token(api_token),
        faust_settings=_check_faust_settings(faust_kwargs, kafka_partitions),
        max_events_per_batch=_positive(max_events_per_batch, "max_events_per_batch"),
        max_concurrent_hooks=_positive(max_concurrent_hooks, "max_concurrent_hooks"),
        max_held_messages=_positive(max_held_messages, "max_held_messages"),
        max_held_bytes=_positive(max_held_bytes, "max_held_bytes"),
        serialization=resolve_serializer(schema_registry_url, message_serializer),
        aerospike=(
            resolve_aerospike(aerospike_config, application_name)
            if checked_store == StoreEnum.AEROSPIKE.value
            else None
        ),
        telemetry=resolve_telemetry(telemetry, datadog_sensor),
        rocksdb_options=resolve_rocksdb_options(rocksdb_options),
        intake_topic=_check_intake_topic(
            intake_topic, tasks_topic, dead_letter_topic, task_update_topic
        ),
    )
