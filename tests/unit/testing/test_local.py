"""LocalEngine: a user's workflows run in memory through the worker's own owner loop."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from dagger.testing import LocalEngine
from tests.unit._workflows import FailingTask, RecordingTask, build_template

OFFLINE = "kafka://127.0.0.1:9"
PROCESSES = [
    ("payment", [("a", RecordingTask), ("b", RecordingTask)]),
    ("shipping", [("c", RecordingTask)]),
]


async def test_an_instance_runs_to_completion_without_kafka() -> None:
    engine = Dagger(broker=OFFLINE, store="memory://")
    template = build_template(engine, PROCESSES)
    async with LocalEngine(engine) as local:
        instance = await template.create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", submit_task=True
        )
        stored = local.get_instance(instance.id)
    assert stored is not None
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["a", "b", "c"]
    assert [update["status"] for update in local.updates] == ["COMPLETED"]
    assert {task["name"]: task["status"] for task in local.updates[0]["tasks"]} == {
        "payment": "COMPLETED",
        "shipping": "COMPLETED",
        "a_executor_task": "COMPLETED",
        "b_executor_task": "COMPLETED",
        "c_executor_task": "COMPLETED",
    }


async def test_create_then_submit_and_callbacks_run_as_on_a_worker() -> None:
    seen: list[str] = []

    async def callback(instance: ITemplateDAGInstance[Any, Any]) -> None:
        seen.append(instance.status.code)

    engine = Dagger(broker=OFFLINE, store="memory://", task_update_callbacks=[callback])
    template = build_template(engine, PROCESSES)
    async with LocalEngine(engine) as local:
        instance = await template.create_instance(
            uuid.uuid4(), "order_id", order_id="o-2", repartition=False
        )
        assert local.get_instance(instance.id).status.code == "NOT_STARTED"  # type: ignore[union-attr]
        await engine.submit(instance)
        await engine.submit(instance)
    assert local.get_instance(instance.id).status.code == "COMPLETED"  # type: ignore[union-attr]
    assert seen == ["NOT_STARTED", "COMPLETED"]


async def test_a_failing_task_is_recorded() -> None:
    engine = Dagger(broker=OFFLINE, store="memory://")
    template = build_template(
        engine, [("payment", [("a", RecordingTask), ("charge", FailingTask)])]
    )
    async with LocalEngine(engine) as local:
        instance = await template.create_instance(
            uuid.uuid4(), "order_id", order_id="o-3", submit_task=True
        )
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "FAILURE"
    charge = next(
        task for task in stored.tasks.values() if task.task_name == "charge_executor_task"
    )
    assert charge.status.code == "FAILURE" and charge.error_type


async def test_the_engine_goes_back_to_kafka_after_the_block() -> None:
    engine = Dagger(broker=OFFLINE, store="memory://")
    async with LocalEngine(engine):
        with pytest.raises(RuntimeError, match="already active"):
            await LocalEngine(engine).__aenter__()
    assert engine._local_sink is None
