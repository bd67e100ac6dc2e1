"""The state machine's timers: trigger and interval tasks, process deadlines, monitors.

No owner runs here: the tests apply events to instances built by templates and look at
the effects; ``TimerFired`` goes through :func:`dagger.core._machine.fire_timer`.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from dagger.core import _flow as flow
from dagger.core._effects import (
    CancelTimer,
    Effect,
    InstanceFinished,
    RunInterval,
    RunStopHook,
    RunTask,
    SetTimer,
    Unregister,
)
from dagger.core._events import (
    InstanceSubmitted,
    IntervalChecked,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._kinds import process as process_rules
from dagger.core._step import step as core_step
from dagger.core._wire import MalformedEvent, decode_event, encode_event
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultMonitoringTask,
    ITemplateDAGInstance,
    MonitoringTask,
)
from dagger.templates.template import IProcessTemplateDAGBuilder
from tests.unit._timed_workflows import (
    ALARM,
    POLL,
    START,
    LateRecorder,
    WatchedProcess,
    alarm,
    listener,
    poll,
    process,
    step,
    template,
)
from tests.unit._workflows import FailingTask, round_trip, task_named

ORDER = "ORDER"
MONITOR = f"{ORDER}_monitor"


async def _instance(
    engine: Dagger, *processes: IProcessTemplateDAGBuilder, **params: Any
) -> ITemplateDAGInstance[Any, Any]:
    workflow = template(DAGBuilderHelper(dagger_app=engine), *processes)
    params.setdefault("order_id", "o-1")
    return await workflow.create_instance("instance-1", "order_id", seed=random.Random(0), **params)


def _helper(engine: Dagger) -> DAGBuilderHelper:
    return DAGBuilderHelper(dagger_app=engine)


def _id(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    return task_named(instance, name).id


def _code(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    return task_named(instance, name).status.code


def _submit(instance: ITemplateDAGInstance[Any, Any], now: float = START) -> list[Effect]:
    return core_step(instance, InstanceSubmitted("e-1", instance.id), now=now).effects


def _fired(
    instance: ITemplateDAGInstance[Any, Any], name: str, due: float, event_id: str = "f-1"
) -> TimerFired:
    return TimerFired(event_id, instance.id, _id(instance, name), due)


# -- trigger tasks -----------------------------------------------------------------------


async def test_a_trigger_due_later_sets_a_timer_and_waits(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START + 10)

    effects = _submit(instance)

    trigger = task_named(instance, ALARM)
    assert effects == [SetTimer(trigger.id, START + 10)]
    assert (trigger.status.code, trigger.timer_due, trigger.time_submitted) == (
        "EXECUTING",
        START + 10,
        START,
    )
    stored = task_named(round_trip(instance), ALARM)
    assert (stored.timer_due, stored.time_to_execute) == (START + 10, START + 10)


@pytest.mark.parametrize("offset", [0.0, -1.0, -86_400.0])
async def test_a_trigger_due_now_or_before_runs_at_once(engine: Dagger, offset: float) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START + offset)

    effects = _submit(instance)

    assert effects == [RunTask(_id(instance, ALARM))]
    assert task_named(instance, ALARM).timer_due is None


async def test_a_trigger_without_a_time_fails_the_workflow(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START)
    task_named(instance, ALARM).time_to_execute = None  # type: ignore[attr-defined]

    effects = _submit(instance)

    assert effects == [InstanceFinished("FAILURE")]
    trigger = task_named(instance, ALARM)
    assert (trigger.status.code, trigger.error_type) == ("FAILURE", "InvalidTriggerTimeForTask")
    assert instance.status.code == "FAILURE"


async def test_a_due_timer_runs_the_trigger_once(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(
        engine, process(helper, "P", [alarm(helper), step(helper, "after")]), at=START + 10
    )
    _submit(instance)
    trigger_id = _id(instance, ALARM)
    instance = round_trip(instance)

    effects = core_step(instance, _fired(instance, ALARM, START + 10), now=START + 10).effects

    assert effects == [CancelTimer(trigger_id), RunTask(trigger_id)]
    assert instance.get_task(trigger_id).timer_due is None
    assert "f-1" in instance.applied_events
    assert _code(instance, ALARM) == "EXECUTING"
    # The timer is gone: finishing the trigger has none to cancel.
    after = core_step(instance, TaskSucceeded(trigger_id), now=START + 10).effects
    assert after == [RunTask(_id(instance, "after"))]

    instance = round_trip(instance)
    assert core_step(instance, _fired(instance, ALARM, START + 10), now=START + 11).effects == []


async def test_a_timer_that_fires_late_still_runs_the_trigger(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START + 10)
    _submit(instance)

    effects = core_step(instance, _fired(instance, ALARM, START + 10), now=START + 500).effects

    assert RunTask(_id(instance, ALARM)) in effects


async def test_a_stale_timer_changes_nothing(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START + 10)
    _submit(instance)
    before = round_trip(instance)

    for event in [
        _fired(instance, ALARM, START + 5, "stale"),
        TimerFired("unknown", instance.id, "no-such-task", START + 10),
    ]:
        assert core_step(instance, event, now=START + 10).effects == []

    assert task_named(instance, ALARM).timer_due == START + 10
    assert instance.applied_events == before.applied_events
    assert instance.to_representation() == before.to_representation()


async def test_a_timer_for_a_finished_task_changes_nothing(engine: Dagger) -> None:
    helper = _helper(engine)
    topic = "status-topic"
    instance = await _instance(
        engine,
        process(helper, ORDER, [alarm(helper), listener(helper, topic, ORDER)]),
        at=START + 10,
    )
    _submit(instance)
    trigger = task_named(instance, ALARM)
    flow.finish_task(instance, trigger.id, "SKIPPED", iterate=False, now=START)
    trigger.timer_due = START + 10  # as if the cancel had not been applied

    assert core_step(instance, _fired(instance, ALARM, START + 10), now=START + 10).effects == []
    assert trigger.status.code == "SKIPPED"


async def test_finishing_a_waiting_trigger_cancels_its_timer(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START + 10)
    _submit(instance)
    trigger_id = _id(instance, ALARM)

    effects = flow.finish_task(instance, trigger_id, "SKIPPED", iterate=False, now=START)

    assert effects == [CancelTimer(trigger_id)]
    assert instance.get_task(trigger_id).timer_due is None
    assert flow.finish_task(instance, trigger_id, "COMPLETED", now=START) == []


# -- interval tasks ----------------------------------------------------------------------


async def _interval(
    engine: Dagger, *, starts_at: bool = False, **params: Any
) -> ITemplateDAGInstance[Any, Any]:
    helper = _helper(engine)
    params.setdefault("every", 10)
    params.setdefault("until", START + 100)
    return await _instance(
        engine, process(helper, "P", [poll(helper, starts_at=starts_at)]), **params
    )


async def test_an_interval_task_without_a_start_time_tries_at_once(engine: Dagger) -> None:
    instance = await _interval(engine)

    assert _submit(instance) == [RunInterval(_id(instance, POLL))]
    assert _code(instance, POLL) == "EXECUTING"


async def test_an_interval_task_with_a_start_time_waits_for_it(engine: Dagger) -> None:
    instance = await _interval(engine, starts_at=True, at=START + 5)
    poll_id = _id(instance, POLL)

    assert _submit(instance) == [SetTimer(poll_id, START + 5)]
    fired = core_step(instance, _fired(instance, POLL, START + 5), now=START + 5).effects
    assert fired == [CancelTimer(poll_id), RunInterval(poll_id)]


async def test_a_failed_try_sets_the_timer_one_period_later(engine: Dagger) -> None:
    instance = await _interval(engine)
    _submit(instance)
    poll_id = _id(instance, POLL)

    effects = core_step(instance, IntervalChecked(poll_id, False), now=START + 1).effects

    assert effects == [SetTimer(poll_id, START + 11)]
    assert instance.get_task(poll_id).timer_due == START + 11
    assert _code(instance, POLL) == "EXECUTING"


async def test_the_last_timer_before_the_deadline_is_set_at_the_deadline(engine: Dagger) -> None:
    instance = await _interval(engine)
    _submit(instance)
    poll_id = _id(instance, POLL)

    effects = core_step(instance, IntervalChecked(poll_id, False), now=START + 95).effects

    assert effects == [SetTimer(poll_id, START + 100)]


@pytest.mark.parametrize(
    ("done", "now"), [(True, START + 1), (True, START + 100), (False, START + 100)]
)
async def test_a_successful_try_or_the_deadline_runs_execute(
    engine: Dagger, done: bool, now: float
) -> None:
    instance = await _interval(engine)
    _submit(instance)
    poll_id = _id(instance, POLL)

    assert core_step(instance, IntervalChecked(poll_id, done), now=now).effects == [
        RunTask(poll_id)
    ]
    assert task_named(instance, POLL).timer_due is None


async def test_a_check_for_a_task_that_is_not_running_changes_nothing(engine: Dagger) -> None:
    instance = await _interval(engine)
    poll_id = _id(instance, POLL)

    assert core_step(instance, IntervalChecked(poll_id, False), now=START).effects == []
    _submit(instance)
    flow.finish_task(instance, poll_id, "COMPLETED", now=START)
    assert core_step(instance, IntervalChecked(poll_id, False), now=START).effects == []


async def test_a_check_for_a_task_that_is_not_an_interval_task_changes_nothing(
    engine: Dagger,
) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, "P", [alarm(helper)]), at=START + 10)
    _submit(instance)

    assert core_step(instance, IntervalChecked(_id(instance, ALARM), True), now=START).effects == []


async def test_an_interval_task_without_a_period_tries_every_second(engine: Dagger) -> None:
    instance = await _interval(engine)
    _submit(instance)
    task = task_named(instance, POLL)
    task.interval_execute_period = None  # type: ignore[attr-defined]

    assert core_step(instance, IntervalChecked(task.id, False), now=START).effects == [
        SetTimer(task.id, START + 1)
    ]


async def test_interval_fields_survive_the_codec(engine: Dagger) -> None:
    instance = await _interval(engine, starts_at=True, at=START + 5, until=START + 50, every=2.5)
    _submit(instance)

    stored = task_named(round_trip(instance), POLL)

    assert (
        stored.time_to_execute,  # type: ignore[attr-defined]
        stored.time_to_force_complete,  # type: ignore[attr-defined]
        stored.interval_execute_period,  # type: ignore[attr-defined]
        stored.timer_due,
    ) == (START + 5, START + 50, 2.5, START + 5)


# -- process deadlines -------------------------------------------------------------------


async def test_a_process_with_a_max_run_duration_sets_its_deadline_when_it_starts(
    engine: Dagger,
) -> None:
    helper = _helper(engine)
    instance = await _instance(
        engine,
        process(helper, ORDER, [alarm(helper)], max_run_duration=30),
        at=START + 100,
    )

    effects = _submit(instance)

    order = task_named(instance, ORDER)
    assert effects == [
        SetTimer(order.id, START + 30),
        SetTimer(_id(instance, ALARM), START + 100),
    ]
    assert order.timer_due == START + 30
    assert round_trip(instance).get_task(order.id).max_run_duration == 30  # type: ignore[attr-defined]


async def test_an_overdue_process_is_skipped_and_the_next_one_starts(engine: Dagger) -> None:
    helper = _helper(engine)
    topic = "status-topic"
    instance = await _instance(
        engine,
        process(
            helper,
            ORDER,
            [listener(helper, topic, ORDER), alarm(helper)],
            max_run_duration=30,
        ),
        process(helper, "NEXT", [step(helper, "after")]),
        at=START + 100,
    )
    _submit(instance)
    order_id = _id(instance, ORDER)
    instance = round_trip(instance)

    effects = core_step(instance, _fired(instance, ORDER, START + 30), now=START + 30).effects

    assert effects[0] == CancelTimer(order_id)
    assert [type(effect) for effect in effects[1:]] == [Unregister, RunTask]
    assert effects[-1] == RunTask(_id(instance, "after"))
    assert {_code(instance, name) for name in (ORDER, f"{ORDER}_listener_task", ALARM)} == {
        "SKIPPED"
    }
    assert _code(instance, "NEXT") == "EXECUTING"
    assert task_named(instance, ORDER).time_completed == START + 30


async def test_an_overdue_process_cancels_the_timer_of_its_waiting_trigger(
    engine: Dagger,
) -> None:
    helper = _helper(engine)
    instance = await _instance(
        engine, process(helper, ORDER, [alarm(helper)], max_run_duration=30), at=START + 100
    )
    _submit(instance)
    order_id, alarm_id = _id(instance, ORDER), _id(instance, ALARM)

    effects = core_step(instance, _fired(instance, ORDER, START + 30), now=START + 30).effects

    assert effects == [CancelTimer(order_id), CancelTimer(alarm_id), InstanceFinished("COMPLETED")]
    assert instance.status.code == "COMPLETED"


async def test_a_process_that_finishes_in_time_cancels_its_deadline(engine: Dagger) -> None:
    helper = _helper(engine)
    instance = await _instance(
        engine,
        process(helper, ORDER, [alarm(helper)], max_run_duration=30),
        process(helper, "NEXT", [step(helper, "after")]),
        at=START + 10,
    )
    _submit(instance)
    order_id, alarm_id = _id(instance, ORDER), _id(instance, ALARM)
    core_step(instance, _fired(instance, ALARM, START + 10), now=START + 10)

    effects = core_step(instance, TaskSucceeded(alarm_id), now=START + 10).effects

    assert effects == [CancelTimer(order_id), RunTask(_id(instance, "after"))]
    assert core_step(instance, _fired(instance, ORDER, START + 30), now=START + 30).effects == []


async def test_an_empty_process_with_a_deadline_leaves_no_timer(engine: Dagger) -> None:
    helper = _helper(engine)
    empty = helper.generic_process_builder(
        process_name="EMPTY", root_task=helper.build_and_link_tasks([step(helper, "x")])
    )
    instance = await _instance(engine, empty)
    task = task_named(instance, "EMPTY")
    task.root_dag = None  # type: ignore[attr-defined]
    task.max_run_duration = 5  # type: ignore[attr-defined]

    effects = _submit(instance)

    assert effects == [
        SetTimer(task.id, START + 5),
        CancelTimer(task.id),
        InstanceFinished("COMPLETED"),
    ]


# -- monitored processes -----------------------------------------------------------------


async def _monitored(engine: Dagger, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    helper = _helper(engine)
    params.setdefault("at", START + 60)
    return await _instance(
        engine, process(helper, ORDER, [alarm(helper)], process_type=WatchedProcess), **params
    )


async def test_a_monitored_process_starts_its_monitor_when_it_starts(engine: Dagger) -> None:
    instance = await _monitored(engine, complete_by_time=START + 30)
    order_id = _id(instance, ORDER)

    effects = _submit(instance)

    monitor = instance.get_task(process_rules.monitor_id(order_id))
    assert process_rules.monitor_id(order_id) == f"{order_id}:monitor"
    assert isinstance(monitor, LateRecorder)
    assert (monitor.task_name, monitor.parent_id, monitor.root_id) == (
        MONITOR,
        order_id,
        instance.id,
    )
    assert (monitor.monitored_task_id, monitor.time_to_execute) == (order_id, START + 30)
    assert effects == [
        SetTimer(monitor.id, START + 30),
        SetTimer(_id(instance, ALARM), START + 60),
    ]
    # The monitor is stored with the instance and decodes to its own class.
    stored = round_trip(instance).get_task(monitor.id)
    assert isinstance(stored, LateRecorder)
    assert (stored.monitored_task_id, stored.timer_due) == (order_id, START + 30)


async def test_a_monitored_process_without_a_complete_by_time_has_no_monitor(
    engine: Dagger,
) -> None:
    instance = await _monitored(engine)

    effects = _submit(instance)

    assert effects == [SetTimer(_id(instance, ALARM), START + 60)]
    assert process_rules.monitor_id(_id(instance, ORDER)) not in instance.tasks


async def test_a_due_monitor_runs_and_does_not_move_the_workflow_on(engine: Dagger) -> None:
    instance = await _monitored(engine, complete_by_time=START + 30)
    _submit(instance)
    instance = round_trip(instance)
    monitor = instance.get_task(process_rules.monitor_id(_id(instance, ORDER)))

    effects = core_step(instance, _fired(instance, MONITOR, START + 30), now=START + 30).effects
    assert effects == [CancelTimer(monitor.id), RunTask(monitor.id)]
    await monitor.execute(instance.runtime_parameters, instance)
    after = core_step(instance, TaskSucceeded(monitor.id), now=START + 30).effects

    assert after == []
    assert instance.runtime_parameters["late"] == [[ORDER, "EXECUTING"]]
    assert monitor.status.code == "COMPLETED"
    assert _code(instance, ORDER) == "EXECUTING"
    assert _code(instance, ALARM) == "EXECUTING"


async def test_a_process_that_finishes_completes_its_monitor_and_cancels_its_timer(
    engine: Dagger,
) -> None:
    instance = await _monitored(engine, complete_by_time=START + 30, at=START + 10)
    _submit(instance)
    alarm_id = _id(instance, ALARM)
    monitor_id = process_rules.monitor_id(_id(instance, ORDER))
    core_step(instance, _fired(instance, ALARM, START + 10), now=START + 10)

    effects = core_step(instance, TaskSucceeded(alarm_id), now=START + 10).effects

    assert effects == [CancelTimer(monitor_id), InstanceFinished("COMPLETED")]
    assert instance.get_task(monitor_id).status.code == "COMPLETED"
    assert core_step(instance, _fired(instance, MONITOR, START + 30), now=START + 30).effects == []


async def test_a_monitor_due_before_its_process_starts_runs_at_once(engine: Dagger) -> None:
    instance = await _monitored(engine, complete_by_time=START - 5)

    effects = _submit(instance)

    assert effects[0] == RunTask(process_rules.monitor_id(_id(instance, ORDER)))


async def test_monitoring_task_execute_checks_the_monitored_task(engine: Dagger) -> None:
    instance = await _monitored(engine, complete_by_time=START + 30)
    _submit(instance)
    order = task_named(instance, ORDER)
    monitor = instance.get_task(process_rules.monitor_id(order.id))
    assert isinstance(monitor, MonitoringTask)

    await monitor.execute(instance.runtime_parameters, None)
    assert "late" not in instance.runtime_parameters

    flow.finish_task(instance, order.id, "COMPLETED", iterate=False, now=START)
    await monitor.execute(instance.runtime_parameters, instance)
    assert "late" not in instance.runtime_parameters


async def test_the_default_monitoring_task_lists_late_tasks(engine: Dagger) -> None:
    instance = await _monitored(engine, complete_by_time=START + 30)
    _submit(instance)
    order = task_named(instance, ORDER)
    monitor = DefaultMonitoringTask(
        id="m", task_name="m", monitored_task_id=order.id, time_to_execute=START
    )

    await monitor.execute(instance.runtime_parameters, instance)
    await monitor.execute(instance.runtime_parameters, instance)

    assert instance.runtime_parameters["late_tasks"] == [ORDER, ORDER]


# -- the end of an instance --------------------------------------------------------------


async def test_a_failing_instance_cancels_every_pending_timer(engine: Dagger) -> None:
    helper = _helper(engine)
    boom = helper.generic_executor_task_builder(task_type=FailingTask, name="boom")
    instance = await _instance(
        engine,
        process(
            helper, ORDER, [boom, alarm(helper)], process_type=WatchedProcess, max_run_duration=60
        ),
        at=START + 10,
        complete_by_time=START + 30,
    )
    _submit(instance)
    order_id = _id(instance, ORDER)

    effects = flow.finish_task(
        instance, _id(instance, "boom"), "FAILURE", now=START, error=("RuntimeError", "boom")
    )

    assert effects[-1] == InstanceFinished("FAILURE")
    assert {effect.task_id for effect in effects if isinstance(effect, CancelTimer)} == {
        order_id,
        process_rules.monitor_id(order_id),
    }
    assert all(task.timer_due is None for task in instance.tasks.values())


async def test_an_instance_finishing_cancels_the_timers_its_tasks_still_hold(
    engine: Dagger,
) -> None:
    helper = _helper(engine)
    instance = await _instance(engine, process(helper, ORDER, [alarm(helper)]), at=START + 10)
    _submit(instance)
    alarm_id = _id(instance, ALARM)

    effects = flow.finish_task(instance, instance.id, "FAILURE", now=START)

    # The waiting trigger task is stopped with the workflow: its stop hook runs.
    assert effects == [RunStopHook(alarm_id), CancelTimer(alarm_id), InstanceFinished("FAILURE")]
    assert instance.get_task(alarm_id).status.code == "STOPPED"


# -- engine-topic timer records ----------------------------------------------------------


@pytest.mark.parametrize("due", [START, START + 0.1 + 0.2, 0.0, 1.5e-7, 4_102_444_800.123456])
def test_a_timer_record_round_trips(due: float) -> None:
    event = TimerFired("timer:t-1:1.0", "i-1", "t-1", due)

    raw = encode_event(event)

    assert decode_event(raw) == event
    assert decode_event(raw.decode()).due == due


def test_a_timer_record_is_a_plain_json_envelope() -> None:
    raw = encode_event(TimerFired("e", "i-1", "t-1", 12.5))

    assert json.loads(raw) == {
        "type": "timer",
        "id": "e",
        "instance": "i-1",
        "task": "t-1",
        "due": 12.5,
    }


def test_a_whole_number_due_decodes_as_a_float() -> None:
    raw = json.dumps({"type": "timer", "id": "e", "instance": "i", "task": "t", "due": 7})

    event = decode_event(raw)

    assert isinstance(event, TimerFired)
    assert event.due == 7.0
    assert isinstance(event.due, float)


_GOOD_TIMER = {"type": "timer", "id": "e", "instance": "i", "task": "t", "due": 1.0}


@pytest.mark.parametrize(
    "changes",
    [
        {"due": None},
        {"due": "soon"},
        {"due": [1.0]},
        {"due": {}},
        {"instance": ""},
        {"instance": None},
        {"task": ""},
        {"task": 5},
        {"id": ""},
        {"id": None},
    ],
)
def test_a_malformed_timer_record_raises_malformed_event(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        decode_event(json.dumps({**_GOOD_TIMER, **changes}))


@pytest.mark.parametrize("field", ["id", "instance", "task", "due"])
def test_a_timer_record_without_a_field_raises_malformed_event(field: str) -> None:
    body = {name: value for name, value in _GOOD_TIMER.items() if name != field}

    with pytest.raises(MalformedEvent):
        decode_event(json.dumps(body))
