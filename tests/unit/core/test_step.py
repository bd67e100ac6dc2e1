"""The core's one entry point, ``step(instance, input, now)``, task kind by task kind.

Each group builds a small workflow around one kind and checks, through ``step`` alone,
how the kind starts, what its incoming input (a hook's outcome, a message, a timer, a
child's end) does, and what a retry after its failure starts again. The last groups pin
the event-level rules every input passes first: ownership by partition, replays,
creates, unknown and finished instances, intents stamped with the given time.

``now`` is far from the wall clock (``NOW = 1_000.0``), so a time read from the clock
instead of taken from ``step`` cannot pass for the given one.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core._effects import (
    CancelTimer,
    InstanceFinished,
    Register,
    RunDecision,
    RunInterval,
    RunMessageHook,
    RunStopHook,
    RunTask,
    SetTimer,
    Unregister,
)
from dagger.core._events import (
    InstanceCreated,
    InstanceSubmitted,
    IntervalChecked,
    MessageDelivered,
    MessageHandled,
    ParametersUnserializable,
    RetryRequested,
    StopRequested,
    TaskDecided,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._keys import index_key
from dagger.core._kinds import process as process_rules
from dagger.core._step import Step, Verdict
from dagger.core._step import step as core_step
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks._intents import FinishTask, Rekey, StartTask, StopListening, StopTask
from dagger.tasks.task import ITemplateDAGInstance, TaskOperator
from dagger.templates.template import ITemplateDAG, KafkaCommandTaskTemplateBuilder
from tests.unit import _timed_workflows as timed
from tests.unit._control_flow_workflows import (
    alarm,
    chain,
    decide,
    one_process,
    parallel,
    process,
    statuses,
    wait,
    workflow,
)
from tests.unit._control_flow_workflows import step as executor
from tests.unit._listener_workflows import OrderCommand, unique
from tests.unit._workflows import round_trip, task_named

NOW = 1_000.0
"""When each workflow is submitted: far from the wall clock, so a clock read shows."""
LATER = 1_010.0
"""When the first input after the submission arrives."""
RETRIED_AT = 1_050.0
"""When a failed workflow is retried."""


async def _create(template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    params.setdefault("order_id", "o-1")
    return await template.create_instance("instance-1", "order_id", seed=random.Random(0), **params)


def _submit(instance: ITemplateDAGInstance[Any, Any], now: float = NOW) -> Step:
    return core_step(instance, InstanceSubmitted("e-1", instance.id), now)


def _id(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    return task_named(instance, name).id


def _retry(instance: ITemplateDAGInstance[Any, Any], now: float = RETRIED_AT) -> Step:
    return core_step(instance, RetryRequested("r-1", instance.id), now)


def _fired(
    instance: ITemplateDAGInstance[Any, Any], name: str, due: float, event_id: str = "t-1"
) -> TimerFired:
    return TimerFired(event_id, instance.id, _id(instance, name), due)


# -- executor tasks ----------------------------------------------------------------------


async def test_an_executor_starts_by_running_execute(engine: Dagger) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))

    stepped = _submit(instance)

    assert stepped.verdict is Verdict.APPLIED
    assert stepped.effects == [RunTask(_id(instance, "a"))]
    assert statuses(instance) == {"P": "EXECUTING", "a": "EXECUTING", "b": "NOT_STARTED"}
    assert instance.status.code == "EXECUTING"
    assert task_named(instance, "a").time_submitted == NOW
    assert (instance.applied_events, instance.update_count) == (["e-1"], 1)


async def test_task_succeeded_completes_the_executor_and_starts_the_next(engine: Dagger) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))
    _submit(instance)

    stepped = core_step(instance, TaskSucceeded(_id(instance, "a")), LATER)

    assert stepped.effects == [RunTask(_id(instance, "b"))]
    assert statuses(instance) == {"P": "EXECUTING", "a": "COMPLETED", "b": "EXECUTING"}
    assert task_named(instance, "a").time_completed == LATER
    # The outcome is not an event: it leaves no id behind.
    assert instance.applied_events == ["e-1"]


async def test_task_failed_fails_the_executor_its_process_and_the_workflow(
    engine: Dagger,
) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))
    _submit(instance)

    effects = core_step(instance, TaskFailed(_id(instance, "a"), "KeyError", "'sku'"), LATER)

    assert effects.effects == [InstanceFinished("FAILURE")]
    assert statuses(instance) == {"P": "FAILURE", "a": "FAILURE", "b": "NOT_STARTED"}
    failed = task_named(instance, "a")
    assert (failed.error_type, failed.error_message) == ("KeyError", "'sku'")
    assert (instance.error_type, instance.error_message) == ("KeyError", "P: a: 'sku'")
    assert instance.time_completed == LATER


async def test_a_retry_runs_the_failed_executor_again_and_not_what_completed(
    engine: Dagger,
) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))
    _submit(instance)
    core_step(instance, TaskSucceeded(_id(instance, "a")), LATER)
    core_step(instance, TaskFailed(_id(instance, "b"), "RuntimeError", "boom"), LATER)
    instance = round_trip(instance)

    stepped = _retry(instance)

    assert stepped.effects == [RunTask(_id(instance, "b"))]
    assert statuses(instance) == {"P": "EXECUTING", "a": "COMPLETED", "b": "EXECUTING"}
    assert (instance.status.code, instance.error_type) == ("EXECUTING", None)
    assert task_named(instance, "b").time_submitted == RETRIED_AT
    assert instance.applied_events == ["e-1", "r-1"]


# -- Kafka command tasks (executors that send) -------------------------------------------


def _commanded(engine: Dagger) -> ITemplateDAG:
    """P: command (an OrderCommand) -> after."""
    command = (
        KafkaCommandTaskTemplateBuilder(engine)
        .set_name("command")
        .set_type(OrderCommand)
        .set_topic(Dagger.create_topic(unique("commands"), value_serializer="json"))
        .set_next(executor(engine, "after"))
        .build()
    )
    return one_process(engine, command)


async def test_a_command_task_runs_execute_and_a_retry_sends_a_failed_command_again(
    engine: Dagger,
) -> None:
    sent = await _create(_commanded(engine))
    command_id = _id(sent, "command")
    failed = round_trip(sent)

    assert _submit(sent).effects == [RunTask(command_id)]
    assert core_step(sent, TaskSucceeded(command_id), LATER).effects == [
        RunTask(_id(sent, "after"))
    ]
    assert statuses(sent) == {"P": "EXECUTING", "command": "COMPLETED", "after": "EXECUTING"}

    _submit(failed)
    refused = core_step(failed, TaskFailed(command_id, "KafkaError", "no leader"), LATER)
    assert refused.effects == [InstanceFinished("FAILURE")]
    assert _retry(failed).effects == [RunTask(command_id)]
    assert statuses(failed) == {"P": "EXECUTING", "command": "EXECUTING", "after": "NOT_STARTED"}


# -- listener (sensor) tasks -------------------------------------------------------------


async def _listening(engine: Dagger) -> tuple[ITemplateDAGInstance[Any, Any], str]:
    """P: w (waits on order_id) -> after, submitted; returns it and w's index key."""
    topic = unique("status")
    instance = await _create(
        one_process(engine, wait(engine, "w", topic, executor(engine, "after")))
    )
    key = index_key(topic, "order_id", "o-1")
    assert _submit(instance).effects == [Register(_id(instance, "w"), key)]
    listener = task_named(instance, "w")
    assert (listener.status.code, listener.correlatable_key_value) == ("EXECUTING", "o-1")
    return instance, key


