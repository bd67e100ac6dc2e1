"""Task classes and a small driver shared by the unit tests (no broker, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagger.core import _codec as codec
from dagger.core._effects import Effect, InstanceFinished, RunTask
from dagger.core._events import TaskFailed, TaskSucceeded
from dagger.core._step import step as core_step
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultTemplateDAGInstance,
    ExecutorTask,
    ITask,
    ITemplateDAGInstance,
)
from dagger.templates.template import IProcessTemplateDAGBuilder, ITemplateDAG

OFFLINE_BROKER = "kafka://127.0.0.1:9"
"""A broker URL nobody listens on: constructing an engine never connects."""


@dataclass
class SentInstance:
    """One call of ``Dagger._send_new_instance``."""

    instance: ITemplateDAGInstance[Any, Any]
    repartition: bool
    submit: bool


@dataclass
class OfflineEngine:
    """A constructed engine whose new instances are recorded instead of sent."""

    dagger: Dagger
    sent: list[SentInstance] = field(default_factory=list)


class RecordingTask(ExecutorTask[str, Any]):
    """Appends its name to ``runtime_parameters['ran']`` when it executes."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("ran", []).append(
            self.task_name.removesuffix("_executor_task")
        )


class FailingTask(ExecutorTask[str, Any]):
    """Raises ``RuntimeError('boom')``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        raise RuntimeError("boom")


class SelfCompletingTask(ExecutorTask[str, Any]):
    """Completes itself from inside ``execute`` (as a sensor's hook would)."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        await self.on_complete(workflow_instance)


class OrderInstance(DefaultTemplateDAGInstance):
    """A workflow instance type with fields of its own."""

    customer: str = ""
    priority: int = 0
    tags: list[str] = []


def build_template(
    engine: Dagger,
    processes: Sequence[tuple[str, Sequence[tuple[str, type[ITask[Any, Any]]]]]],
    *,
    name: str = "orders",
    template_type: type[ITemplateDAGInstance[Any, Any]] = DefaultTemplateDAGInstance,
) -> ITemplateDAG:
    """Build a template of ``processes``: (name, [(task name, task class), ...]) pairs.

    A process with no tasks is built without a root task.
    """
    helper = DAGBuilderHelper(dagger_app=engine)
    process_builders: list[IProcessTemplateDAGBuilder] = []
    for process_name, tasks in processes:
        if not tasks:
            process_builders.append(ProcessTemplateDagBuilder(engine).set_name(process_name))
            continue
        root = helper.build_and_link_tasks(
            [
                helper.generic_executor_task_builder(task_type=task_type, name=task_name)
                for task_name, task_type in tasks
            ]
        )
        process_builders.append(
            helper.generic_process_builder(process_name=process_name, root_task=root)
        )
    return helper.generic_template(
        template_name=name,
        root_process=helper.build_and_link_processes(process_builders),
        template_type=template_type,
    )


def task_named(instance: ITemplateDAGInstance[Any, Any], name: str) -> ITask[Any, Any]:
    """Return the one task or process of ``instance`` called ``name``.

    ``DAGBuilderHelper`` names executor tasks ``<name>_executor_task``, as the original did.
    """
    found = [
        task
        for task in instance.tasks.values()
        if task.task_name in (name, f"{name}_executor_task")
    ]
    assert len(found) == 1, f"expected one task named {name!r}, found {len(found)}"
    return found[0]


def round_trip(instance: ITemplateDAGInstance[Any, Any]) -> ITemplateDAGInstance[Any, Any]:
    """Return a freshly decoded copy, as the engine works on between events."""
    return codec.decode(codec.encode(instance))


async def run_effects(
    instance: ITemplateDAGInstance[Any, Any], effects: list[Effect], ran: list[str]
) -> tuple[ITemplateDAGInstance[Any, Any], list[Effect]]:
    """Carry out ``effects`` as the owner loop does; return the instance and final effects.

    Every RunTask executes the task, then applies its outcome to a decoded copy, so the
    state each step produces must survive the codec. ``ran`` receives the executed ids.
    """
    finished: list[Effect] = []
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if isinstance(effect, InstanceFinished):
            finished.append(effect)
            continue
        assert isinstance(effect, RunTask)
        task = instance.get_task(effect.task_id)
        ran.append(task.id)
        try:
            await task.execute(
                runtime_parameters=instance.runtime_parameters, workflow_instance=instance
            )
        except Exception as exc:
            outcome: TaskSucceeded | TaskFailed = TaskFailed(task.id, type(exc).__name__, str(exc))
        else:
            outcome = TaskSucceeded(task.id)
        intents = instance.take_intents()
        instance = round_trip(instance)
        for intent in intents:
            queue.extend(core_step(instance, intent, now=1.0).effects)
        queue.extend(core_step(instance, outcome, now=1.0).effects)
    return instance, finished
