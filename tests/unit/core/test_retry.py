"""Retrying a FAILURE instance: the pure step in ``dagger.core._retry``, no owner.

Tasks fail while their name is in ``runtime_parameters['fail']``; a test clears that
list (the cause was fixed) before it retries, then drives the effects to the end.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from dagger.core import _flow as flow
from dagger.core import _retry as retry
from dagger.core._effects import InstanceFinished, Register, RunDecision, RunTask, SetTimer
from dagger.core._events import InstanceSubmitted, RetryRequested
from dagger.core._step import step as core_step
from dagger.core._wire import decode_event, encode_event
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DecisionTask,
    ExecutorTask,
    ITemplateDAGInstance,
    TaskOperator,
    TaskStatus,
    TaskStatusEnum,
)
from dagger.templates.template import ITemplateDAG
from tests.unit._control_flow_workflows import (
    chain,
    decide,
    drive,
    names_of,
    one_process,
    parallel,
    process,
    statuses,
    step,
    wait,
    workflow,
)
from tests.unit._listener_workflows import unique
from tests.unit._workflows import round_trip

NOW = 1.0
RETRIED_AT = 50.0


class Flaky(ExecutorTask[str, Any]):
    """Raises while its name is in ``fail``; otherwise appends its name to ``ran``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        if self.task_name in runtime_parameters.get("fail", []):
            raise RuntimeError(f"{self.task_name} is broken")
        runtime_parameters.setdefault("ran", []).append(self.task_name)


class FlakyRoute(DecisionTask[str, Any]):
    """Raises while its name is in ``fail``; otherwise chooses the branch named ``route``."""

    async def evaluate(self, **runtime_parameters: Any) -> str | None:
        if self.task_name in runtime_parameters.get("fail", []):
            raise LookupError("no route yet")
        return self.branch(runtime_parameters["route"])


def flaky(engine: Dagger, name: str, *after: Any) -> Any:
    return step(engine, name, *after, task_type=Flaky)


async def _failed(template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    """Create, submit and drive an instance to its end; it must end FAILURE."""
    params.setdefault("order_id", "o-1")
    instance = await template.create_instance(
        "instance-1", "order_id", seed=random.Random(0), **params
    )
    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW).effects
    instance, _ = await drive(instance, effects, now=NOW)
    assert instance.status.code == "FAILURE", statuses(instance)
    return round_trip(instance)


async def _retried(
    instance: ITemplateDAGInstance[Any, Any],
) -> tuple[ITemplateDAGInstance[Any, Any], list[str], list[Any]]:
    """Fix the cause, retry, drive to the end; return the instance, first effects, all."""
    instance.runtime_parameters["fail"] = []
    effects = retry.retry(instance, RETRIED_AT)
    first = names_of(instance, effects)
    instance, seen = await drive(round_trip(instance), effects, now=RETRIED_AT)
    return instance, first, seen


async def test_a_retry_runs_the_failed_task_again_and_not_what_completed(engine: Dagger) -> None:
    template = workflow(
        engine,
        process(engine, "payment", chain(engine, "reserve", "charge", task_type=Flaky)),
        process(engine, "shipping", flaky(engine, "ship")),
    )
    instance = await _failed(template, fail=["charge"])
    assert statuses(instance) == {
        "payment": "FAILURE",
        "reserve": "COMPLETED",
        "charge": "FAILURE",
        "shipping": "NOT_STARTED",
        "ship": "NOT_STARTED",
    }
    assert instance.error_type == "RuntimeError"

    instance, first, seen = await _retried(instance)

    assert first == ["RunTask:charge"]
    assert instance.runtime_parameters["ran"] == ["reserve", "charge", "ship"]
    assert instance.status.code == "COMPLETED"
    assert set(statuses(instance).values()) == {"COMPLETED"}
    assert names_of(instance, seen)[-1] == "InstanceFinished:COMPLETED"
    for node in (instance, *instance.tasks.values()):
        assert node.error_type is None and node.error_message is None
    assert instance.time_completed == RETRIED_AT


