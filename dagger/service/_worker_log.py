"""What a worker says as it starts, and the library loggers it keeps quiet.

At start a worker logs one line each for its HTTP API, its broker, its store and its
templates (``dagger.worker``); the partitions it owns are logged at each assignment
(``dagger.runtime._engine``), and each instance's life in ``dagger.instances``. faust's,
mode's and aiokafka's own loggers are set to WARNING, unless the worker runs at debug
level, ``DAGGER_LIBRARY_LOG_LEVEL`` names another level, or the program configured a level
for them itself.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from dagger import _faust_internals as faust_internals
from dagger.exceptions.exceptions import ConfigurationError
from dagger.stores._kinds import StoreEnum

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger

__all__ = [
    "LIBRARY_LOGGERS",
    "LIBRARY_LOG_LEVEL_ENV",
    "ProducerBufferFullFilter",
    "library_log_level",
    "log_start",
    "quiet_libraries",
    "start_lines",
]

LIBRARY_LOGGERS = ("faust", "mode", "aiokafka")
"""The loggers of the libraries under the engine."""

LIBRARY_LOG_LEVEL_ENV = "DAGGER_LIBRARY_LOG_LEVEL"
"""Environment variable naming the level of `LIBRARY_LOGGERS` (e.g. ``info``)."""

# faust's Worker says "Starting...", "Ready" and "Stopping..." on this logger: kept at the
# worker's level, so a person (and a script) still sees the worker come up.
_FAUST_WORKER_LOGGER = "faust.worker"
# The engine's faust app and consumer log faust's "Starting..." lines here.
_ENGINE_FAUST_SERVICES_LOGGER = faust_internals.__name__
_BUFFER_FULL_EVERY = 10.0

logger = logging.getLogger("dagger.worker")


def library_log_level(worker_level: int | str | None) -> int:
    """The level of the library loggers for a worker logging at ``worker_level``."""
    raw = os.environ.get(LIBRARY_LOG_LEVEL_ENV, "").strip()
    if raw:
        level = logging.getLevelName(raw.upper())
        if not isinstance(level, int):
            raise ConfigurationError(
                f"{LIBRARY_LOG_LEVEL_ENV} must be a log level (debug, info, warning, error), "
                f"got {raw!r}"
            )
        return level
    if _level_number(worker_level) <= logging.DEBUG:
        return logging.DEBUG
    return logging.WARNING


def quiet_libraries(worker_level: int | str | None) -> None:
    """Set the library loggers' level (see `library_log_level`); keep the program's own."""
    level = library_log_level(worker_level)
    for name in (*LIBRARY_LOGGERS, _ENGINE_FAUST_SERVICES_LOGGER):
        library = logging.getLogger(name)
        if library.level == logging.NOTSET:
            library.setLevel(level)
    faust_worker = logging.getLogger(_FAUST_WORKER_LOGGER)
    if faust_worker.level == logging.NOTSET:
        faust_worker.setLevel(min(level, _level_number(worker_level)))
    producer = logging.getLogger(faust_internals.PRODUCER_BUFFER_LOGGER)
    if not any(isinstance(f, ProducerBufferFullFilter) for f in producer.filters):
        producer.addFilter(ProducerBufferFullFilter())


class ProducerBufferFullFilter(logging.Filter):
    """Turns faust's "producer buffer full" warning into a line that says what it means.

    At most one such line every 10 s; the ones left out are counted in the next.
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._last: float | None = None
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the buffer-full record, or drop it when one was logged lately."""
        size = faust_internals.producer_buffer_full_size(record)
        if size is None:
            return True
        now = self._clock()
        if self._last is not None and now - self._last < _BUFFER_FULL_EVERY:
            self._left_out += 1
            return False
        left_out, self._left_out, self._last = self._left_out, 0, now
        record.msg = (
            "The producer's buffer is full: %d records wait to be sent to the broker. "
            "Processing waits until they are sent; a slow or unreachable broker is the "
            "usual cause%s"
        )
        record.args = (size, f" ({left_out} more such waits in the last 10 s)" if left_out else "")
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def start_lines(engine: Dagger) -> list[str]:
    """The lines a worker logs as it starts: its API, broker, store and templates."""
    settings = engine.settings
    conf = engine.faust_app.conf
    if conf.web_enabled:
        api = f"HTTP API on http://{conf.web_bind}:{conf.web_port}"
        advertised = str(conf.canonical_url).rstrip("/")
        if advertised != f"http://{conf.web_bind}:{conf.web_port}":
            api += f" (other workers reach it at {advertised})"
        if settings.api_token is not None:
            api += "; it asks for the bearer token"
    else:
        api = "HTTP API off (web_enabled=False)"
    broker = (
        f"Broker {settings.broker}; engine topic {settings.tasks_topic} "
        f"({settings.kafka_partitions} partitions)"
    )
    if settings.aerospike is not None:
        hosts = ", ".join(f"{host[0]}:{host[1]}" for host in settings.aerospike.hosts)
        store = f"Store aerospike:// at {hosts or 'the given client'}, namespace "
        store += settings.aerospike.namespace
    elif settings.store == StoreEnum.ROCKSDB.value:
        store = f"Store rocksdb:// in {conf.tabledir}, with changelogs on the broker"
    else:
        store = f"Store {settings.store}, rebuilt from its changelogs on the broker at start"
    names = sorted(engine.template_dags)
    templates = (
        f"Templates ({len(names)}): {', '.join(names)}"
        if names
        else "Templates: none registered (this worker runs no workflow)"
    )
    return [api, broker, store, templates]


def log_start(engine: Dagger) -> None:
    """Log `start_lines` at info level."""
    for line in start_lines(engine):
        logger.info("%s", line)


def _level_number(level: int | str | None) -> int:
    if level is None:
        return logging.WARNING
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO
