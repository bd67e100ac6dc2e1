"""Compiling checked workflows into ordinary templates: jobs are processes, stages tasks.

Jobs become processes with their ``needs`` and trigger rule (a graph of needs when there
is more than one); a job's stages become a chain of tasks. A stage that needs more than
one task to run is a short chain of its own:

- ``sleep``: ``<id>:prepare`` (works out the seconds), then the delay ``<id>``;
- ``wait``: ``<id>:prepare`` (the key), then the listener ``<id>``; with a timeout the
  listener races the delay ``<id>:timeout`` in ``<id>:window`` (ATLEAST_ONE), and
  ``<id>:check`` fails the stage when the delay won;
- ``case``: the decision ``<id>:case`` inside the composite ``<id>``, so the stages after
  it run whichever branch ran; ``parallel``: the composite ``<id>`` of its branches;
- a job's ``if``: the guard ``<job>:if`` before its first stage; a stage's ``if``: the
  decision ``<id>:condition``, whose one branch is the stage, inside ``<id>:if``;
- ``trigger``: ``<id>:start`` (creates the child), the listener ``<id>`` (its end, on
  the task update topic), then ``<id>:check`` (fails the stage unless it COMPLETED);
- a job's ``strategy.matrix``: the container ``<job>:matrix`` (after the guard) with a
  chain of the job's stages per combination.
"""

from __future__ import annotations

from typing import Any

from dagger.declarative import _runs as runs
from dagger.declarative._errors import DeclarativeError, Problem, dotted
from dagger.declarative._fanout import current_item
from dagger.declarative._foreach import ForeachTemplate
from dagger.declarative._matrix import MatrixTemplate
from dagger.declarative._model import Job, Stage, Workflow
from dagger.declarative._schedule import add_schedule
from dagger.declarative._stages import (
    BashStage,
    CallStage,
    CaseStage,
    JobGuard,
    PrepareStage,
    RaiseStage,
    SendStage,
    StageGuard,
    UntilStage,
    WaitCheck,
    wait_class,
)
from dagger.declarative._template import DeclarativeTemplate
from dagger.declarative._trigger import ChildWait, TriggerCheck, TriggerStart
from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks._delay import DelayTask
from dagger.tasks.task import ITask, ParallelCompositeTask, RetryPolicy, TaskOperator
from dagger.templates._parallel import ParallelCompositeTaskTemplate
from dagger.templates._task_templates import (
    DefaultKafkaTaskTemplate,
    DefaultTaskTemplate,
    TaskTemplate,
)


class _StageTemplate(DefaultTaskTemplate):
    """A task template that gives its tasks fixed fields (their ``stage_ref``, ...)."""

    def __init__(
        self,
        app: Dagger,
        task_type: type[ITask[Any, Any]],
        name: str,
        then: TaskTemplate | None,
        fields: dict[str, Any],
    ) -> None:
        super().__init__(app, task_type, name, [then] if then else [], allow_skip_to=False)
        self.fields = fields

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        fields = dict(self.fields)
        item = current_item()
        if item is not None:
            # In a foreach branch: the task knows its item, and keeps its values apart.
            if hasattr(self._type, "stage_item"):
                fields["stage_item"] = dict(item)
            if "delay_key" in fields:
                fields["delay_key"] += f"[{item['index']}]"
        return fields


class _ListenerTemplate(DefaultKafkaTaskTemplate):
    """A stage's listener: correlated on the runtime parameter the task before it sets.

    ``purpose`` names that parameter (``wait:<ref>``, ``trigger:<ref>``); a listener in a
    ``foreach`` branch or a matrix combination has its item's own (``...[<index>]``).
    """

    def __init__(
        self,
        app: Dagger,
        run: runs.Run,
        task_type: type[ITask[Any, Any]],
        topic: str,
        purpose: str,
        then: TaskTemplate | None,
    ) -> None:
        assert run.stage is not None
        super().__init__(
            app,
            task_type,
            run.stage.id,
            Dagger.create_topic(topic, value_serializer="json"),
            [then] if then else [],
            allow_skip_to=False,
        )
        self.run = run
        self.purpose = purpose

    def _task_fields(self, runtime_parameters: dict[str, Any]) -> dict[str, Any]:
        item = current_item()
        fields = {
            **super()._task_fields(runtime_parameters),
            "stage_ref": self.run.ref,
            "correlatable_key": self.run.parameter(self.purpose, item),
        }
        if item is not None and hasattr(self._type, "stage_item"):
            fields["stage_item"] = dict(item)
        return fields

    def _check_parameters(self, runtime_parameters: dict[str, Any]) -> None:
        """The key is worked out when the stage runs, not when the instance is created."""


def compile_workflow(app: Dagger, workflow: Workflow) -> DeclarativeTemplate:
    """The template of ``workflow``, registered on ``app`` under the workflow's name."""
    processes = [_job(app, workflow, job) for job in workflow.jobs.values()]
    builder = DefaultTemplateBuilder(app).set_name(workflow.name).set_root(processes[0])
    for process in processes[1:]:
        builder.add_process(process)
    built = builder.build()
    template = DeclarativeTemplate(built.root_process_dag, workflow, app)
    app.template_dags[workflow.name] = template
    add_schedule(app, workflow.name, workflow.on)
    return template