async def test_the_retried_state_is_what_the_failure_left_running(engine: Dagger) -> None:
    template = workflow(
        engine,
        process(engine, "payment", chain(engine, "reserve", "charge", task_type=Flaky)),
        process(engine, "shipping", flaky(engine, "ship")),
    )
    instance = await _failed(template, fail=["charge"])

    effects = retry.retry(instance, RETRIED_AT)

    assert effects == [
        RunTask(next(t.id for t in instance.tasks.values() if t.task_name == "charge"))
    ]
    assert instance.status.code == "EXECUTING"
    assert statuses(instance) == {
        "payment": "EXECUTING",
        "reserve": "COMPLETED",
        "charge": "EXECUTING",
        "shipping": "NOT_STARTED",
        "ship": "NOT_STARTED",
    }
    # The state survives the codec, as the owner stores it.
    assert statuses(round_trip(instance)) == statuses(instance)


@pytest.mark.parametrize(
    "status", ["NOT_STARTED", "SUBMITTED", "EXECUTING", "COMPLETED", "STOPPED"]
)
async def test_only_a_failure_instance_can_be_retried(engine: Dagger, status: str) -> None:
    template = one_process(engine, flaky(engine, "a"))
    instance = await _failed(template, fail=["a"])
    instance.status = TaskStatus.of(TaskStatusEnum[status])
    before = statuses(instance)

    reason = retry.refusal(instance)
    with pytest.raises(TaskInvalidState) as raised:
        retry.retry(instance, RETRIED_AT)

    expected = f"instance instance-1 is {status}; only a FAILURE instance can be retried"
    assert reason == expected
    assert str(raised.value) == expected
    assert raised.value.task_id == "instance-1"
    assert statuses(instance) == before
    assert instance.status.code == status


async def test_a_failure_without_a_failed_task_is_refused(engine: Dagger) -> None:
    template = one_process(engine, flaky(engine, "a"))
    instance = await template.create_instance("instance-1", "order_id", order_id="o-1")
    core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW)
    # What the owner records when the runtime parameters cannot be stored.
    instance.status = TaskStatus.of(TaskStatusEnum.FAILURE)
    instance.error_type = "UnserializableRuntimeParameters"
    instance.error_message = "runtime parameters are not JSON"

    reason = retry.refusal(instance)

    assert reason is not None
    assert "no failed task to run again" in reason
    assert "UnserializableRuntimeParameters" in reason
    with pytest.raises(TaskInvalidState, match="create a new instance instead"):
        retry.retry(instance, RETRIED_AT)


async def test_a_failure_refusal_is_none_for_a_retryable_instance(engine: Dagger) -> None:
    instance = await _failed(one_process(engine, flaky(engine, "a")), fail=["a"])

    assert retry.refusal(instance) is None


async def test_join_all_runs_again_the_branch_the_failure_stopped(engine: Dagger) -> None:
    template = one_process(
        engine,
        parallel(
            engine,
            "par",
            flaky(engine, "a1"),
            chain(engine, "b1", "b2", task_type=Flaky),
            after=flaky(engine, "z"),
        ),
    )
    instance = await _failed(template, fail=["a1"])
    assert statuses(instance)["b1"] == "STOPPED"
    assert statuses(instance)["b2"] == "STOPPED"
    assert statuses(instance)["z"] == "NOT_STARTED"

    instance, first, _ = await _retried(instance)

    assert first == ["RunTask:a1", "RunTask:b1"]
    assert instance.status.code == "COMPLETED"
    assert set(statuses(instance).values()) == {"COMPLETED"}
    ran = instance.runtime_parameters["ran"]
    # b1 ran before the failure stopped it (its outcome was dropped) and once more now.
    assert [name for name in ran if name != "b1"] == ["a1", "b2", "z"]


async def test_a_failed_decision_chooses_again_among_its_branches(engine: Dagger) -> None:
    template = one_process(
        engine,
        decide(
            engine,
            "route",
            flaky(engine, "left"),
            flaky(engine, "right"),
            task_type=FlakyRoute,
        ),
    )
    instance = await _failed(template, fail=["route"], route="right")
    assert statuses(instance) == {
        "P": "FAILURE",
        "route": "FAILURE",
        "left": "SKIPPED",
        "right": "SKIPPED",
    }

    instance, first, _ = await _retried(instance)

    assert first == ["RunDecision:route"]
    assert statuses(instance) == {
        "P": "COMPLETED",
        "route": "COMPLETED",
        "left": "SKIPPED",
        "right": "COMPLETED",
    }
    assert instance.runtime_parameters["ran"] == ["right"]


