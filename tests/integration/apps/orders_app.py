"""A 2-process, 4-task workflow whose behaviour the tests steer through the environment.

- ``DAGGER_BROKER``: the broker (read by Dagger itself).
- ``TEST_APP_ID``, ``TEST_STORE``, ``TEST_DATADIR``, ``TEST_PARTITIONS``,
  ``TEST_UPDATE_TOPIC``: engine settings.
- ``TEST_EXEC_LOG``: a file each ``execute`` appends ``instance task pid`` to.
- ``TEST_TASK_SLEEP``: seconds each task sleeps (to keep instances in flight).
A runtime parameter ``fail_at`` names a task that raises.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG

engine = Dagger(
    application_name=os.environ.get("TEST_APP_ID", "dagger-test"),
    store=os.environ.get("TEST_STORE", "memory://"),
    datadir=os.environ.get("TEST_DATADIR"),
    kafka_partitions=int(os.environ.get("TEST_PARTITIONS", "4")),
    task_update_topic=os.environ.get("TEST_UPDATE_TOPIC", "dagger_test_updates"),
    tasks_topic=os.environ.get("TEST_TASKS_TOPIC", "dagger_task_topic"),
)

_EXEC_LOG = os.environ.get("TEST_EXEC_LOG")
_SLEEP = float(os.environ.get("TEST_TASK_SLEEP", "0"))


class StepTask(ExecutorTask[str, str]):
    """Appends its name to the ``trail`` parameter, after optionally failing or sleeping."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        if _EXEC_LOG:
            with open(_EXEC_LOG, "a") as log:
                log.write(f"{self.root_id} {self.task_name} {os.getpid()}\n")
        if _SLEEP:
            await asyncio.sleep(_SLEEP)
        if runtime_parameters.get("fail_at") == self.task_name:
            raise RuntimeError(f"{self.task_name} refused order {runtime_parameters['order_id']}")
        runtime_parameters.setdefault("trail", []).append(self.task_name)
        runtime_parameters[f"{self.task_name}_done"] = True


@Dagger.register_template("orders")
def orders_template(template_name: str) -> ITemplateDAG:
    helper = DAGBuilderHelper(dagger_app=engine)

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
