"""``trigger`` stages: start another declarative workflow as a child and wait for its end.

The stage is three tasks: ``<id>:start`` renders the params and creates the child,
``<id>`` (a listener on the engine's task update topic) waits for the update document
that shows the child ended, and ``<id>:check`` fails the stage unless the child
COMPLETED. The child's id is derived from the parent's id and the stage (and, in a
``foreach`` or a matrix, the item), so running ``<id>:start`` again after a crash creates
nothing new: the engine drops a ``created`` event for an id it already has. The child
carries a marker runtime parameter (:data:`PARENT`) naming the key its parent waits
under; update documents of other instances give the listener no key and are ignored.
Waiting is a listener like any other: it survives a worker's SIGKILL, and an end shown
before the listener registered is held for ``early_message_window`` seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dagger.declarative._errors import StageFailed
from dagger.declarative._runs import Item, Run, run_of
from dagger.declarative._stages import StageTask
from dagger.declarative._template import DeclarativeTemplate
from dagger.declarative._templating import render
from dagger.service.services import Dagger
from dagger.tasks._status import TERMINAL_STATUSES
from dagger.tasks.task import ITemplateDAGInstance, KafkaListenerTask, TaskLookupKey
from dagger.templates._workflow_templates import TemplateDAG

PARENT = ":parent"
"""The child's runtime parameter naming its parent: ``{"id": ..., "key": ...}``."""

_NAMESPACE = uuid.UUID("5f1d3c1e-7c1b-4c55-9d6a-2f0e8f3b7a10")


def child_id(parent_id: str, run: Run, item: Item | None) -> str:
    """The id of the child the stage starts: the same for the same parent, stage and item."""
    return str(uuid.uuid5(_NAMESPACE, f"{parent_id}/{run.parameter('trigger', item)}"))


class TriggerStart(StageTask):
    """Creates the child instance (once) and keeps its id where the listener waits on it."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        assert workflow_instance is not None and run.stage is not None
        name = self.body(run)["trigger"]
        template = Dagger.app.template_dags.get(name)
        if not isinstance(template, DeclarativeTemplate):
            raise StageFailed(f"trigger {run.stage.id}: no declarative workflow {name!r} is loaded")
        context = run.context(runtime_parameters, self.stage_item)
        values: dict[str, Any] = template.parameters(
            render(self.body(run).get("params") or {}, context)
        )
        key = run.parameter("trigger", self.stage_item)
        child = child_id(workflow_instance.id, run, self.stage_item)
        runtime_parameters[key] = child
        values[PARENT] = {"id": workflow_instance.id, "key": key}
        # The params were checked above, and the marker is no param of the child's: create
        # it as any template does, past the declarative check of the params.
        await TemplateDAG.create_instance(template, child, submit_task=True, **values)


class ChildWait(KafkaListenerTask[str, Any]):
    """Waits on the task update topic for the document of its child's end."""

    correlatable_key = "dagger_trigger"
    stage_ref: str | None = None
    stage_item: dict[str, Any] | None = None

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        """The key its parent waits under, for the document of a child that ended."""
        if not isinstance(payload, Mapping) or payload.get("status") not in TERMINAL_STATUSES:
            return []
        parameters = payload.get("runtime_parameters")
        parent = parameters.get(PARENT) if isinstance(parameters, Mapping) else None
        if not isinstance(parent, Mapping) or not parent.get("key") or not payload.get("id"):
            return []
        return [(str(parent["key"]), str(payload["id"]))]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        """Keep the child's outcome and its jobs' outputs as the stage's outputs."""
        run = run_of(self.stage_ref)
        document = args[0] if args and isinstance(args[0], Mapping) else {}
        parameters = document.get("runtime_parameters") or {}
        outputs = {
            "workflow": _child_workflow(run),
            "id": document.get("id"),
            "status": document.get("status"),
            "error_type": document.get("error_type"),
            "error_message": document.get("error_message"),
            "jobs": parameters.get("jobs", {}) if isinstance(parameters, Mapping) else {},
        }
        run.record(runtime_parameters, outputs, self.stage_item)
        return True


def _child_workflow(run: Run) -> str:
    """The name of the workflow the stage starts."""
    assert run.stage is not None
    return str(run.stage.body["trigger"])


class TriggerCheck(StageTask):
    """Fails the stage unless the child COMPLETED."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        assert run.stage is not None
        outputs = run.outputs(runtime_parameters, self.stage_item) or {}
        if outputs.get("status") != "COMPLETED":
            why = outputs.get("error_message") or outputs.get("error_type") or "no error given"
            raise StageFailed(
                f"trigger {run.stage.id}: workflow {_child_workflow(run)!r} (instance "
                f"{outputs.get('id')}) ended {outputs.get('status')}: {why}"
            )