async def test_a_failure_inside_the_chosen_branch_goes_on_in_that_branch(engine: Dagger) -> None:
    template = one_process(
        engine,
        decide(
            engine,
            "route",
            flaky(engine, "left"),
            chain(engine, "right", "right2", task_type=Flaky),
            task_type=FlakyRoute,
        ),
    )
    instance = await _failed(template, fail=["right2"], route="right")

    instance, first, seen = await _retried(instance)

    assert first == ["RunTask:right2"]
    assert not any(name.startswith(RunDecision.__name__) for name in names_of(instance, seen))
    assert statuses(instance)["left"] == "SKIPPED"
    assert instance.status.code == "COMPLETED"
    assert instance.runtime_parameters["ran"] == ["right", "right2"]


async def test_a_part_stopped_on_purpose_stays_stopped(engine: Dagger) -> None:
    topic = unique("ready")
    template = one_process(
        engine,
        parallel(
            engine,
            "par",
            flaky(engine, "a1"),
            wait(engine, "w", topic),
            operator=TaskOperator.ATLEAST_ONE,
        ),
    )
    instance = await template.create_instance(
        "instance-1", "order_id", seed=random.Random(0), order_id="o-1", fail=["a1"]
    )
    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW).effects
    listener = next(task for task in instance.tasks.values() if task.task_name == "w")
    # The listener is stopped on purpose before the other branch fails.
    effects = flow.stop_task(instance, listener.id, NOW) + effects
    instance, _ = await drive(instance, effects, now=NOW)
    assert instance.status.code == "FAILURE"
    assert statuses(instance)["w"] == "STOPPED"

    instance, first, seen = await _retried(round_trip(instance))

    assert first == ["RunTask:a1"]
    assert not any(isinstance(effect, Register) for effect in seen)
    assert statuses(instance) == {
        "P": "COMPLETED",
        "par": "COMPLETED",
        "a1": "COMPLETED",
        "w": "STOPPED",
    }


async def test_an_earlier_failure_the_workflow_got_past_is_not_run_again(engine: Dagger) -> None:
    template = workflow(
        engine,
        process(
            engine,
            "first",
            parallel(
                engine,
                "either",
                flaky(engine, "a1"),
                flaky(engine, "b1"),
                operator=TaskOperator.ATLEAST_ONE,
            ),
        ),
        process(engine, "second", flaky(engine, "c")),
    )
    instance = await _failed(template, fail=["a1", "c"])
    assert statuses(instance)["either"] == "COMPLETED"
    assert statuses(instance)["a1"] == "FAILURE"

    instance, first, _ = await _retried(instance)

    assert first == ["RunTask:c"]
    assert statuses(instance)["a1"] == "FAILURE"
    assert instance.status.code == "COMPLETED"


async def test_a_retried_process_gets_its_deadline_again(engine: Dagger) -> None:
    template = workflow(engine, process(engine, "P", flaky(engine, "a"), max_run_duration=30))
    instance = await _failed(template, fail=["a"])
    process_id = next(t.id for t in instance.tasks.values() if t.task_name == "P")

    effects = retry.retry(instance, RETRIED_AT)

    assert SetTimer(process_id, RETRIED_AT + 30) in effects
    assert instance.get_task(process_id).timer_due == RETRIED_AT + 30


async def test_a_retried_listener_waits_again(engine: Dagger) -> None:
    topic = unique("reply")
    template = one_process(engine, flaky(engine, "send", wait(engine, "reply", topic)))
    instance = await _failed(template, fail=["send"])

    instance.runtime_parameters["fail"] = []
    effects = retry.retry(instance, RETRIED_AT)
    instance, seen = await drive(round_trip(instance), effects, now=RETRIED_AT)

    assert [type(effect) for effect in seen][:2] == [RunTask, Register]
    assert statuses(instance)["reply"] == "EXECUTING"
    assert instance.status.code == "EXECUTING"
    assert InstanceFinished("COMPLETED") not in seen


def test_retry_requested_travels_on_the_engine_topic() -> None:
    event = RetryRequested("e-9", "instance-1")

    assert decode_event(encode_event(event)) == event