def _delivered(
    instance: ITemplateDAGInstance[Any, Any], name: str = "w", event_id: str = "m-1"
) -> MessageDelivered:
    task = task_named(instance, name)
    return MessageDelivered(
        event_id, instance.id, task.id, "status", b'{"order_id": "o-1"}', {"offset": 7}
    )


async def test_a_listener_registers_as_it_starts_and_a_message_runs_on_message_first(
    engine: Dagger,
) -> None:
    instance, _ = await _listening(engine)  # it checks the Register
    assert task_named(instance, "w").time_submitted == NOW
    delivered = _delivered(instance)

    stepped = core_step(instance, delivered, LATER)

    assert stepped.verdict is Verdict.APPLIED
    assert stepped.effects == [RunMessageHook(delivered)]
    assert task_named(instance, "w").status.code == "EXECUTING"  # until on_message says
    assert instance.applied_events == ["e-1", "m-1"]


async def test_a_handled_message_that_completes_unregisters_and_moves_on(engine: Dagger) -> None:
    instance, key = await _listening(engine)
    listener_id = _id(instance, "w")
    core_step(instance, _delivered(instance), LATER)

    stepped = core_step(instance, MessageHandled(listener_id, True), LATER)

    assert stepped.effects == [Unregister(listener_id, key), RunTask(_id(instance, "after"))]
    assert statuses(instance) == {"P": "EXECUTING", "w": "COMPLETED", "after": "EXECUTING"}
    assert task_named(instance, "w").correlatable_key_value is None


