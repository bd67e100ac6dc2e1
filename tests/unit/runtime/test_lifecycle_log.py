"""A worker logs one line per instance created, finished, failed, stopped or retried."""

from __future__ import annotations

import logging
import uuid

import pytest

from dagger.runtime._lifecycle_log import LOGGER_NAME
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit._workflows import OFFLINE_BROKER, FailingTask, RecordingTask, build_template


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER_NAME]


async def test_a_completed_instance_has_two_lines_and_none_per_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    template = build_template(
        engine, [("payment", [("a", RecordingTask), ("b", RecordingTask)])], name="orders"
    )
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        async with LocalEngine(engine):
            instance = await template.create_instance(
                uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
            )
    lines = _lines(caplog)

    assert len(lines) == 2, lines
    assert lines[0] == (
        f"Instance {instance.id} created (template orders, order_id=o-1, partition "
        f"{instance.owner_partition})"
    )
    assert lines[1].startswith(f"Instance {instance.id} completed (template orders, order_id=o-1")


async def test_a_failed_instance_says_why_and_a_retry_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    template = build_template(engine, [("payment", [("charge", FailingTask)])])
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        async with LocalEngine(engine):
            instance = await template.create_instance(
                uuid.uuid4(), "order_id", order_id="o-2", submit_task=True
            )
            await engine.retry_instance(instance.id)
    lines = _lines(caplog)

    assert lines[1].startswith(f"Instance {instance.id} failed (")
    assert "RuntimeError" in lines[1] and "boom" in lines[1], lines
    assert lines[2].startswith(f"Instance {instance.id} retried ("), lines
    assert lines[3].startswith(f"Instance {instance.id} failed ("), lines
    assert len(lines) == 4, lines


async def test_a_stopped_instance_has_its_line(caplog: pytest.LogCaptureFixture) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    template = build_template(engine, [("payment", [("a", RecordingTask)])])
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        async with LocalEngine(engine):
            instance = await template.create_instance(uuid.uuid4(), "order_id", order_id="o-3")
            await engine.stop_instance(instance)
    lines = _lines(caplog)

    assert lines[-1].startswith(f"Instance {instance.id} stopped ("), lines


async def test_nothing_is_built_above_info(caplog: pytest.LogCaptureFixture) -> None:
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    template = build_template(engine, [("payment", [("a", RecordingTask)])])
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        async with LocalEngine(engine):
            await template.create_instance(
                uuid.uuid4(), "order_id", order_id="o-4", submit_task=True
            )

    assert _lines(caplog) == []
