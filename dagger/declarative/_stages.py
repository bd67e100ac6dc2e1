"""The task classes of the stage kinds: each runs its stage, found by its ``stage_ref``."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from dagger.declarative import _bash as bash
from dagger.declarative import _functions as functions
from dagger.declarative._errors import StageFailed
from dagger.declarative._runs import Run, run_of, runs
from dagger.declarative._templating import render
from dagger.service.services import Dagger
from dagger.tasks._status import TaskStatus, TaskStatusEnum
from dagger.tasks.task import (
    DecisionTask,
    ExecutorTask,
    ITemplateDAGInstance,
    KafkaListenerTask,
    TaskLookupKey,
)


class StageTask(ExecutorTask[str, Any]):
    """A stage that runs as an executor: its kind's ``run`` does the work."""

    stage_ref: str | None = None
    stage_item: dict[str, Any] | None = None
    """The ``foreach`` item it runs for (see :data:`dagger.declarative._runs.Item`)."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        """Run the stage with the instance's parameters and outputs."""
        run = run_of(self.stage_ref)
        await self.run(run, runtime_parameters, workflow_instance)

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        """Do the stage's work (each kind's class overrides it)."""
        raise NotImplementedError(type(self).__name__)

    def body(self, run: Run) -> dict[str, Any]:
        """The stage's definition."""
        assert run.stage is not None
        return run.stage.body


class CallStage(StageTask):
    """``call``: the registered function, with ``with:`` rendered; its result is the outputs."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        body = self.body(run)
        arguments = render(body.get("with") or {}, run.context(runtime_parameters, self.stage_item))
        result = functions.function(body["call"])(**arguments)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            outputs: Mapping[str, Any] = {}
        elif isinstance(result, Mapping):
            outputs = result
        else:
            outputs = {"result": result}
        run.record(runtime_parameters, outputs, self.stage_item)


class NotYet(Exception):
    """An ``until`` function's answer was not yet truthy: the stage tries again later."""


class UntilStage(StageTask):
    """``until``: the function, tried again every ``every`` seconds until it is truthy.

    Each falsy answer fails the attempt with :class:`NotYet`; the task's retry policy
    (``max-tries`` attempts, ``every`` seconds apart, on the timer index) tries again, so
    the last falsy answer fails the stage. An exception counts as a failed try too.
    """

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        until = self.body(run)["until"]
        arguments = render(
            until.get("with") or {}, run.context(runtime_parameters, self.stage_item)
        )
        result = functions.function(until["call"])(**arguments)
        if inspect.isawaitable(result):
            result = await result
        if not result:
            tries = until["max-tries"]
            raise NotYet(f"{until['call']} answered {result!r} (at most {tries} tries)")
        outputs = result if isinstance(result, Mapping) else {"result": result}
        run.record(runtime_parameters, outputs, self.stage_item)


class RaiseStage(StageTask):
    """``raise``: fail the stage (and so its job) with the rendered message."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        context = run.context(runtime_parameters, self.stage_item)
        raise StageFailed(str(render(self.body(run)["raise"], context)))


class SendStage(StageTask):
    """``send``: a message to a topic, its key, value and headers rendered."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        send = render(self.body(run)["send"], run.context(runtime_parameters, self.stage_item))
        key = send.get("key")
        headers = [
            (str(name), str(value).encode()) for name, value in (send.get("headers") or {}).items()
        ]
        topic = Dagger.topics[send["topic"]]
        await topic.send(
            key=None if key is None else str(key), value=send["value"], headers=headers
        )
        run.record(
            runtime_parameters,
            {
                "topic": send["topic"],
                "key": None if key is None else str(key),
                "value": send["value"],
            },
            self.stage_item,
        )


class BashStage(StageTask):
    """``bash``: the script in a subprocess (when allowed), its stdout in the outputs."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        spec = self.body(run)["bash"]
        context = run.context(runtime_parameters, self.stage_item)
        env = render(spec.get("env") or {}, context)
        timeout = spec.get("timeout")
        seconds = bash.DEFAULT_TIMEOUT if timeout is None else _seconds(render(timeout, context))
        run.record(
            runtime_parameters, await bash.run_script(spec["run"], env, seconds), self.stage_item
        )


class StageGuard(DecisionTask[str, Any]):
    """A stage's ``if``: runs the stage (its one branch) when true, else SKIPs it."""

    stage_ref: str | None = None
    stage_item: dict[str, Any] | None = None

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        """The stage's first task when the condition holds, else none."""
        run = run_of(self.stage_ref)
        assert run.stage is not None
        if render(run.stage.body["if"], run.context(runtime_parameters, self.stage_item)):
            return self.next_dags[0]
        return None