async def test_a_handled_message_that_does_not_complete_keeps_the_listener_waiting(
    engine: Dagger,
) -> None:
    instance, _ = await _listening(engine)
    listener_id = _id(instance, "w")

    assert core_step(instance, MessageHandled(listener_id, False), LATER).effects == []
    listener = task_named(instance, "w")
    assert (listener.status.code, listener.correlatable_key_value) == ("EXECUTING", "o-1")


async def test_a_message_for_a_task_that_does_not_take_one_is_ignored(engine: Dagger) -> None:
    instance, _ = await _listening(engine)
    before = codec.encode(instance)

    stepped = core_step(instance, _delivered(instance, "after"), LATER)

    assert (stepped.verdict, stepped.effects, stepped.level) == (
        Verdict.IGNORED,
        [],
        logging.INFO,
    )
    assert "the task is NOT_STARTED" in stepped.reason
    assert codec.encode(instance) == before  # not even its event id is remembered


async def test_rekey_and_stop_listening_intents_move_the_index_entry(engine: Dagger) -> None:
    instance, key = await _listening(engine)
    listener_id = _id(instance, "w")
    instance.runtime_parameters["order_id"] = "o-2"
    topic = str(task_named(instance, "w").topic)
    new_key = index_key(topic, "order_id", "o-2")

    assert core_step(instance, Rekey(listener_id), LATER).effects == [
        Unregister(listener_id, key),
        Register(listener_id, new_key),
    ]
    assert core_step(instance, StopListening(listener_id), LATER).effects == [
        Unregister(listener_id, new_key)
    ]
    listener = task_named(instance, "w")
    assert (listener.status.code, listener.correlatable_key_value) == ("EXECUTING", None)


async def test_a_retry_registers_a_listener_that_failed_for_want_of_its_parameter(
    engine: Dagger,
) -> None:
    topic = unique("status")
    instance = await _create(one_process(engine, wait(engine, "w", topic)))
    del instance.runtime_parameters["order_id"]

    assert _submit(instance).effects == [InstanceFinished("FAILURE")]
    assert task_named(instance, "w").error_type == "MissingCorrelationKey"

    instance.runtime_parameters["order_id"] = "o-9"
    stepped = _retry(instance)

    assert stepped.effects == [Register(_id(instance, "w"), index_key(topic, "order_id", "o-9"))]
    assert statuses(instance) == {"P": "EXECUTING", "w": "EXECUTING"}


# -- decision tasks ----------------------------------------------------------------------


def _routed(engine: Dagger) -> ITemplateDAG:
    """P: route -> (x | y); then Q: tail."""
    route = decide(engine, "route", executor(engine, "x"), executor(engine, "y"))
    return workflow(
        engine, process(engine, "P", route), process(engine, "Q", executor(engine, "tail"))
    )


async def test_a_decision_starts_by_running_evaluate(engine: Dagger) -> None:
    instance = await _create(_routed(engine))

    assert _submit(instance).effects == [RunDecision(_id(instance, "route"))]
    assert statuses(instance)["route"] == "EXECUTING"


async def test_task_decided_runs_the_chosen_branch_and_skips_the_other(engine: Dagger) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)

    stepped = core_step(instance, TaskDecided(_id(instance, "route"), _id(instance, "x")), LATER)

    assert stepped.effects == [RunTask(_id(instance, "x"))]
    assert statuses(instance) == {
        "P": "EXECUTING",
        "route": "COMPLETED",
        "x": "EXECUTING",
        "y": "SKIPPED",
        "Q": "NOT_STARTED",
        "tail": "NOT_STARTED",
    }


async def test_task_decided_with_no_branch_skips_them_all_and_the_workflow_goes_on(
    engine: Dagger,
) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)

    stepped = core_step(instance, TaskDecided(_id(instance, "route"), None), LATER)

    assert stepped.effects == [RunTask(_id(instance, "tail"))]
    assert statuses(instance) == {
        "P": "COMPLETED",
        "route": "COMPLETED",
        "x": "SKIPPED",
        "y": "SKIPPED",
        "Q": "EXECUTING",
        "tail": "EXECUTING",
    }


async def test_task_decided_for_what_is_not_a_branch_fails_the_decision(engine: Dagger) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)

    stepped = core_step(instance, TaskDecided(_id(instance, "route"), "x"), LATER)

    assert stepped.effects == [InstanceFinished("FAILURE")]
    decision = task_named(instance, "route")
    assert decision.error_type == "InvalidDecision"
    assert "use self.branch('x')" in (decision.error_message or "")
    assert (statuses(instance)["x"], statuses(instance)["y"]) == ("SKIPPED", "SKIPPED")


