"""Decision, parallel, dynamic and stoppable workflows shared by the control-flow tests.

Every task records what it did in the runtime parameters, so the stored instance tells
what ran: ``ran`` (executors, see :class:`tests.unit._workflows.RecordingTask`), ``heard``
(listeners), ``stopped`` (stop hooks). Task names are used as given (no suffixes), so
:func:`tests.unit._workflows.task_named` finds them by the name passed here. Nothing here
talks to Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagger.core._effects import (
    Effect,
    InstanceFinished,
    RunDecision,
    RunStopHook,
    RunTask,
)
from dagger.core._events import TaskDecided, TaskFailed, TaskSucceeded
from dagger.core._step import step as core_step
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks._hook_context import hook_instance, running_hook
from dagger.tasks.task import (
    DecisionTask,
    ExecutorTask,
    ITask,
    ITemplateDAGInstance,
    KafkaListenerTask,
    ParallelCompositeTask,
    TaskLookupKey,
    TaskOperator,
)
from dagger.templates.template import (
    DecisionTaskTemplateBuilder,
    DefaultTaskTemplateBuilder,
    IProcessTemplateDAGBuilder,
    ITemplateDAG,
    KafkaListenerTaskTemplateBuilder,
    ParallelCompositeTaskTemplateBuilder,
    TaskTemplate,
    TriggerTaskTemplateBuilder,
)
from tests.unit._listener_workflows import unique
from tests.unit._timed_workflows import Alarm
from tests.unit._workflows import RecordingTask, round_trip


class Route(DecisionTask[str, Any]):
    """Runs the branch named by ``runtime_parameters['route']``; none when it is None."""

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        route = runtime_parameters.get("route")
        return None if route is None else self.branch(route)


class RawRoute(DecisionTask[str, Any]):
    """Returns ``runtime_parameters['choice']`` as it is (a name, an id or anything)."""

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        choice: str | None = runtime_parameters.get("choice")
        return choice


class BrokenRoute(DecisionTask[str, Any]):
    """Raises ``LookupError('no route')``."""

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        raise LookupError("no route")


class StoppingRoute(DecisionTask[str, Any]):
    """Stops its workflow from inside ``evaluate``, then chooses its first branch."""

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        instance = hook_instance()
        assert instance is not None
        await instance.stop(instance.runtime_parameters, instance)
        return self.next_dags[0]


class Fanout(ParallelCompositeTask[str, Any]):
    """A user subclass of the parallel composite."""


class Wait(KafkaListenerTask[str, Any]):
    """Waits for ``{"order_id": ...}``; completes unless the message says ``"done": false``.

    Appends its name to ``heard`` per message and to ``stopped`` when stopped.
    """

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters.setdefault("heard", []).append(self.task_name)
        return bool(args[0].get("done", True))

    async def stop(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("stopped", []).append(self.task_name)


class BrokenStopWait(Wait):
    """A :class:`Wait` whose ``stop`` hook raises after recording that it ran."""

    async def stop(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        await super().stop(runtime_parameters, workflow_instance)
        raise RuntimeError("cannot release the lock")


class StoppingWait(Wait):
    """A :class:`Wait` whose ``on_message`` stops its workflow from inside the hook."""

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters.setdefault("heard", []).append(self.task_name)
        instance = hook_instance()
        assert instance is not None
        await instance.stop(runtime_parameters, instance)
        return True


class Recorder(ExecutorTask[str, Any]):
    """Like :class:`RecordingTask`, and its ``stop`` hook appends to ``stopped``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("ran", []).append(self.task_name)

    async def stop(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("stopped", []).append(self.task_name)


class StopWorkflow(Recorder):
    """Stops its whole workflow from inside ``execute``, then records that it ran on."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        assert workflow_instance is not None
        await workflow_instance.stop(runtime_parameters, workflow_instance)
        runtime_parameters.setdefault("ran", []).append(self.task_name)


class StopParent(Recorder):
    """Stops the composite or process it belongs to from inside ``execute``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        assert workflow_instance is not None and self.parent_id is not None
        parent = workflow_instance.get_task(self.parent_id)
        await parent.stop(runtime_parameters, workflow_instance)
        runtime_parameters.setdefault("ran", []).append(self.task_name)


# -- builders ----------------------------------------------------------------------------


def step(
    engine: Dagger,
    name: str,
    *after: TaskTemplate,
    task_type: type[ITask[Any, Any]] = RecordingTask,
) -> TaskTemplate:
    """An executor named ``name`` (appends ``name`` to ``ran``), followed by ``after``."""
    builder = DefaultTaskTemplateBuilder(engine).set_name(name).set_type(task_type)
    for template in after:
        builder.set_next(template)
    return builder.build()


def chain(engine: Dagger, *names: str, task_type: type[ITask[Any, Any]] = RecordingTask) -> Any:
    """Executors ``names`` run one after the other; returns the first one's template."""
    template: TaskTemplate | None = None
    for name in reversed(names):
        template = step(engine, name, *([template] if template else []), task_type=task_type)
    assert template is not None
    return template


def alarm(engine: Dagger, name: str, *after: TaskTemplate) -> TaskTemplate:
    """An :class:`Alarm` named ``name`` due at ``runtime_parameters['at']``."""
    builder = (
        TriggerTaskTemplateBuilder(engine)
        .set_name(name)
        .set_type(Alarm)
        .set_time_to_execute_lookup_key("at")
    )
    for template in after:
        builder.set_next(template)
    return builder.build()


def wait(
    engine: Dagger,
    name: str,
    topic: str,
    *after: TaskTemplate,
    task_type: type[Wait] = Wait,
    allow_skip_to: bool = False,
) -> TaskTemplate:
    """A listener named ``name`` on ``topic`` (keyed on ``order_id``), followed by ``after``."""
    builder = (
        KafkaListenerTaskTemplateBuilder(engine)
        .set_name(name)
        .set_type(task_type)
        .set_topic(Dagger.create_topic(topic, value_serializer="json"))
        .set_allow_skip_to(allow_skip_to)
    )
    for template in after:
        builder.set_next(template)
    return builder.build()


def decide(
    engine: Dagger,
    name: str,
    *branches: TaskTemplate,
    task_type: type[DecisionTask[Any, Any]] = Route,
) -> TaskTemplate:
    """A decision named ``name`` with one branch per template."""
    builder = DecisionTaskTemplateBuilder(engine).set_name(name).set_type(task_type)
    for branch in branches:
        builder.set_next(branch)
    return builder.build()


def parallel(
    engine: Dagger,
    name: str,
    *branches: TaskTemplate,
    operator: TaskOperator = TaskOperator.JOIN_ALL,
    after: TaskTemplate | None = None,
    task_type: type[ParallelCompositeTask[Any, Any]] = ParallelCompositeTask,
) -> TaskTemplate:
    """A parallel composite of ``branches`` joined by ``operator``, followed by ``after``."""
    builder = (
        ParallelCompositeTaskTemplateBuilder(engine)
        .set_name(name)
        .set_type(task_type)
        .set_task_operator(operator)
    )
    for branch in branches:
        builder.add_parallel_task(branch)
    if after is not None:
        builder.set_next(after)
    return builder.build()


def process(
    engine: Dagger, name: str, root: TaskTemplate | None = None, *, max_run_duration: int = 0
) -> ProcessTemplateDagBuilder:
    """A process builder named ``name`` starting with ``root`` (none: an empty process)."""
    builder = ProcessTemplateDagBuilder(engine).set_name(name)
    if root is not None:
        builder.set_root_task(root)
    return builder.set_max_run_duration(max_run_duration)


def workflow(
    engine: Dagger, *processes: IProcessTemplateDAGBuilder, name: str | None = None
) -> ITemplateDAG:
    """A workflow of ``processes`` in order, under a name no other test uses."""
    helper = DAGBuilderHelper(dagger_app=engine)
    return helper.generic_template(
        template_name=name or unique("flow"),
        root_process=helper.build_and_link_processes(list(processes)),
    )


def one_process(engine: Dagger, root: TaskTemplate, name: str = "P") -> ITemplateDAG:
    """A workflow of the one process ``name`` that starts with ``root``."""
    return workflow(engine, process(engine, name, root))


# -- looking at instances ----------------------------------------------------------------


def statuses(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, str]:
    """Task name -> status of every task and process (names must be unique)."""
    found = {task.task_name: task.status.code for task in instance.tasks.values()}
    assert len(found) == len(instance.tasks), "task names are not unique"
    return found


def names_of(instance: ITemplateDAGInstance[Any, Any], effects: Sequence[Effect]) -> list[str]:
    """Each effect as ``Kind:task name`` (``InstanceFinished:STATUS``), to compare orders."""
    shown: list[str] = []
    for effect in effects:
        if isinstance(effect, InstanceFinished):
            shown.append(f"InstanceFinished:{effect.status}")
        else:
            task_id = effect.task_id
            name = instance.get_task(task_id).task_name
            shown.append(f"{type(effect).__name__}:{name}")
    return shown


async def drive(
    instance: ITemplateDAGInstance[Any, Any], effects: list[Effect], now: float = 2.0
) -> tuple[ITemplateDAGInstance[Any, Any], list[Effect]]:
    """Carry out ``effects`` as the owner loop does, to quiescence; return every effect.

    RunTask, RunDecision and RunStopHook run the task's hook and apply its outcome to a
    freshly decoded copy, so each step's state must survive the codec. Other effects are
    only recorded.
    """
    seen: list[Effect] = []
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        seen.append(effect)
        outcome: Any = None
        if isinstance(effect, RunTask | RunDecision | RunStopHook):
            task = instance.get_task(effect.task_id)
            try:
                with running_hook(instance):
                    if isinstance(effect, RunTask):
                        await task.execute(instance.runtime_parameters, instance)
                        outcome = TaskSucceeded(task.id)
                    elif isinstance(effect, RunDecision):
                        chosen = await task.evaluate(**instance.runtime_parameters)
                        outcome = TaskDecided(task.id, chosen)
                    else:
                        await task.stop(instance.runtime_parameters, instance)
            except Exception as exc:
                if not isinstance(effect, RunStopHook):
                    outcome = TaskFailed(task.id, type(exc).__name__, str(exc))
            intents = instance.take_intents()
            instance = round_trip(instance)
            for intent in intents:
                queue.extend(core_step(instance, intent, now=now).effects)
            if outcome is not None:
                queue.extend(core_step(instance, outcome, now=now).effects)
    return instance, seen
