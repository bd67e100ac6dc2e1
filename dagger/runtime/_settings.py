"""The engine's validated settings: what the runtime is built from.

``dagger.service._settings.resolve_settings`` checks the ``Dagger(...)`` arguments and the
environment, once, and builds an :class:`EngineSettings`; the runtime, the HTTP API and
the worker read it. It is declared here, in the runtime layer, so that the layers that
read it need not import the service layer above them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagger.broker._addresses import broker_hosts
from dagger.exceptions.exceptions import ConfigurationError
from dagger.runtime._held import DEFAULT_HELD_LIMITS
from dagger.runtime._telemetry import NO_TELEMETRY, Telemetry
from dagger.runtime._turns import DEFAULT_MAX_CONCURRENT_HOOKS
from dagger.serializers._config import SerializerSettings
from dagger.stores._aerospike_config import AerospikeSettings
from dagger.stores._rocksdb_options import DEFAULT_ROCKSDB_OPTIONS

__all__ = ["EngineSettings"]


NO_BROKER = (
    "no broker configured: pass broker='kafka://host:port' or set DAGGER_BROKER "
    "(`dagger worker` starts an embedded broker when neither is set)"
)

UNCONFIGURED_BROKER = "kafka://unconfigured.invalid:9092"
"""The broker an engine built with none names: nothing connects to it (see require_broker)."""


@dataclass(frozen=True)
class EngineSettings:
    """The validated engine settings."""

    broker: str
    store: str
    datadir: str | None
    application_name: str
    package_name: str
    kafka_partitions: int
    tasks_topic: str
    bootstrap_topic: str
    task_update_topic: str | None
    trigger_interval: float
    max_tasks_per_trigger: int
    max_correletable_keys_in_values: int
    delete_workflow_on_complete: bool
    consumer_fetch_max_wait: float
    dead_letter_topic: str
    early_message_window: float
    message_id_header: str | None
    clock: Callable[[], float]
    logging_config: dict[str, Any] | None
    api_token: str | None = None
    faust_settings: dict[str, Any] = field(default_factory=dict)
    max_events_per_batch: int = 1000
    max_concurrent_hooks: int = DEFAULT_MAX_CONCURRENT_HOOKS
    """How many user hooks of different instances may await at once."""
    max_held_messages: int = DEFAULT_HELD_LIMITS.messages_per_partition
    """The most early messages held per partition."""
    max_held_bytes: int = DEFAULT_HELD_LIMITS.bytes_per_partition
    """The most payload bytes of early messages held per partition."""
    serialization: SerializerSettings = field(default_factory=SerializerSettings)
    aerospike: AerospikeSettings | None = None
    """The ``aerospike://`` store's settings; None for the embedded stores."""
    telemetry: Telemetry = NO_TELEMETRY
    rocksdb_options: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_ROCKSDB_OPTIONS)
    )
    """The options of each ``rocksdb://`` database (one per table and partition)."""
    intake_topic: str | None = "dagger_intake"
    """The JSON topic any producer starts instances on (None: no intake agent)."""

    broker_configured: bool = True
    """False when no broker was given: the engine runs in a LocalEngine, not as a worker."""

    def require_broker(self, doing: str) -> None:
        """Raise ConfigurationError, saying what needs it, when no broker was configured."""
        if not self.broker_configured:
            raise ConfigurationError(f"{doing} needs a broker: {NO_BROKER}")

    @property
    def bootstrap_servers(self) -> list[str]:
        """The ``host:port`` of every broker."""
        return broker_hosts(self.broker)