async def test_a_retry_evaluates_a_failed_decision_again_with_its_branches_unskipped(
    engine: Dagger,
) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)
    core_step(instance, TaskFailed(_id(instance, "route"), "LookupError", "no route"), LATER)
    assert (statuses(instance)["x"], statuses(instance)["y"]) == ("SKIPPED", "SKIPPED")

    assert _retry(instance).effects == [RunDecision(_id(instance, "route"))]
    assert statuses(instance) == {
        "P": "EXECUTING",
        "route": "EXECUTING",
        "x": "NOT_STARTED",
        "y": "NOT_STARTED",
        "Q": "NOT_STARTED",
        "tail": "NOT_STARTED",
    }


# -- trigger tasks -----------------------------------------------------------------------


async def _alarmed(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    """P: alarm (due at LATER) -> after, submitted."""
    instance = await _create(
        one_process(engine, alarm(engine, "alarm", executor(engine, "after"))), at=LATER
    )
    assert _submit(instance).effects == [SetTimer(_id(instance, "alarm"), LATER)]
    return round_trip(instance)


async def test_a_trigger_sets_its_timer_as_it_starts_and_runs_when_it_is_due(
    engine: Dagger,
) -> None:
    instance = await _alarmed(engine)  # it checks the SetTimer
    trigger = task_named(instance, "alarm")
    alarm_id = trigger.id
    assert (trigger.status.code, trigger.timer_due, trigger.time_submitted) == (
        "EXECUTING",
        LATER,
        NOW,
    )

    fired = core_step(instance, _fired(instance, "alarm", LATER), LATER)

    assert fired.effects == [CancelTimer(alarm_id), RunTask(alarm_id)]
    assert task_named(instance, "alarm").timer_due is None
    assert "t-1" in instance.applied_events
    assert core_step(instance, TaskSucceeded(alarm_id), LATER).effects == [
        RunTask(_id(instance, "after"))
    ]


async def test_a_timer_not_due_at_the_time_it_fired_for_is_ignored_silently(
    engine: Dagger,
) -> None:
    instance = await _alarmed(engine)
    before = codec.encode(instance)

    stale = core_step(instance, _fired(instance, "alarm", LATER - 5), LATER)

    assert (stale.verdict, stale.effects, stale.reason, stale.level) == (
        Verdict.IGNORED,
        [],
        "",
        logging.NOTSET,
    )
    assert codec.encode(instance) == before


async def test_a_retry_runs_a_failed_trigger_at_once_when_its_time_has_passed(
    engine: Dagger,
) -> None:
    instance = await _alarmed(engine)
    alarm_id = _id(instance, "alarm")
    core_step(instance, _fired(instance, "alarm", LATER), LATER)
    core_step(instance, TaskFailed(alarm_id, "RuntimeError", "boom"), LATER)

    assert _retry(instance).effects == [RunTask(alarm_id)]
    assert task_named(instance, "alarm").status.code == "EXECUTING"


# -- interval tasks ----------------------------------------------------------------------


async def _polling(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    """P: poll (from LATER, every 5 s, forced at NOW + 100), submitted."""
    helper = DAGBuilderHelper(dagger_app=engine)
    workflow_template = timed.template(helper, timed.process(helper, "P", [timed.poll(helper)]))
    instance = await _create(workflow_template, at=LATER, every=5.0, until=NOW + 100)
    assert _submit(instance).effects == [SetTimer(_id(instance, timed.POLL), LATER)]
    return instance


async def test_an_interval_task_checks_when_its_time_comes_and_again_a_period_later(
    engine: Dagger,
) -> None:
    instance = await _polling(engine)  # it checks the SetTimer for its start time
    poll_id = _id(instance, timed.POLL)

    fired = core_step(instance, _fired(instance, timed.POLL, LATER), LATER)
    assert fired.effects == [CancelTimer(poll_id), RunInterval(poll_id)]

    stepped = core_step(instance, IntervalChecked(poll_id, False), LATER)

    assert stepped.effects == [SetTimer(poll_id, LATER + 5.0)]
    assert task_named(instance, timed.POLL).timer_due == LATER + 5.0


@pytest.mark.parametrize(("done", "now"), [(True, LATER), (False, NOW + 100)])
async def test_a_check_that_is_done_or_past_the_deadline_runs_execute(
    engine: Dagger, done: bool, now: float
) -> None:
    instance = await _polling(engine)
    poll_id = _id(instance, timed.POLL)
    core_step(instance, _fired(instance, timed.POLL, LATER), LATER)

    assert core_step(instance, IntervalChecked(poll_id, done), now).effects == [RunTask(poll_id)]
    assert core_step(instance, TaskSucceeded(poll_id), now).effects == [
        InstanceFinished("COMPLETED")
    ]


async def test_a_retry_checks_a_failed_interval_task_again(engine: Dagger) -> None:
    instance = await _polling(engine)
    poll_id = _id(instance, timed.POLL)
    core_step(instance, _fired(instance, timed.POLL, LATER), LATER)
    core_step(instance, IntervalChecked(poll_id, True), LATER)
    core_step(instance, TaskFailed(poll_id, "RuntimeError", "boom"), LATER)

    assert _retry(instance).effects == [RunInterval(poll_id)]


# -- monitoring tasks (a monitored process with complete_by_time) ------------------------


async def _monitored(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    """ORDER (a WatchedProcess due by NOW + 100): alarm (due at LATER), submitted."""
    helper = DAGBuilderHelper(dagger_app=engine)
    watched = timed.process(
        helper, "ORDER", [timed.alarm(helper)], process_type=timed.WatchedProcess
    )
    instance = await _create(timed.template(helper, watched), at=LATER, complete_by_time=NOW + 100)
    monitor_id = process_rules.monitor_id(_id(instance, "ORDER"))
    assert _submit(instance).effects == [
        SetTimer(monitor_id, NOW + 100),
        SetTimer(_id(instance, timed.ALARM), LATER),
    ]
    return round_trip(instance)


async def test_a_monitor_starts_with_its_process_and_its_end_does_not_move_the_workflow_on(
    engine: Dagger,
) -> None:
    instance = await _monitored(engine)  # it checks the SetTimer for complete_by_time
    monitor_id = process_rules.monitor_id(_id(instance, "ORDER"))
    monitor = instance.get_task(monitor_id)
    assert isinstance(monitor, timed.LateRecorder)
    assert (monitor.status.code, monitor.time_submitted) == ("EXECUTING", NOW)
    due = TimerFired("t-1", instance.id, monitor_id, NOW + 100)

    assert core_step(instance, due, NOW + 100).effects == [
        CancelTimer(monitor_id),
        RunTask(monitor_id),
    ]
    assert core_step(instance, TaskSucceeded(monitor_id), NOW + 100).effects == []
    assert instance.get_task(monitor_id).status.code == "COMPLETED"
    assert task_named(instance, "ORDER").status.code == "EXECUTING"
    assert instance.status.code == "EXECUTING"


async def test_a_monitored_process_that_ends_in_time_completes_its_monitor(
    engine: Dagger,
) -> None:
    instance = await _monitored(engine)
    monitor_id = process_rules.monitor_id(_id(instance, "ORDER"))
    alarm_id = _id(instance, timed.ALARM)
    core_step(instance, _fired(instance, timed.ALARM, LATER), LATER)

    assert core_step(instance, TaskSucceeded(alarm_id), LATER).effects == [
        CancelTimer(monitor_id),
        InstanceFinished("COMPLETED"),
    ]
    assert instance.get_task(monitor_id).status.code == "COMPLETED"


async def test_a_retry_of_a_monitored_process_starts_its_monitor_again(engine: Dagger) -> None:
    instance = await _monitored(engine)
    monitor_id = process_rules.monitor_id(_id(instance, "ORDER"))
    alarm_id = _id(instance, timed.ALARM)
    core_step(instance, _fired(instance, timed.ALARM, LATER), LATER)
    core_step(instance, TaskFailed(alarm_id, "RuntimeError", "boom"), LATER)
    assert instance.get_task(monitor_id).status.code == "COMPLETED"  # released with the failure

    assert _retry(instance).effects == [SetTimer(monitor_id, NOW + 100), RunTask(alarm_id)]
    monitor = instance.get_task(monitor_id)
    assert (monitor.status.code, monitor.time_submitted) == ("EXECUTING", RETRIED_AT)


# -- processes ---------------------------------------------------------------------------


def _deadlined(engine: Dagger) -> ITemplateDAG:
    """P (max_run_duration 30 s): a; then Q: b."""
    return workflow(
        engine,
        process(engine, "P", executor(engine, "a"), max_run_duration=30),
        process(engine, "Q", executor(engine, "b")),
    )


async def test_a_process_sets_its_deadline_and_drops_it_when_its_chain_ends(
    engine: Dagger,
) -> None:
    instance = await _create(_deadlined(engine))

    assert _submit(instance).effects == [
        SetTimer(_id(instance, "P"), NOW + 30),
        RunTask(_id(instance, "a")),
    ]
    assert task_named(instance, "P").timer_due == NOW + 30
    assert core_step(instance, TaskSucceeded(_id(instance, "a")), LATER).effects == [
        CancelTimer(_id(instance, "P")),
        RunTask(_id(instance, "b")),
    ]
    assert (statuses(instance)["P"], statuses(instance)["Q"]) == ("COMPLETED", "EXECUTING")


async def test_a_process_past_its_max_run_duration_is_skipped_and_the_next_one_starts(
    engine: Dagger,
) -> None:
    instance = await _create(_deadlined(engine))
    _submit(instance)
    process_id = _id(instance, "P")

    overdue = core_step(instance, TimerFired("t-1", instance.id, process_id, NOW + 30), NOW + 30)

    assert overdue.effects == [CancelTimer(process_id), RunTask(_id(instance, "b"))]
    assert statuses(instance) == {
        "P": "SKIPPED",
        "a": "SKIPPED",
        "Q": "EXECUTING",
        "b": "EXECUTING",
    }
    assert task_named(instance, "P").time_completed == NOW + 30
    # What the skipped task reports when its execute returns changes nothing.
    assert core_step(instance, TaskSucceeded(_id(instance, "a")), NOW + 31).effects == []
    assert statuses(instance)["a"] == "SKIPPED"


async def test_a_retry_gives_a_failed_process_a_new_deadline(engine: Dagger) -> None:
    instance = await _create(_deadlined(engine))
    _submit(instance)
    core_step(instance, TaskFailed(_id(instance, "a"), "RuntimeError", "boom"), LATER)

    assert _retry(instance).effects == [
        SetTimer(_id(instance, "P"), RETRIED_AT + 30),
        RunTask(_id(instance, "a")),
    ]


# -- parallel composites -----------------------------------------------------------------


async def _fanned_out(engine: Dagger, operator: TaskOperator) -> ITemplateDAGInstance[Any, Any]:
    """P: par (a | b, joined by ``operator``) -> after, submitted."""
    par = parallel(
        engine,
        "par",
        executor(engine, "a"),
        executor(engine, "b"),
        operator=operator,
        after=executor(engine, "after"),
    )
    instance = await _create(one_process(engine, par))
    assert _submit(instance).effects == [RunTask(_id(instance, "a")), RunTask(_id(instance, "b"))]
    assert statuses(instance)["par"] == "EXECUTING"
    return instance


async def test_join_all_completes_when_every_branch_has(engine: Dagger) -> None:
    instance = await _fanned_out(engine, TaskOperator.JOIN_ALL)

    assert core_step(instance, TaskSucceeded(_id(instance, "a")), LATER).effects == []
    assert statuses(instance)["par"] == "EXECUTING"
    assert core_step(instance, TaskSucceeded(_id(instance, "b")), LATER).effects == [
        RunTask(_id(instance, "after"))
    ]
    assert statuses(instance)["par"] == "COMPLETED"


async def test_join_all_fails_at_the_first_failed_branch_and_stops_the_other(
    engine: Dagger,
) -> None:
    instance = await _fanned_out(engine, TaskOperator.JOIN_ALL)

    failed = core_step(instance, TaskFailed(_id(instance, "a"), "RuntimeError", "boom"), LATER)

    assert failed.effects == [RunStopHook(_id(instance, "b")), InstanceFinished("FAILURE")]
    assert statuses(instance) == {
        "P": "FAILURE",
        "par": "FAILURE",
        "a": "FAILURE",
        "b": "STOPPED",
        "after": "NOT_STARTED",
    }


async def test_a_retry_of_join_all_runs_the_failed_branch_and_the_one_it_stopped(
    engine: Dagger,
) -> None:
    instance = await _fanned_out(engine, TaskOperator.JOIN_ALL)
    core_step(instance, TaskFailed(_id(instance, "a"), "RuntimeError", "boom"), LATER)

    assert _retry(instance).effects == [RunTask(_id(instance, "a")), RunTask(_id(instance, "b"))]
    assert statuses(instance) == {
        "P": "EXECUTING",
        "par": "EXECUTING",
        "a": "EXECUTING",
        "b": "EXECUTING",
        "after": "NOT_STARTED",
    }


async def test_at_least_one_completes_with_the_first_branch_and_stops_the_other(
    engine: Dagger,
) -> None:
    instance = await _fanned_out(engine, TaskOperator.ATLEAST_ONE)

    won = core_step(instance, TaskSucceeded(_id(instance, "a")), LATER)

    assert won.effects == [RunStopHook(_id(instance, "b")), RunTask(_id(instance, "after"))]
    assert (statuses(instance)["par"], statuses(instance)["b"]) == ("COMPLETED", "STOPPED")


async def test_at_least_one_fails_only_when_every_branch_failed(engine: Dagger) -> None:
    instance = await _fanned_out(engine, TaskOperator.ATLEAST_ONE)

    first = core_step(instance, TaskFailed(_id(instance, "a"), "RuntimeError", "a broke"), LATER)
    assert first.effects == []
    assert (statuses(instance)["par"], statuses(instance)["b"]) == ("EXECUTING", "EXECUTING")

    last = core_step(instance, TaskFailed(_id(instance, "b"), "RuntimeError", "b broke"), LATER)
    assert last.effects == [InstanceFinished("FAILURE")]
    assert statuses(instance)["par"] == "FAILURE"


# -- event-level rules -------------------------------------------------------------------


async def test_an_event_for_an_instance_another_partition_owns_is_ignored_with_a_warning(
    engine: Dagger,
) -> None:
    instance = await _create(one_process(engine, executor(engine, "a")))
    instance.owner_partition = 1
    before = codec.encode(instance)

    stepped = core_step(instance, InstanceSubmitted("e-1", instance.id), NOW, partition=2)

    assert (stepped.verdict, stepped.effects, stepped.level) == (
        Verdict.IGNORED,
        [],
        logging.WARNING,
    )
    assert "reached partition 2, not its owner 1" in stepped.reason
    assert codec.encode(instance) == before
    # Its owner's partition applies it.
    assert core_step(instance, InstanceSubmitted("e-1", instance.id), NOW, partition=1).effects
    assert statuses(instance)["a"] == "EXECUTING"


async def test_a_stop_or_retry_for_an_instance_another_partition_owns_is_ignored_silently(
    engine: Dagger,
) -> None:
    running = await _create(one_process(engine, executor(engine, "a")))
    running.owner_partition = 1
    _submit(running)
    failed = round_trip(running)
    core_step(failed, TaskFailed(_id(failed, "a"), "RuntimeError", "boom"), LATER)

    stop = core_step(running, StopRequested("s-1", running.id), LATER, partition=2)
    retry = core_step(failed, RetryRequested("r-1", failed.id), LATER, partition=2)

    for stepped in (stop, retry):
        assert (stepped.verdict, stepped.effects, stepped.reason, stepped.level) == (
            Verdict.IGNORED,
            [],
            "",
            logging.NOTSET,
        )
    assert (running.status.code, failed.status.code) == ("EXECUTING", "FAILURE")


async def test_a_replayed_event_is_replayed_and_changes_nothing(engine: Dagger) -> None:
    instance, _ = await _listening(engine)
    listener_id = _id(instance, "w")
    core_step(instance, _delivered(instance), LATER)
    core_step(instance, MessageHandled(listener_id, True), LATER)
    before = codec.encode(instance)

    for replayed in (InstanceSubmitted("e-1", instance.id), _delivered(instance)):
        stepped = core_step(instance, replayed, LATER + 1)
        assert (stepped.verdict, stepped.effects, stepped.instance, stepped.drop) == (
            Verdict.REPLAYED,
            [],
            instance,
            "replayed",
        )
    assert codec.encode(instance) == before


async def test_a_create_makes_the_instance_its_partition_owns(engine: Dagger) -> None:
    template = one_process(engine, executor(engine, "a"))
    document = codec.to_document(await _create(template))
    created = InstanceCreated("c-1", "instance-1", document, submit=True)

    stepped = core_step(None, created, NOW, partition=3)

    assert stepped.instance is not None
    assert stepped.effects == [RunTask(_id(stepped.instance, "a"))]
    assert (stepped.instance.owner_partition, stepped.instance.applied_events) == (3, ["c-1"])
    with pytest.raises(ValueError, match="partition"):
        core_step(None, created, NOW)


async def test_a_create_for_an_existing_instance_is_ignored_with_a_warning(
    engine: Dagger,
) -> None:
    instance = await _create(one_process(engine, executor(engine, "a")))
    instance.owner_partition = 3
    _submit(instance)
    before = codec.encode(instance)
    again = InstanceCreated("c-2", instance.id, codec.to_document(instance), submit=True)

    stepped = core_step(instance, again, LATER, partition=3)

    assert (stepped.verdict, stepped.effects, stepped.level) == (
        Verdict.IGNORED,
        [],
        logging.WARNING,
    )
    assert stepped.reason == "instance instance-1 already exists; create event dropped"
    assert codec.encode(instance) == before


async def test_an_event_for_an_unknown_instance_is_ignored(engine: Dagger) -> None:
    unknown = core_step(None, InstanceSubmitted("e-1", "nobody"), NOW)
    broadcast = core_step(None, StopRequested("s-1", "nobody"), NOW)

    assert (unknown.verdict, unknown.instance, unknown.level) == (
        Verdict.IGNORED,
        None,
        logging.WARNING,
    )
    assert unknown.reason == "InstanceSubmitted for unknown instance nobody dropped"
    assert unknown.drop == "unknown_instance"  # counted by dagger.inputs_dropped
    # A stop goes to every partition: the ones that do not hold the instance say nothing,
    # and do not count it as dropped.
    assert (broadcast.verdict, broadcast.reason, broadcast.level, broadcast.drop) == (
        Verdict.IGNORED,
        "",
        logging.NOTSET,
        "",
    )


async def test_a_stop_of_a_running_instance_stops_it_and_of_a_finished_one_is_ignored(
    engine: Dagger,
) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))
    _submit(instance)

    stopped = core_step(instance, StopRequested("s-1", instance.id), LATER)

    assert stopped.effects == [RunStopHook(_id(instance, "a")), InstanceFinished("STOPPED")]
    assert set(statuses(instance).values()) == {"STOPPED"}
    assert (instance.status.code, instance.error_type) == ("STOPPED", "Stopped")
    before = codec.encode(instance)

    again = core_step(instance, StopRequested("s-2", instance.id), LATER)

    assert (again.verdict, again.effects, again.level) == (Verdict.IGNORED, [], logging.INFO)
    assert "is finished or unknown; stop ignored" in again.reason
    assert codec.encode(instance) == before


async def test_a_finish_intent_is_applied_at_the_given_time(engine: Dagger) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))
    _submit(instance, now=1.0)
    first = task_named(instance, "a")
    await first.on_complete(instance)
    [intent] = instance.take_intents()
    assert intent == FinishTask(first.id, "COMPLETED", True)

    assert core_step(instance, intent, NOW).effects == [RunTask(_id(instance, "b"))]
    assert (first.status.code, first.time_completed, first.lastupdated) == (
        "COMPLETED",
        NOW,
        NOW,
    )
    assert task_named(instance, "b").time_submitted == NOW