def _job(app: Dagger, workflow: Workflow, job: Job) -> Any:
    root = _chain(app, workflow, job, job.stages, None)
    if job.strategy is not None:
        root = MatrixTemplate(app, workflow, job, root)
    if job.condition is not None:
        guard = runs.add(runs.Run(workflow, job.name, None))
        root = _StageTemplate(app, JobGuard, f"{job.name}:if", root, {"stage_ref": guard})
    builder = ProcessTemplateDagBuilder(app).set_name(job.name).set_root_task(root)
    return builder.set_needs(job.needs).set_trigger_rule(job.trigger_rule).build()


def _chain(
    app: Dagger, workflow: Workflow, job: Job, stages: list[Stage], then: TaskTemplate | None
) -> TaskTemplate:
    for stage in reversed(stages):
        then = _stage(app, workflow, job, stage, then)
    assert then is not None
    return then


_SIMPLE = {"call": CallStage, "raise": RaiseStage, "send": SendStage, "bash": BashStage}


def _stage(
    app: Dagger, workflow: Workflow, job: Job, stage: Stage, then: TaskTemplate | None
) -> TaskTemplate:
    if "if" not in stage.body:
        return _stage_tasks(app, workflow, job, stage, then)
    # The guard's one branch is the stage; the composite goes on to what follows either way.
    guard = _StageTemplate(
        app,
        StageGuard,
        f"{stage.id}:condition",
        None,
        {"stage_ref": runs.reference(workflow.name, job.name, stage.id)},
    )
    guard.task_dag_template = [_stage_tasks(app, workflow, job, stage, None)]
    return _composite(app, f"{stage.id}:if", [guard], then, TaskOperator.JOIN_ALL)


def _stage_tasks(
    app: Dagger, workflow: Workflow, job: Job, stage: Stage, then: TaskTemplate | None
) -> TaskTemplate:
    run = runs.Run(workflow, job.name, stage)
    ref = runs.add(run)
    fields = {"stage_ref": ref}
    if stage.kind in _SIMPLE:
        if stage.kind == "send":
            Dagger.create_topic(stage.body["send"]["topic"], value_serializer="json")
        return _StageTemplate(app, _SIMPLE[stage.kind], stage.id, then, fields)
    if stage.kind == "until":
        until = stage.body["until"]
        template = _StageTemplate(app, UntilStage, stage.id, then, fields)
        template.retry_policy = RetryPolicy(
            max_attempts=until["max-tries"],
            initial_backoff=float(until["every"]),
            multiplier=1.0,
            max_backoff=float(until["every"]),
        )
        return template
    if stage.kind == "sleep":
        delay = _StageTemplate(
            app, DelayTask, stage.id, then, {"delay_key": run.parameter("sleep")}
        )
        return _StageTemplate(app, PrepareStage, f"{stage.id}:prepare", delay, fields)
    if stage.kind == "wait":
        wait = stage.body["wait"]
        listener: TaskTemplate
        if wait.get("timeout") is None:
            listener = _ListenerTemplate(
                app, run, wait_class(wait["topic"]), wait["topic"], "wait", then
            )
        else:
            check = _StageTemplate(app, WaitCheck, f"{stage.id}:check", then, fields)
            timeout = _StageTemplate(
                app, DelayTask, f"{stage.id}:timeout", None, {"delay_key": run.parameter("timeout")}
            )
            listener = _composite(
                app,
                f"{stage.id}:window",
                [
                    _ListenerTemplate(
                        app, run, wait_class(wait["topic"]), wait["topic"], "wait", None
                    ),
                    timeout,
                ],
                check,
                TaskOperator.ATLEAST_ONE,
            )
        return _StageTemplate(app, PrepareStage, f"{stage.id}:prepare", listener, fields)
    if stage.kind == "trigger":
        return _trigger(app, workflow, run, then)
    if stage.kind == "foreach":
        ((_, body),) = stage.branches
        return ForeachTemplate(app, run, _chain(app, workflow, job, body, None), then)
    branches = [_chain(app, workflow, job, stages, None) for _, stages in stage.branches]
    if stage.kind == "case":
        decision = _StageTemplate(app, CaseStage, f"{stage.id}:case", None, fields)
        decision.task_dag_template = branches
        return _composite(app, stage.id, [decision], then, TaskOperator.JOIN_ALL)
    assert stage.kind == "parallel"
    return _composite(app, stage.id, branches, then, TaskOperator.JOIN_ALL)


def _trigger(
    app: Dagger, workflow: Workflow, run: runs.Run, then: TaskTemplate | None
) -> TaskTemplate:
    """``<id>:start`` creates the child, ``<id>`` waits for its end, ``<id>:check`` judges it."""
    assert run.stage is not None
    topic = app.settings.task_update_topic
    if topic is None:
        raise DeclarativeError(
            [
                Problem(
                    workflow.file,
                    None,
                    dotted((*run.stage.path, "trigger")),
                    "a trigger stage waits for the child's end on the engine's task update "
                    "topic: give the engine one (Dagger(task_update_topic=...))",
                )
            ]
        )
    fields = {"stage_ref": run.ref}
    check = _StageTemplate(app, TriggerCheck, f"{run.stage.id}:check", then, fields)
    wait = _ListenerTemplate(app, run, ChildWait, topic, "trigger", check)
    return _StageTemplate(app, TriggerStart, f"{run.stage.id}:start", wait, fields)


def _composite(
    app: Dagger,
    name: str,
    branches: list[TaskTemplate],
    then: TaskTemplate | None,
    operator: TaskOperator,
) -> TaskTemplate:
    return ParallelCompositeTaskTemplate(
        app=app,
        type=ParallelCompositeTask,
        name=name,
        task_dag_templates=[then] if then else [],
        child_task_templates=branches,
        allow_skip_to=False,
        parallel_operator_type=operator,
    )
