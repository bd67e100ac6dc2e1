"""The orders workflow of the HTTP API tests: a step fails while its service is "down".

``reserve`` -> ``charge`` -> ``ship``; a step raises while a file named after it exists in
the directory ``TEST_OUTAGE_DIR``, so a test can make an instance fail, remove the file
(the service is back) and retry it, or while its name is in the runtime parameter
``down``, so a rerun with that parameter edited goes through. Each step appends its name
to ``trail``.
"""

from __future__ import annotations

import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG


class ServiceStep(ExecutorTask[str, str]):
    """Raises while ``$TEST_OUTAGE_DIR/<step>`` exists or ``down`` names the step; appends
    the step to ``trail``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        step = self.task_name.removesuffix("_executor_task")
        outage = os.environ.get("TEST_OUTAGE_DIR")
        if outage and os.path.exists(os.path.join(outage, step)):  # noqa: ASYNC240 - tiny test check
            raise ConnectionError(f"{step} service unavailable")
        if step in runtime_parameters.get("down", []):
            raise ConnectionError(f"{step} service is down (parameter 'down')")
        runtime_parameters.setdefault("trail", []).append(step)


def build_api_orders(app: Dagger, template_name: str = "orders") -> ITemplateDAG:
    """One process of three ServiceSteps."""
    helper = DAGBuilderHelper(dagger_app=app)
    chain = helper.build_and_link_tasks(
        [
            helper.generic_executor_task_builder(task_type=ServiceStep, name=name)
            for name in ("reserve", "charge", "ship")
        ]
    )
    process = helper.generic_process_builder(process_name="order", root_task=chain)
    return helper.generic_template(
        template_name=template_name, root_process=helper.build_and_link_processes([process])
    )