async def test_start_and_stop_intents_are_applied_at_the_given_time(engine: Dagger) -> None:
    instance = await _create(
        workflow(
            engine,
            process(engine, "P", executor(engine, "a")),
            process(engine, "Q", executor(engine, "b")),
        )
    )
    _submit(instance, now=1.0)
    second = task_named(instance, "b")

    assert core_step(instance, StartTask(second.id), NOW).effects == [RunTask(second.id)]
    assert (second.status.code, second.time_submitted, second.lastupdated) == (
        "EXECUTING",
        NOW,
        NOW,
    )
    stopped = core_step(instance, StopTask(instance.id), NOW + 1).effects
    assert stopped[-1] == InstanceFinished("STOPPED")
    assert (instance.time_completed, instance.lastupdated) == (NOW + 1, NOW + 1)
    assert second.time_completed == NOW + 1


async def test_unserializable_parameters_fail_the_instance_keeping_printable_copies(
    engine: Dagger,
) -> None:
    instance = await _create(one_process(engine, executor(engine, "a")))
    _submit(instance)
    handle = object()
    instance.runtime_parameters["handle"] = handle

    stepped = core_step(instance, ParametersUnserializable("object is not JSON"), LATER)

    assert stepped.verdict is Verdict.APPLIED
    assert instance.status.code == "FAILURE"
    assert (instance.error_type, instance.error_message) == (
        "UnserializableRuntimeParameters",
        "runtime parameters are not JSON: object is not JSON",
    )
    assert instance.runtime_parameters == {"order_id": "o-1", "handle": repr(handle)}
    round_trip(instance)  # now it can be stored


async def test_an_instance_failed_for_unserializable_parameters_runs_no_more_timers(
    engine: Dagger,
) -> None:
    instance = await _alarmed(engine)
    instance.runtime_parameters["handle"] = object()
    core_step(instance, ParametersUnserializable("object is not JSON"), NOW + 1)
    assert instance.status.code == "FAILURE"

    fired = core_step(instance, _fired(instance, "alarm", LATER), LATER)

    assert (fired.verdict, fired.effects) == (Verdict.IGNORED, [])


def test_step_refuses_what_is_not_an_input() -> None:
    with pytest.raises(TypeError, match="not an instance event, a hook outcome or an intent"):
        core_step(None, object(), NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="TaskSucceeded needs the instance its hook ran for"):
        core_step(None, TaskSucceeded("a"), NOW)
