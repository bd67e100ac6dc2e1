"""The pure state machine: event in, effects out, no I/O."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core import _flow as flow
from dagger.core._effects import Effect, InstanceFinished, RunTask
from dagger.core._events import InstanceSubmitted, TaskFailed, TaskSucceeded
from dagger.core._step import Verdict
from dagger.core._step import step as core_step
from dagger.core._step import submit as core_submit
from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks.task import (
    ITemplateDAGInstance,
    TaskStatus,
    TaskStatusEnum,
)
from dagger.templates.template import DefaultTaskTemplateBuilder
from tests.unit._workflows import (
    FailingTask,
    RecordingTask,
    SelfCompletingTask,
    build_template,
    round_trip,
    run_effects,
    task_named,
)

TWO_BY_TWO = [
    ("payment", [("reserve", RecordingTask), ("charge", RecordingTask)]),
    ("shipping", [("pack", RecordingTask), ("ship", RecordingTask)]),
]


async def _instance(
    engine: Dagger, processes: Any = TWO_BY_TWO, **params: Any
) -> ITemplateDAGInstance[Any, Any]:
    template = build_template(engine, processes)
    params.setdefault("order_id", "o-1")
    return await template.create_instance("instance-1", "order_id", seed=random.Random(0), **params)


def _status(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    return task_named(instance, name).status.code


def _intents_applied(instance: ITemplateDAGInstance[Any, Any], now: float = 3.0) -> list[Effect]:
    """Step the intents a hook recorded, as the owner does when the hook returns."""
    effects: list[Effect] = []
    for intent in instance.take_intents():
        effects.extend(core_step(instance, intent, now).effects)
    return effects


def _submitted(event_id: str = "e-1") -> InstanceSubmitted:
    return InstanceSubmitted(event_id=event_id, instance_id="instance-1")


async def test_two_processes_run_their_tasks_strictly_in_order(engine: Dagger) -> None:
    instance = await _instance(engine)
    order = ["reserve", "charge", "pack", "ship"]

    effects = core_step(instance, _submitted(), now=1.0).effects
    ran: list[str] = []
    while effects != [InstanceFinished("COMPLETED")]:
        assert len(effects) == 1 and isinstance(effects[0], RunTask), effects
        task = instance.get_task(effects[0].task_id)
        step = len(ran)
        assert task.task_name == f"{order[step]}_executor_task"
        assert [_status(instance, name) for name in order] == (
            ["COMPLETED"] * step + ["EXECUTING"] + ["NOT_STARTED"] * (3 - step)
        )
        ran.append(task.task_name.removesuffix("_executor_task"))
        instance = round_trip(instance)
        effects = core_step(instance, TaskSucceeded(task.id), now=2.0).effects

    assert ran == order
    assert instance.status.code == "COMPLETED"
    assert _status(instance, "payment") == "COMPLETED"
    assert _status(instance, "shipping") == "COMPLETED"
    assert instance.time_completed == 2.0


async def test_a_process_is_executing_only_while_its_tasks_run(engine: Dagger) -> None:
    instance = await _instance(engine)
    [first] = core_step(instance, _submitted(), now=1.0).effects
    assert isinstance(first, RunTask)

    assert instance.status.code == "EXECUTING"
    assert _status(instance, "payment") == "EXECUTING"
    assert _status(instance, "shipping") == "NOT_STARTED"
    assert instance.get_task(first.task_id).time_submitted == 1.0


async def test_runtime_parameter_changes_persist_through_the_codec(engine: Dagger) -> None:
    instance = await _instance(engine, order_id="o-7", amount=12)
    effects = core_step(instance, _submitted(), now=1.0).effects

    instance, finished = await run_effects(instance, effects, ran=[])

    assert finished == [InstanceFinished("COMPLETED")]
    stored = round_trip(instance)
    assert stored.runtime_parameters == {
        "order_id": "o-7",
        "amount": 12,
        "ran": ["reserve", "charge", "pack", "ship"],
    }


async def test_a_failed_task_fails_its_process_and_the_workflow(engine: Dagger) -> None:
    processes = [
        ("payment", [("reserve", RecordingTask), ("charge", FailingTask)]),
        ("shipping", [("pack", RecordingTask), ("ship", RecordingTask)]),
    ]
    instance = await _instance(engine, processes)
    effects = core_step(instance, _submitted(), now=1.0).effects

    ran: list[str] = []
    instance, finished = await run_effects(instance, effects, ran)

    assert finished == [InstanceFinished("FAILURE")]
    assert [instance.get_task(task_id).task_name for task_id in ran] == [
        "reserve_executor_task",
        "charge_executor_task",
    ]
    charge = task_named(instance, "charge")
    assert charge.status.code == "FAILURE"
    assert (charge.error_type, charge.error_message) == ("RuntimeError", "boom")
    assert _status(instance, "payment") == "FAILURE"
    assert task_named(instance, "payment").error_type == "RuntimeError"
    assert instance.status.code == "FAILURE"
    assert instance.error_type == "RuntimeError"
    assert "boom" in (instance.error_message or "")
    assert [_status(instance, name) for name in ("shipping", "pack", "ship")] == ["NOT_STARTED"] * 3


async def test_events_after_a_failure_start_nothing(engine: Dagger) -> None:
    instance = await _instance(engine)
    [run] = core_step(instance, _submitted(), now=1.0).effects
    assert isinstance(run, RunTask)
    assert core_step(instance, TaskFailed(run.task_id, "KeyError", "'sku'"), now=5.0).effects == [
        InstanceFinished("FAILURE")
    ]

    assert core_step(instance, TaskSucceeded(run.task_id), now=5.0).effects == []
    assert core_step(instance, _submitted("e-2"), now=5.0).effects == []
    assert instance.status.code == "FAILURE"
    assert _status(instance, "charge") == "NOT_STARTED"


async def test_a_redelivered_submission_changes_nothing(engine: Dagger) -> None:
    instance = await _instance(engine)
    first = core_step(instance, _submitted("e-1"), now=1.0).effects
    before = codec.encode(instance)

    assert len(first) == 1 and isinstance(first[0], RunTask)
    assert core_step(instance, _submitted("e-1"), now=5.0).effects == []
    assert codec.encode(instance) == before


async def test_a_redelivered_submission_after_completion_changes_nothing(
    engine: Dagger,
) -> None:
    instance = await _instance(engine)
    effects = core_step(instance, _submitted("e-1"), now=1.0).effects
    instance, _ = await run_effects(instance, effects, ran=[])
    before = codec.encode(instance)

    assert core_step(instance, _submitted("e-1"), now=9.0).effects == []
    assert codec.encode(instance) == before


async def test_a_second_submission_of_a_running_instance_starts_nothing(
    engine: Dagger,
) -> None:
    instance = await _instance(engine)
    core_step(instance, _submitted("e-1"), now=1.0)

    stepped = core_step(instance, _submitted("e-2"), now=2.0)

    assert stepped.effects == []
    assert stepped.verdict is Verdict.IGNORED  # the owner stores nothing for it
    assert _status(instance, "reserve") == "EXECUTING"
    assert instance.applied_events == ["e-1"]


async def test_task_succeeded_is_ignored_unless_the_task_is_executing(engine: Dagger) -> None:
    instance = await _instance(engine)
    charge = task_named(instance, "charge")
    assert core_step(instance, TaskSucceeded(charge.id), now=5.0).effects == []
    assert charge.status.code == "NOT_STARTED"

    [run] = core_step(instance, _submitted(), now=1.0).effects
    assert isinstance(run, RunTask)
    assert core_step(instance, TaskSucceeded(charge.id), now=5.0).effects == []
    assert charge.status.code == "NOT_STARTED"
    assert core_step(instance, TaskSucceeded(run.task_id), now=5.0).effects == [RunTask(charge.id)]
    assert core_step(instance, TaskSucceeded(run.task_id), now=5.0).effects == []
    assert core_step(instance, TaskFailed(run.task_id, "E", "late"), now=5.0).effects == []
    assert task_named(instance, "reserve").status.code == "COMPLETED"
    assert task_named(instance, "reserve").error_type is None


async def test_a_submitted_instance_starts_but_a_running_one_does_not_restart(
    engine: Dagger,
) -> None:
    instance = await _instance(engine)
    instance.status = TaskStatus.of(TaskStatusEnum.SUBMITTED)

    effects = core_submit(instance, now=1.0)

    assert effects == [RunTask(task_named(instance, "reserve").id)]
    assert core_submit(instance, now=2.0) == []


async def test_the_applied_event_window_is_bounded(engine: Dagger) -> None:
    instance = await _instance(engine)
    total = flow.APPLIED_EVENTS_KEPT + 10

    for number in range(total):
        assert flow.remember_event(instance, f"e-{number}") is True

    assert len(instance.applied_events) == flow.APPLIED_EVENTS_KEPT
    assert instance.applied_events[-1] == f"e-{total - 1}"
    assert instance.applied_events[0] == f"e-{total - flow.APPLIED_EVENTS_KEPT}"
    assert flow.remember_event(instance, f"e-{total - 1}") is False
    assert flow.remember_event(instance, "e-0") is True
    assert len(round_trip(instance).applied_events) == flow.APPLIED_EVENTS_KEPT


async def test_a_process_without_tasks_completes_at_once(engine: Dagger) -> None:
    empty = ProcessTemplateDagBuilder(engine).set_name("nothing").build()
    template = DefaultTemplateBuilder(engine).set_name("empty").set_root(empty).build()
    instance = await template.create_instance("instance-1", "k", k="v")

    assert core_step(instance, _submitted(), now=1.0).effects == [InstanceFinished("COMPLETED")]
    assert instance.status.code == "COMPLETED"
    assert _status(instance, "nothing") == "COMPLETED"


async def test_an_empty_process_hands_over_to_the_next_one(engine: Dagger) -> None:
    task = DefaultTaskTemplateBuilder(engine).set_name("work").set_type(RecordingTask).build()
    second = ProcessTemplateDagBuilder(engine).set_name("second").set_root_task(task).build()
    first = ProcessTemplateDagBuilder(engine).set_name("first").set_next_process(second).build()
    template = DefaultTemplateBuilder(engine).set_name("chain").set_root(first).build()
    instance = await template.create_instance("instance-1", "k", k="v")

    effects = core_step(instance, _submitted(), now=1.0).effects

    assert effects == [RunTask(task_named(instance, "work").id)]
    assert _status(instance, "first") == "COMPLETED"
    assert _status(instance, "second") == "EXECUTING"


async def test_on_complete_from_a_hook_defers_the_next_task(engine: Dagger) -> None:
    instance = await _instance(engine)
    [run] = core_step(instance, _submitted(), now=1.0).effects
    reserve = instance.get_task(run.task_id)

    await reserve.on_complete(instance)

    assert reserve.status.code == "EXECUTING"  # until the hook returns
    assert _intents_applied(instance) == [RunTask(task_named(instance, "charge").id)]
    assert reserve.status.code == "COMPLETED"
    assert _intents_applied(instance) == []
    assert core_step(instance, TaskSucceeded(reserve.id), now=5.0).effects == []


async def test_on_complete_without_iterate_does_not_move_on(engine: Dagger) -> None:
    instance = await _instance(engine)
    [run] = core_step(instance, _submitted(), now=1.0).effects

    await instance.get_task(run.task_id).on_complete(instance, iterate=False)

    assert _intents_applied(instance) == []
    assert _status(instance, "reserve") == "COMPLETED"
    assert _status(instance, "charge") == "NOT_STARTED"


async def test_notify_completes_once(engine: Dagger) -> None:
    instance = await _instance(engine)
    [run] = core_step(instance, _submitted(), now=1.0).effects
    reserve = instance.get_task(run.task_id)

    await reserve.notify(TaskStatus.of(TaskStatusEnum.SKIPPED), instance)
    assert _intents_applied(instance) == [RunTask(task_named(instance, "charge").id)]
    await reserve.notify(TaskStatus.of(TaskStatusEnum.FAILURE), instance)

    assert reserve.status.code == "SKIPPED"
    assert _intents_applied(instance) == []


async def test_start_from_a_hook_defers_the_run(engine: Dagger) -> None:
    instance = await _instance(engine)
    pack = task_named(instance, "pack")

    await pack.start(instance)

    assert _intents_applied(instance) == [RunTask(pack.id)]
    assert pack.status.code == "EXECUTING"


async def test_hooks_need_the_workflow_instance(engine: Dagger) -> None:
    instance = await _instance(engine)
    reserve = task_named(instance, "reserve")

    with pytest.raises(TypeError, match="on_complete"):
        await reserve.on_complete(None)
    with pytest.raises(TypeError, match="start"):
        await reserve.start(None)


async def test_a_task_completing_itself_runs_the_rest_once(engine: Dagger) -> None:
    processes = [("only", [("self", SelfCompletingTask), ("after", RecordingTask)])]
    instance = await _instance(engine, processes)
    effects = core_step(instance, _submitted(), now=1.0).effects

    ran: list[str] = []
    instance, finished = await run_effects(instance, effects, ran)

    assert finished == [InstanceFinished("COMPLETED")]
    assert [instance.get_task(task_id).task_name for task_id in ran] == [
        "self_executor_task",
        "after_executor_task",
    ]
    assert instance.runtime_parameters["ran"] == ["after"]


async def test_on_complete_with_a_status_that_is_not_final_is_refused(engine: Dagger) -> None:
    instance = await _instance(engine)
    [run] = core_step(instance, _submitted(), now=1.0).effects
    reserve = instance.get_task(run.task_id)

    with pytest.raises((ValueError, TypeError)):
        await reserve.on_complete(instance, TaskStatus.of(TaskStatusEnum.EXECUTING))
    assert instance.take_intents() == []


async def test_get_remaining_tasks_follows_the_chain(engine: Dagger) -> None:
    processes = [("only", [(name, RecordingTask) for name in ("a", "b", "c", "d")])]
    instance = await _instance(engine, processes)
    a, b, c, d = (task_named(instance, name) for name in ("a", "b", "c", "d"))

    assert await a.get_remaining_tasks(b.id, instance) == [b, c, d]
    assert await a.get_remaining_tasks(a.id, instance, end_task_id=c.id) == [a, b]
    assert await a.get_remaining_tasks(b.id, instance, end_task_id=b.id) == []
    collected = [a]
    assert await a.get_remaining_tasks(d.id, instance, tasks=collected) == [a, d]


def test_apply_rejects_other_events() -> None:
    with pytest.raises(TypeError, match="not an instance event"):
        core_step(None, object(), now=1.0)  # type: ignore[arg-type]
