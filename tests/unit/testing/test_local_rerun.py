"""Rerunning an instance from a node in a LocalEngine: the event through the real owner.

``Dagger.rerun_instance`` sends a ``RerunRequested`` event to the instance's owner, which
decodes the stored instance, steps it and stores the result, as a worker does.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dagger.exceptions.exceptions import TaskInvalidState
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import DefaultTaskTemplateBuilder, ITemplateDAG
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine, unique
from tests.unit._workflows import task_named


class Step(ExecutorTask[str, Any]):
    """Counts its runs in ``runs``; fails while ``limit`` is below the ``amount``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runs = runtime_parameters.setdefault("runs", {})
        runs[self.task_name] = runs.get(self.task_name, 0) + 1
        if self.task_name == "charge" and runtime_parameters["limit"] < 10:
            raise ValueError(f"limit {runtime_parameters['limit']} is below the amount")


def _template(engine: Dagger) -> ITemplateDAG:
    helper = DAGBuilderHelper(dagger_app=engine)
    tasks: list[Any] = [
        DefaultTaskTemplateBuilder(engine).set_name(name).set_type(Step)
        for name in ("reserve", "charge")
    ]
    process = helper.generic_process_builder(
        process_name="order", root_task=helper.build_and_link_tasks(tasks)
    )
    return helper.generic_template(
        template_name=unique("rerun"), root_process=helper.build_and_link_processes([process])
    )


async def _failed(local: LocalEngine) -> str:
    instance = await _template(local.engine).create_instance(
        uuid.uuid4(), "order_id", submit_task=True, order_id="o-1", limit=5
    )
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "FAILURE"
    return instance.id


async def test_a_rerun_from_the_failed_task_with_an_edited_parameter_completes() -> None:
    async with LocalEngine(new_engine()) as local:
        instance_id = await _failed(local)

        await local.engine.rerun_instance(instance_id, "charge", {"limit": 20})
        stored = local.get_instance(instance_id)

    assert stored is not None and stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["limit"] == 20
    assert stored.runtime_parameters["runs"] == {"reserve": 1, "charge": 2}
    assert task_named(stored, "charge").status.code == "COMPLETED"


async def test_a_rerun_given_the_instance_is_checked_before_it_is_sent() -> None:
    async with LocalEngine(new_engine()) as local:
        instance_id = await _failed(local)
        stored = local.get_instance(instance_id)
        assert stored is not None

        with pytest.raises(TaskInvalidState, match="partition key"):
            await local.engine.rerun_instance(stored, "charge", {"order_id": "o-2"})
        with pytest.raises(ValueError, match="id or name of the node"):
            await local.engine.rerun_instance(stored, "")
        await local.engine.rerun_instance(stored, task_named(stored, "reserve").id, {"limit": 10})
        stored = local.get_instance(instance_id)

    assert stored is not None and stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["runs"] == {"reserve": 2, "charge": 2}
