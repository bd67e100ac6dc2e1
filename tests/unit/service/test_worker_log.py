"""What a worker logs as it starts, and the library loggers it quiets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest

from dagger.exceptions.exceptions import ConfigurationError
from dagger.service import _worker_log
from dagger.service._worker import run_worker
from dagger.service._worker_log import (
    LIBRARY_LOG_LEVEL_ENV,
    LIBRARY_LOGGERS,
    ProducerBufferFullFilter,
    library_log_level,
    quiet_libraries,
    start_lines,
)
from dagger.service.services import Dagger
from tests.unit._workflows import OFFLINE_BROKER, RecordingTask, build_template

_TOUCHED = (*LIBRARY_LOGGERS, "faust.worker", "faust.transport.producer")


@pytest.fixture(autouse=True)
def _library_loggers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give each test the library loggers unset, and put them back after it."""
    monkeypatch.delenv(LIBRARY_LOG_LEVEL_ENV, raising=False)
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).filters[:])
        for name in _TOUCHED
    }
    for name in _TOUCHED:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name, (level, filters) in saved.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).filters[:] = filters


@pytest.mark.parametrize(
    ("worker_level", "env", "expected"),
    [
        ("info", None, logging.WARNING),
        ("warning", None, logging.WARNING),
        ("debug", None, logging.DEBUG),
        (logging.DEBUG, None, logging.DEBUG),
        ("info", "info", logging.INFO),
        ("debug", "error", logging.ERROR),
    ],
)
def test_the_libraries_log_warnings_unless_asked_for_more(
    worker_level: Any, env: str | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is not None:
        monkeypatch.setenv(LIBRARY_LOG_LEVEL_ENV, env)

    assert library_log_level(worker_level) == expected


def test_an_unknown_library_level_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LIBRARY_LOG_LEVEL_ENV, "loud")

    with pytest.raises(ConfigurationError, match="DAGGER_LIBRARY_LOG_LEVEL must be a log level"):
        library_log_level("info")


def test_quieting_keeps_faust_workers_own_lines_and_the_programs_levels() -> None:
    logging.getLogger("aiokafka").setLevel(logging.INFO)  # the program asked for it

    quiet_libraries("info")

    assert logging.getLogger("faust").level == logging.WARNING
    assert logging.getLogger("mode").level == logging.WARNING
    assert not logging.getLogger("faust.tables.recovery").isEnabledFor(logging.INFO)
    assert logging.getLogger("aiokafka").level == logging.INFO
    assert logging.getLogger("faust.worker").isEnabledFor(logging.INFO)


def _buffer_full(size: int) -> logging.LogRecord:
    return logging.LogRecord(
        "faust.transport.producer", logging.WARNING, __file__, 1,
        f"producer buffer full size {size}", None, None,
    )  # fmt: skip


def test_a_full_producer_buffer_is_one_clear_warning_every_ten_seconds() -> None:
    now = [100.0]
    full = ProducerBufferFullFilter(clock=lambda: now[0])
    first = _buffer_full(150)

    assert full.filter(first) is True
    assert first.getMessage() == (
        "The producer's buffer is full: 150 records wait to be sent to the broker. "
        "Processing waits until they are sent; a slow or unreachable broker is the usual cause"
    )
    assert first.levelno == logging.WARNING
    assert full.filter(_buffer_full(160)) is False
    now[0] = 111.0
    later = _buffer_full(170)
    assert full.filter(later) is True
    assert later.getMessage().endswith("(1 more such waits in the last 10 s)")


def test_other_producer_lines_pass_unchanged() -> None:
    record = logging.LogRecord(
        "faust.transport.producer", logging.WARNING, __file__, 1, "other %s", ("x",), None
    )

    assert ProducerBufferFullFilter().filter(record) is True
    assert record.getMessage() == "other x"


def test_quieting_installs_the_buffer_filter_once() -> None:
    quiet_libraries("info")
    quiet_libraries("info")

    filters = logging.getLogger("faust.transport.producer").filters
    assert sum(isinstance(f, ProducerBufferFullFilter) for f in filters) == 1


def test_the_start_lines_name_the_api_the_broker_the_store_and_the_templates(
    tmp_path: Path,
) -> None:
    engine = Dagger(
        broker=OFFLINE_BROKER, datadir=tmp_path, tasks_topic="orders-tasks", kafka_partitions=3
    )
    for name in ("returns", "orders"):
        Dagger.register_template(name)(
            lambda name: build_template(engine, [("payment", [("a", RecordingTask)])], name=name)
        )
    conf = engine.faust_app.conf

    api, broker, store, templates = start_lines(engine)

    assert api.startswith(f"HTTP API on http://{conf.web_bind}:{conf.web_port}")
    assert broker == f"Broker {OFFLINE_BROKER}; engine topic orders-tasks (3 partitions)"
    assert store.startswith(f"Store rocksdb:// in {tmp_path}")
    assert templates == "Templates (2): orders, returns"


def test_the_start_lines_of_a_memory_store_without_templates() -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://", api_token="secret")

    api, _, store, templates = start_lines(engine)

    assert api.endswith("; it asks for the bearer token")
    assert store.startswith("Store memory://")
    assert templates.startswith("Templates: none registered")


def test_the_worker_quiets_the_libraries_and_logs_the_start_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    seen: dict[str, Any] = {}

    def start_only(worker: Any) -> None:
        asyncio.run(worker.on_execute())
        seen["faust level"] = logging.getLogger("faust").level
        with caplog.at_level(logging.INFO, logger="dagger.worker"):
            monkeypatch.setattr(faust.Worker, "on_startup_finished", _nothing)
            asyncio.run(worker.on_startup_finished())

    monkeypatch.setattr(faust.Worker, "execute_from_commandline", start_only)
    monkeypatch.setattr(faust.Worker, "on_execute", _nothing)
    run_worker(engine, loglevel="info", override_logging=False)

    assert seen["faust level"] == logging.WARNING
    lines = [r.getMessage() for r in caplog.records if r.name == "dagger.worker"]
    assert lines == _worker_log.start_lines(engine)


async def _nothing(self: Any) -> None:
    return None
