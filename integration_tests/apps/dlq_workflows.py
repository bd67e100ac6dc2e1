"""A listener workflow whose ``on_message`` fails while a fault file exists.

``faulty``: one listener on ``TEST_LISTEN_TOPIC`` keyed on ``ref``, then an executor.
While the file named by ``TEST_FAULT_FILE`` exists, ``on_message`` raises, so the
engine sends the message to the dead-letter topic; once the file is removed (the "fix"),
a reinjected message completes the listener.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import KafkaListenerTask, TaskLookupKey
from dagger.templates.template import ITemplateDAG
from integration_tests.apps.listener_workflows import Finish


class FaultyListener(KafkaListenerTask[str, str]):
    """Keyed on ``ref``; raises while the fault file exists, else completes."""

    correlatable_key = "ref"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("ref", payload["ref"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        fault = os.environ.get("TEST_FAULT_FILE")
        if fault and await asyncio.to_thread(os.path.exists, fault):
            raise RuntimeError(f"the fault is on: cannot handle {args[0]['ref']}")
        runtime_parameters["handled"] = runtime_parameters.get("handled", 0) + 1
        return True


def build_faulty_template(app: Dagger, topic: str) -> dict[str, ITemplateDAG]:
    """Build the ``faulty`` workflow on ``app``, listening on ``topic``."""
    helper = DAGBuilderHelper(dagger_app=app)
    tasks = helper.build_and_link_tasks(
        [
            helper.generic_listener_task_builder(
                topic=topic, task_type=FaultyListener, process_name="wait", value_serializer="json"
            ),
            helper.generic_executor_task_builder(task_type=Finish, name="finish"),
        ]
    )
    process = helper.generic_process_builder(process_name="faulty", root_task=tasks)
    template = helper.generic_template(
        template_name="faulty", root_process=helper.build_and_link_processes([process])
    )
    return {"faulty": template}
