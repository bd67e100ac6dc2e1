"""LocalEngine runs a graph of needs through the worker's owner loop, timers and all."""

from __future__ import annotations

import uuid
from typing import Any

from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.templates.template import (
    DefaultTaskTemplateBuilder,
    TaskTemplate,
    TriggerTaskTemplateBuilder,
)
from dagger.testing import LocalEngine
from tests.unit._timed_workflows import Alarm
from tests.unit._workflows import RecordingTask

OFFLINE = "kafka://127.0.0.1:9"
START = 1_000_000.0


def process(engine: Dagger, name: str, root: TaskTemplate, needs: list[str]) -> Any:
    return (
        ProcessTemplateDagBuilder(engine)
        .set_name(name)
        .set_root_task(root)
        .set_needs(needs)
        .build()
    )


def alarm(engine: Dagger, name: str, key: str) -> TaskTemplate:
    return (
        TriggerTaskTemplateBuilder(engine)
        .set_name(name)
        .set_type(Alarm)
        .set_time_to_execute_lookup_key(key)
        .build()
    )


def executor(engine: Dagger, name: str) -> TaskTemplate:
    return DefaultTaskTemplateBuilder(engine).set_name(name).set_type(RecordingTask).build()


async def test_a_diamond_of_processes_waits_on_both_timers_at_once_then_joins() -> None:
    engine = Dagger(broker=OFFLINE, store="memory://")
    template = (
        DefaultTemplateBuilder(engine)
        .set_name("diamond")
        .set_root(process(engine, "a", executor(engine, "a"), []))
        .add_process(process(engine, "b", alarm(engine, "b", "b_at"), ["a"]))
        .add_process(process(engine, "c", alarm(engine, "c", "c_at"), ["a"]))
        .add_process(process(engine, "d", executor(engine, "d"), ["b", "c"]))
        .build()
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(
            uuid.uuid4(), b_at=START + 20, c_at=START + 10, submit_task=True
        )
        stored = local.get_instance(instance.id)
        assert stored is not None
        by_name = {task.task_name: task for task in stored.tasks.values()}
        # b and c wait side by side, each on its own timer.
        assert by_name["b"].status.code == by_name["c"].status.code == "EXECUTING"
        assert by_name["d"].status.code == "NOT_STARTED"
        assert await local.advance(10) == 1
        stored = local.get_instance(instance.id)
        assert stored is not None
        assert stored.runtime_parameters.get("fired") == ["c"]
        assert {t.task_name: t.status.code for t in stored.tasks.values()}["d"] == "NOT_STARTED"
        assert await local.advance(10) == 1
    stored = local.get_instance(instance.id)
    assert stored is not None
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["fired"] == ["c", "b"]
    assert stored.runtime_parameters["ran"] == ["a", "d"]
    assert local.updates[-1]["status"] == "COMPLETED"