class PrepareStage(StageTask):
    """Works out what a ``wait`` or a ``sleep`` needs before it starts: key, timeout, seconds."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        assert run.stage is not None
        context = run.context(runtime_parameters, self.stage_item)
        body = self.body(run)
        if run.stage.kind == "sleep":
            runtime_parameters[run.parameter("sleep", self.stage_item)] = _seconds(
                render(body["sleep"], context)
            )
            return
        wait = body["wait"]
        key = render(wait["key"], context)
        if key is None or key == "":
            raise StageFailed(f"wait {run.stage.id}: its key {wait['key']!r} is empty")
        runtime_parameters[run.parameter("wait")] = str(key)
        if wait.get("timeout") is not None:
            runtime_parameters[run.parameter("timeout")] = _seconds(
                render(wait["timeout"], context)
            )


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise StageFailed(f"{value!r} is not a number of seconds") from None
    if not seconds >= 0:
        raise StageFailed(f"{value!r} is not a number of seconds >= 0")
    return seconds


class WaitCheck(StageTask):
    """After a ``wait`` with a timeout: fail unless the message came first."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        assert workflow_instance is not None and run.stage is not None
        heard = any(
            isinstance(task, WaitStage)
            and task.stage_ref == run.ref
            and task.status.code == TaskStatusEnum.COMPLETED
            for task in workflow_instance.tasks.values()
        )
        if not heard:
            wait = self.body(run)["wait"]
            raise TimeoutError(
                f"wait {run.stage.id}: no message on {wait['topic']} with "
                f"{wait['match']}={runtime_parameters.get(run.parameter('wait'))!r} within "
                f"{runtime_parameters.get(run.parameter('timeout'))} seconds"
            )


class WaitStage(KafkaListenerTask[str, Any]):
    """``wait``: a listener correlated on the rendered key; the message is its outputs.

    Each topic has its own subclass (:func:`wait_class`), whose prototype finds the keys
    of a message for the ``wait`` stages on that topic only.
    """

    correlatable_key = "dagger_wait"
    wait_topic = ""
    stage_ref: str | None = None

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        """One key per ``wait`` stage on this topic whose ``match`` field the message has."""
        keys: list[TaskLookupKey[str, str]] = []
        if not isinstance(payload, Mapping):
            return keys
        for run in runs():
            stage = run.stage
            if (
                stage is None
                or stage.kind != "wait"
                or stage.body["wait"]["topic"] != self.wait_topic
            ):
                continue
            value = payload.get(stage.body["wait"]["match"])
            if value is not None:
                keys.append((run.parameter("wait"), str(value)))
        return keys

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        """Keep the message as the stage's outputs and complete."""
        run_of(self.stage_ref).record(runtime_parameters, {"message": args[0] if args else None})
        return True


_WAIT_CLASSES: dict[str, type[WaitStage]] = {}


def wait_class(topic: str) -> type[WaitStage]:
    """The listener class of ``wait`` stages on ``topic`` (the same name in every process)."""
    found = _WAIT_CLASSES.get(topic)
    if found is None:
        name = "WaitOn_" + "".join(c if c.isalnum() else "_" for c in topic) + f"_{len(topic)}"
        found = type(name, (WaitStage,), {"__module__": __name__, "__qualname__": name})
        found.wait_topic = topic
        _WAIT_CLASSES[topic] = found
    return found


class CaseStage(DecisionTask[str, Any]):
    """``case``: the branch whose ``case`` equals the rendered value, else ``_``, else none."""

    stage_ref: str | None = None
    stage_item: dict[str, Any] | None = None

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        """Choose the branch by the rendered ``case`` expression."""
        run = run_of(self.stage_ref)
        assert run.stage is not None
        value = render(run.stage.body["case"], run.context(runtime_parameters, self.stage_item))
        default: str | None = None
        for label, stages in run.stage.branches:
            if label == "_":
                default = stages[0].id
            elif label == value or str(label) == str(value):
                return self.branch(stages[0].id)
        return None if default is None else self.branch(default)


class JobGuard(StageTask):
    """A job's ``if``: when false, the job and its stages are SKIPPED."""

    async def run(
        self,
        run: Run,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None,
    ) -> None:
        assert workflow_instance is not None and self.parent_id is not None
        condition = run.workflow.jobs[run.job].condition
        if render(condition, run.context(runtime_parameters, self.stage_item)):
            return
        skipped = TaskStatus.of(TaskStatusEnum.SKIPPED)
        process = workflow_instance.get_task(self.parent_id)
        for task in workflow_instance.tasks.values():
            if task.parent_id is not None and _under(workflow_instance, task, process.id):
                await task.on_complete(workflow_instance, skipped, iterate=False)
        await process.on_complete(workflow_instance, skipped)


def _under(instance: ITemplateDAGInstance[str, Any], task: Any, ancestor: str) -> bool:
    current = task
    while current.parent_id is not None:
        if current.parent_id == ancestor:
            return True
        current = instance.get_task(current.parent_id)
    return False
