"""The orders workflow of the integration tests, with no engine of its own."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG

_EXEC_LOG = os.environ.get("TEST_EXEC_LOG")
_SPANS = os.environ.get("TEST_HOOK_SPANS")
_SLEEP = float(os.environ.get("TEST_TASK_SLEEP", "0"))


class StepTask(ExecutorTask[str, str]):
    """Appends its name to the ``trail`` parameter, after optionally failing or sleeping."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        step = self.task_name.removesuffix("_executor_task")
        if _EXEC_LOG:
            with open(_EXEC_LOG, "a") as log:  # noqa: ASYNC230 - a tiny test-only append
                log.write(f"{self.root_id} {step} {os.getpid()}\n")
        if _SPANS:
            _span("begin", self.root_id)
        if _SLEEP:
            await asyncio.sleep(_SLEEP)
        if _SPANS:
            _span("end", self.root_id)
        if runtime_parameters.get("fail_at") == step:
            raise RuntimeError(f"{self.task_name} refused order {runtime_parameters['order_id']}")
        runtime_parameters.setdefault("trail", []).append(step)
        runtime_parameters[f"{step}_done"] = True


def _span(edge: str, instance_id: str) -> None:
    """Append ``<begin|end> <instance id>`` to the spans file: the order hooks overlap in."""
    assert _SPANS is not None
    with open(_SPANS, "a") as spans:
        spans.write(f"{edge} {instance_id}\n")


def build_orders_template(app: Dagger, template_name: str = "orders") -> ITemplateDAG:
    """Two processes (payment: validate, charge; shipping: reserve, ship) of StepTasks."""
    helper = DAGBuilderHelper(dagger_app=app)

    def process(name: str, tasks: list[str]) -> Any:
        chain = helper.build_and_link_tasks(
            [helper.generic_executor_task_builder(task_type=StepTask, name=task) for task in tasks]
        )
        return helper.generic_process_builder(process_name=name, root_task=chain)

    return helper.generic_template(
        template_name=template_name,
        root_process=helper.build_and_link_processes(
            [process("payment", ["validate", "charge"]), process("shipping", ["reserve", "ship"])]
        ),
    )
