"""Listener workflows the integration tests drive, built on any engine.

- ``waiter``: one listener on ``TEST_LISTEN_TOPIC`` keyed on ``ref``. ``on_message``
  counts its calls in ``calls``; it raises when the payload has ``explode``; when the
  payload has ``next_ref`` it re-keys itself to it and keeps waiting; otherwise it
  completes unless ``done`` is false.
- ``skipper``: ``first`` (on topic A, keyed on ``ref``) then ``second`` (topic B,
  ``allow_skip_to``), then an executor.
- ``reprocessor``: ``first`` (topic A, ``reprocess_on_message``) then ``second`` (topic B).
"""

from __future__ import annotations

from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance, KafkaListenerTask, TaskLookupKey
from dagger.templates.template import ITemplateDAG


class RefListener(KafkaListenerTask[str, str]):
    """Keyed on ``ref``; see the module docstring for what ``on_message`` does."""

    correlatable_key = "ref"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("ref", payload["ref"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        payload = args[0]
        if payload.get("explode"):
            raise RuntimeError(f"on_message refused {payload['ref']}")
        calls = runtime_parameters.setdefault("calls", {})
        calls[self.task_name] = calls.get(self.task_name, 0) + 1
        runtime_parameters.setdefault("seen", []).append(payload.get("note", payload["ref"]))
        if payload.get("next_ref"):
            runtime_parameters["ref"] = payload["next_ref"]
            return False
        return bool(payload.get("done", True))


class Finish(ExecutorTask[str, str]):
    """Marks the end of the workflow."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters["finished"] = True


def _template(app: Dagger, name: str, listeners: list[dict[str, Any]]) -> ITemplateDAG:
    helper = DAGBuilderHelper(dagger_app=app)
    builders: list[Any] = []
    for listener in listeners:
        builder = helper.generic_listener_task_builder(
            topic=listener["topic"],
            task_type=RefListener,
            process_name=listener["name"],
            allow_skip_to=listener.get("allow_skip_to", False),
            reprocess_on_message=listener.get("reprocess", False),
            value_serializer="json",
        )
        builders.append(builder)
    builders.append(helper.generic_executor_task_builder(task_type=Finish, name="finish"))
    process = helper.generic_process_builder(
        process_name=name, root_task=helper.build_and_link_tasks(builders)
    )
    return helper.generic_template(
        template_name=name, root_process=helper.build_and_link_processes([process])
    )


def build_listener_templates(app: Dagger, topic_a: str, topic_b: str) -> dict[str, ITemplateDAG]:
    """Build the three workflows of this module on ``app``."""
    return {
        "waiter": _template(app, "waiter", [{"name": "wait", "topic": topic_a}]),
        "skipper": _template(
            app,
            "skipper",
            [
                {"name": "first", "topic": topic_a},
                {"name": "second", "topic": topic_b, "allow_skip_to": True},
            ],
        ),
        "reprocessor": _template(
            app,
            "reprocessor",
            [
                {"name": "first", "topic": topic_a, "reprocess": True},
                {"name": "second", "topic": topic_b},
            ],
        ),
    }
