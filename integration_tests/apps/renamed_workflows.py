"""A listener class renamed between two versions of the code, chosen by TEST_CLASS_VERSION.

- ``before``: the listener class is ``AwaitReply``;
- ``renamed``: it is ``AwaitAnswer``, and nothing says it was ``AwaitReply``;
- ``aliased``: it is ``AwaitAnswer`` with ``@register_alias`` naming ``AwaitReply``.

The ``replies`` workflow waits on ``TEST_LISTEN_TOPIC`` for ``{"ref": ...}``, then finishes.
"""

from __future__ import annotations

import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import KafkaListenerTask, TaskLookupKey, register_alias
from dagger.templates.template import ITemplateDAG
from integration_tests.apps.listener_workflows import Finish

OLD_PATH = f"{__name__}.AwaitReply"
VERSION = os.environ.get("TEST_CLASS_VERSION", "before")


class _Listener(KafkaListenerTask[str, str]):
    """Keyed on ``ref``; records the message it got and completes."""

    correlatable_key = "ref"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("ref", payload["ref"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["heard"] = args[0].get("note")
        return True


if VERSION == "before":

    class AwaitReply(_Listener):
        """The listener, under its first name."""

    listener_class: type[_Listener] = AwaitReply
else:

    class AwaitAnswer(_Listener):
        """The same listener, renamed."""

    if VERSION == "aliased":
        register_alias(OLD_PATH)(AwaitAnswer)
    listener_class = AwaitAnswer


def build_replies(app: Dagger, topic: str) -> ITemplateDAG:
    """The ``replies`` workflow: the listener, then ``finish``."""
    helper = DAGBuilderHelper(dagger_app=app)
    chain = helper.build_and_link_tasks(
        [
            helper.generic_listener_task_builder(
                topic=topic, task_type=listener_class, process_name="wait", value_serializer="json"
            ),
            helper.generic_executor_task_builder(task_type=Finish, name="finish"),
        ]
    )
    process = helper.generic_process_builder(process_name="wait", root_task=chain)
    return helper.generic_template(
        template_name="replies", root_process=helper.build_and_link_processes([process])
    )
