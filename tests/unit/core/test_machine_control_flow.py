"""The state machine's control flow: decisions, parallel composites, dynamic shapes, stops.

No owner runs here: the tests apply events to instances built by templates and compare
the effects, by kind and task name, in order.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core import _flow as flow
from dagger.core._effects import (
    CancelTimer,
    InstanceFinished,
    Register,
    RunTask,
    SetTimer,
)
from dagger.core._events import (
    InstanceSubmitted,
    StopRequested,
    TaskDecided,
    TaskFailed,
    TaskSucceeded,
    TimerFired,
)
from dagger.core._keys import index_key
from dagger.core._kinds import listener as listener_rules
from dagger.core._step import step as core_step
from dagger.core._wire import MalformedEvent, decode_event, encode_event
from dagger.modeler.definition import (
    DynamicProcessTemplateDagBuilder,
    ParallelCompositeProcessTemplateDagBuilder,
)
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DecisionTask,
    ITemplateDAGInstance,
    ParallelCompositeTask,
    TaskOperator,
)
from dagger.templates.template import ITemplateDAG
from tests.unit._control_flow_workflows import (
    BrokenRoute,
    Fanout,
    RawRoute,
    Recorder,
    StopParent,
    StoppingRoute,
    StopWorkflow,
    alarm,
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
from tests.unit._workflows import FailingTask, round_trip

NOW = 1.0
LATER = 2.0


async def _create(template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    params.setdefault("order_id", "o-1")
    return await template.create_instance("instance-1", "order_id", seed=random.Random(0), **params)


def _submit(instance: ITemplateDAGInstance[Any, Any]) -> list[Any]:
    return core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW).effects


def _ids(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, str]:
    return {task.task_name: task.id for task in instance.tasks.values()}


def _done(instance: ITemplateDAGInstance[Any, Any], name: str) -> list[str]:
    """Apply TaskSucceeded for the task ``name``; return the effects by name."""
    effects = core_step(instance, TaskSucceeded(_ids(instance)[name]), now=LATER).effects
    return names_of(instance, effects)


def _fail(instance: ITemplateDAGInstance[Any, Any], name: str) -> list[str]:
    event = TaskFailed(_ids(instance)[name], "RuntimeError", "boom")
    return names_of(instance, core_step(instance, event, now=LATER).effects)


def _decided(instance: ITemplateDAGInstance[Any, Any], name: str, chosen: str | None) -> list[str]:
    event = TaskDecided(_ids(instance)[name], chosen)
    return names_of(instance, core_step(instance, event, now=LATER).effects)


def _message(instance: ITemplateDAGInstance[Any, Any], name: str) -> list[str]:
    """Deliver a completing message to the listener ``name`` as the owner would."""
    task_id = _ids(instance)[name]
    accepted, effects = listener_rules.accept_message(instance, task_id, now=LATER)
    assert accepted
    effects += listener_rules.message_handled(instance, task_id, True, now=LATER)
    return names_of(instance, effects)


# -- decisions ---------------------------------------------------------------------------


def _routed(engine: Dagger) -> ITemplateDAG:
    """P: start -> route -> (express -> express2 | standard -> standard2); then Q: tail."""
    route = decide(
        engine,
        "route",
        chain(engine, "express", "express2"),
        chain(engine, "standard", "standard2"),
    )
    return workflow(
        engine,
        process(engine, "P", step(engine, "start", route)),
        process(engine, "Q", step(engine, "tail")),
    )


async def test_a_decision_runs_the_chosen_branch_and_skips_the_other(engine: Dagger) -> None:
    instance = await _create(_routed(engine))
    assert names_of(instance, _submit(instance)) == ["RunTask:start"]
    assert _done(instance, "start") == ["RunDecision:route"]
    assert statuses(instance)["route"] == "EXECUTING"

    assert _decided(instance, "route", _ids(instance)["express"]) == ["RunTask:express"]

    assert statuses(instance) == {
        "P": "EXECUTING",
        "start": "COMPLETED",
        "route": "COMPLETED",
        "express": "EXECUTING",
        "express2": "NOT_STARTED",
        "standard": "SKIPPED",
        "standard2": "SKIPPED",
        "Q": "NOT_STARTED",
        "tail": "NOT_STARTED",
    }
    instance = round_trip(instance)
    assert _done(instance, "express") == ["RunTask:express2"]
    assert _done(instance, "express2") == ["RunTask:tail"]
    assert statuses(instance)["P"] == "COMPLETED"
    assert _done(instance, "tail") == ["InstanceFinished:COMPLETED"]
    assert instance.status.code == "COMPLETED"


async def test_branch_names_map_first_task_names_to_branch_ids(engine: Dagger) -> None:
    instance = await _create(_routed(engine))
    ids = _ids(instance)
    route = instance.get_task(ids["route"])
    assert isinstance(route, DecisionTask)

    assert route.branch_names == {"express": ids["express"], "standard": ids["standard"]}
    assert route.branch("standard") == ids["standard"]
    assert sorted(route.next_dags) == sorted([ids["express"], ids["standard"]])
    with pytest.raises(KeyError, match=r"no branch named 'air'.*\['express', 'standard'\]"):
        route.branch("air")


async def test_a_decision_choosing_none_skips_every_branch_and_the_workflow_goes_on(
    engine: Dagger,
) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)
    _done(instance, "start")

    assert _decided(instance, "route", None) == ["RunTask:tail"]

    found = statuses(instance)
    assert [found[name] for name in ("route", "express", "express2", "standard", "standard2")] == [
        "COMPLETED",
        "SKIPPED",
        "SKIPPED",
        "SKIPPED",
        "SKIPPED",
    ]
    assert (found["P"], found["Q"]) == ("COMPLETED", "EXECUTING")


async def test_evaluate_through_branch_runs_the_named_branch(engine: Dagger) -> None:
    instance = await _create(_routed(engine), route="standard")

    instance, effects = await drive(instance, _submit(instance))

    assert instance.runtime_parameters["ran"] == ["start", "standard", "standard2", "tail"]
    assert names_of(instance, effects).count("RunDecision:route") == 1
    assert effects[-1] == InstanceFinished("COMPLETED")
    assert statuses(instance)["express"] == statuses(instance)["express2"] == "SKIPPED"


async def test_an_id_that_is_not_a_branch_fails_the_decision_and_the_workflow(
    engine: Dagger,
) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)
    _done(instance, "start")

    assert _decided(instance, "route", "no-such-task") == ["InstanceFinished:FAILURE"]

    route = instance.get_task(_ids(instance)["route"])
    assert (route.status.code, route.error_type) == ("FAILURE", "InvalidDecision")
    assert "'no-such-task'" in (route.error_message or "")
    assert "self.branch" not in (route.error_message or "")
    assert (instance.status.code, instance.error_type) == ("FAILURE", "InvalidDecision")
    found = statuses(instance)
    assert found["express"] == found["standard2"] == "SKIPPED"
    assert found["P"] == "FAILURE"
    assert (found["Q"], found["tail"]) == ("NOT_STARTED", "NOT_STARTED")


async def test_returning_a_branch_name_instead_of_its_id_fails_with_a_hint(
    engine: Dagger,
) -> None:
    route = decide(
        engine, "route", step(engine, "express"), step(engine, "standard"), task_type=RawRoute
    )
    instance = await _create(one_process(engine, route), choice="express")

    instance, effects = await drive(instance, _submit(instance))

    failed = instance.get_task(_ids(instance)["route"])
    assert failed.error_type == "InvalidDecision"
    assert "self.branch('express')" in (failed.error_message or "")
    assert "['express', 'standard']" in (failed.error_message or "")
    assert effects[-1] == InstanceFinished("FAILURE")
    assert "ran" not in instance.runtime_parameters


async def test_a_raw_branch_id_is_accepted(engine: Dagger) -> None:
    route = decide(
        engine, "route", step(engine, "express"), step(engine, "standard"), task_type=RawRoute
    )
    instance = await _create(one_process(engine, route))
    instance.runtime_parameters["choice"] = _ids(instance)["standard"]

    instance, effects = await drive(instance, _submit(instance))

    assert instance.runtime_parameters["ran"] == ["standard"]
    assert effects[-1] == InstanceFinished("COMPLETED")


async def test_evaluate_raising_fails_the_decision_with_its_type_and_skips_branches(
    engine: Dagger,
) -> None:
    route = decide(
        engine, "route", step(engine, "express"), step(engine, "standard"), task_type=BrokenRoute
    )
    template = workflow(
        engine, process(engine, "P", route), process(engine, "Q", step(engine, "tail"))
    )
    instance = await _create(template)

    instance, effects = await drive(instance, _submit(instance))

    assert names_of(instance, effects) == ["RunDecision:route", "InstanceFinished:FAILURE"]
    failed = instance.get_task(_ids(instance)["route"])
    assert (failed.status.code, failed.error_type, failed.error_message) == (
        "FAILURE",
        "LookupError",
        "no route",
    )
    assert statuses(instance) == {
        "P": "FAILURE",
        "route": "FAILURE",
        "express": "SKIPPED",
        "standard": "SKIPPED",
        "Q": "NOT_STARTED",
        "tail": "NOT_STARTED",
    }
    assert instance.error_type == "LookupError"


async def test_a_late_decision_changes_nothing(engine: Dagger) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)
    _done(instance, "start")
    express = _ids(instance)["express"]
    _decided(instance, "route", express)
    before = codec.encode(instance)

    assert _decided(instance, "route", _ids(instance)["standard"]) == []
    assert core_step(instance, TaskDecided(express, None), now=5.0).effects == []
    assert codec.encode(instance) == before


async def test_a_decision_in_an_overdue_process_is_skipped_with_its_branches(
    engine: Dagger,
) -> None:
    topic = unique("status")
    route = decide(engine, "route", step(engine, "express"), step(engine, "standard"))
    template = workflow(
        engine,
        process(engine, "P", wait(engine, "w", topic, route), max_run_duration=10),
        process(engine, "Q", step(engine, "tail")),
    )
    instance = await _create(template)
    assert names_of(instance, _submit(instance)) == ["SetTimer:P", "Register:w"]
    process_id = _ids(instance)["P"]

    effects = core_step(
        instance, TimerFired("t-1", instance.id, process_id, NOW + 10), now=NOW + 10
    ).effects

    assert names_of(instance, effects) == [
        "CancelTimer:P",
        "Unregister:w",
        "RunTask:tail",
    ]
    found = statuses(instance)
    assert [found[name] for name in ("P", "w", "route", "express", "standard")] == ["SKIPPED"] * 5


async def test_stopping_a_workflow_while_a_decision_evaluates(engine: Dagger) -> None:
    instance = await _create(_routed(engine))
    _submit(instance)
    assert _done(instance, "start") == ["RunDecision:route"]

    effects = flow.stop_task(instance, instance.id, now=LATER)

    assert names_of(instance, effects) == ["RunStopHook:route", "InstanceFinished:STOPPED"]
    assert set(statuses(instance).values()) == {"COMPLETED", "STOPPED"}
    assert statuses(instance)["start"] == "COMPLETED"
    assert _decided(instance, "route", _ids(instance)["express"]) == []
    assert statuses(instance)["express"] == "STOPPED"


async def test_a_decision_stopping_its_workflow_from_evaluate_runs_no_branch(
    engine: Dagger,
) -> None:
    route = decide(engine, "route", step(engine, "x"), step(engine, "y"), task_type=StoppingRoute)
    instance = await _create(one_process(engine, route))

    instance, effects = await drive(instance, _submit(instance))

    assert names_of(instance, effects) == [
        "RunDecision:route",
        "RunStopHook:route",
        "InstanceFinished:STOPPED",
    ]
    assert statuses(instance) == {
        "P": "STOPPED",
        "route": "STOPPED",
        "x": "STOPPED",
        "y": "STOPPED",
    }
    assert "ran" not in instance.runtime_parameters


async def test_a_skipped_branch_skips_the_composite_and_branches_inside_it(
    engine: Dagger,
) -> None:
    topic = unique("status")
    inner = parallel(engine, "inner", wait(engine, "w", topic), step(engine, "b"))
    route = decide(engine, "route", step(engine, "x"), step(engine, "y", inner))
    instance = await _create(one_process(engine, route), route="x")

    instance, effects = await drive(instance, _submit(instance))

    assert names_of(instance, effects) == [
        "RunDecision:route",
        "RunTask:x",
        "InstanceFinished:COMPLETED",
    ]
    found = statuses(instance)
    assert [found[name] for name in ("y", "inner", "w", "b")] == ["SKIPPED"] * 4


# -- parallel composites of tasks --------------------------------------------------------


async def test_join_all_completes_when_every_branch_has_completed(engine: Dagger) -> None:
    par = parallel(
        engine,
        "par",
        chain(engine, "a", "a2"),
        step(engine, "b"),
        after=step(engine, "after"),
    )
    instance = await _create(one_process(engine, par))

    assert names_of(instance, _submit(instance)) == ["RunTask:a", "RunTask:b"]
    assert statuses(instance)["par"] == "EXECUTING"
    assert _done(instance, "a") == ["RunTask:a2"]
    assert _done(instance, "b") == []
    assert statuses(instance)["par"] == "EXECUTING"
    assert _done(instance, "a2") == ["RunTask:after"]
    assert statuses(instance)["par"] == "COMPLETED"
    assert _done(instance, "after") == ["InstanceFinished:COMPLETED"]


async def test_join_all_counts_a_branch_whose_decision_chose_nothing_as_done(
    engine: Dagger,
) -> None:
    route = decide(engine, "route", step(engine, "x"), step(engine, "y"))
    par = parallel(engine, "par", route, step(engine, "b"), after=step(engine, "after"))
    instance = await _create(one_process(engine, par))
    assert names_of(instance, _submit(instance)) == ["RunDecision:route", "RunTask:b"]

    assert _decided(instance, "route", None) == []
    assert _done(instance, "b") == ["RunTask:after"]
    assert (statuses(instance)["x"], statuses(instance)["y"]) == ("SKIPPED", "SKIPPED")


async def test_join_all_fails_at_the_first_failed_branch_and_stops_the_rest(
    engine: Dagger,
) -> None:
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        step(engine, "a"),
        wait(engine, "w", topic),
        chain(engine, "c", "c2"),
        after=step(engine, "after"),
    )
    instance = await _create(one_process(engine, par))
    assert names_of(instance, _submit(instance)) == ["RunTask:a", "Register:w", "RunTask:c"]

    assert _fail(instance, "a") == [
        "RunStopHook:w",
        "Unregister:w",
        "RunStopHook:c",
        "InstanceFinished:FAILURE",
    ]

    assert statuses(instance) == {
        "P": "FAILURE",
        "par": "FAILURE",
        "a": "FAILURE",
        "w": "STOPPED",
        "c": "STOPPED",
        "c2": "STOPPED",
        "after": "NOT_STARTED",
    }
    composite = instance.get_task(_ids(instance)["par"])
    assert composite.error_type == "RuntimeError"
    assert "boom" in (composite.error_message or "")
    assert instance.status.code == "FAILURE"
    assert _done(instance, "c") == []


async def test_at_least_one_completes_with_the_first_branch_and_stops_the_others(
    engine: Dagger,
) -> None:
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic, step(engine, "w2")),
        alarm(engine, "alarm"),
        step(engine, "b"),
        operator=TaskOperator.ATLEAST_ONE,
        after=step(engine, "after"),
    )
    instance = await _create(one_process(engine, par), at=NOW + 60)
    alarm_id = _ids(instance)["alarm"]

    effects = _submit(instance)
    assert effects == [
        Register(_ids(instance)["w"], index_key(topic, "order_id", "o-1")),
        SetTimer(alarm_id, NOW + 60),
        RunTask(_ids(instance)["b"]),
    ]

    assert _done(instance, "b") == [
        "RunStopHook:w",
        "Unregister:w",
        "RunStopHook:alarm",
        "CancelTimer:alarm",
        "RunTask:after",
    ]
    found = statuses(instance)
    assert [found[name] for name in ("par", "b", "w", "w2", "alarm", "after")] == [
        "COMPLETED",
        "COMPLETED",
        "STOPPED",
        "STOPPED",
        "STOPPED",
        "EXECUTING",
    ]
    assert instance.get_task(alarm_id).timer_due is None
    assert instance.get_task(_ids(instance)["w"]).correlatable_key_value is None
    assert (
        core_step(instance, TimerFired("t", instance.id, alarm_id, NOW + 60), now=5.0).effects == []
    )


async def test_at_least_one_ignores_a_failed_branch_while_another_runs(engine: Dagger) -> None:
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        step(engine, "a"),
        wait(engine, "w", topic),
        operator=TaskOperator.ATLEAST_ONE,
        after=step(engine, "after"),
    )
    instance = await _create(one_process(engine, par))
    _submit(instance)

    assert _fail(instance, "a") == []
    assert statuses(instance)["par"] == "EXECUTING"
    assert instance.status.code == "EXECUTING"

    assert _message(instance, "w") == ["Unregister:w", "RunTask:after"]
    assert statuses(instance)["par"] == "COMPLETED"
    assert statuses(instance)["a"] == "FAILURE"
    assert _done(instance, "after") == ["InstanceFinished:COMPLETED"]


async def test_at_least_one_fails_when_every_branch_failed(engine: Dagger) -> None:
    par = parallel(
        engine,
        "par",
        step(engine, "a"),
        chain(engine, "b", "b2"),
        operator=TaskOperator.ATLEAST_ONE,
        after=step(engine, "after"),
    )
    instance = await _create(one_process(engine, par))
    _submit(instance)

    assert _fail(instance, "a") == []
    assert _fail(instance, "b") == ["InstanceFinished:FAILURE"]

    found = statuses(instance)
    assert [found[name] for name in ("par", "P", "a", "b", "b2", "after")] == [
        "FAILURE",
        "FAILURE",
        "FAILURE",
        "FAILURE",
        "NOT_STARTED",
        "NOT_STARTED",
    ]


async def test_at_least_one_is_stopped_when_every_branch_stopped_and_none_failed(
    engine: Dagger,
) -> None:
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        wait(engine, "w1", topic),
        wait(engine, "w2", topic),
        operator=TaskOperator.ATLEAST_ONE,
    )
    instance = await _create(one_process(engine, par))
    _submit(instance)

    first = flow.stop_task(instance, _ids(instance)["w1"], now=LATER)
    assert names_of(instance, first) == ["RunStopHook:w1", "Unregister:w1"]
    assert statuses(instance)["par"] == "EXECUTING"

    second = flow.stop_task(instance, _ids(instance)["w2"], now=LATER)
    assert names_of(instance, second) == [
        "RunStopHook:w2",
        "Unregister:w2",
        "InstanceFinished:STOPPED",
    ]
    assert (statuses(instance)["par"], instance.status.code) == ("STOPPED", "STOPPED")


async def test_at_least_one_fails_when_one_branch_failed_and_the_other_stopped(
    engine: Dagger,
) -> None:
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        step(engine, "a"),
        wait(engine, "w", topic),
        operator=TaskOperator.ATLEAST_ONE,
    )
    instance = await _create(one_process(engine, par))
    _submit(instance)
    _fail(instance, "a")

    effects = flow.stop_task(instance, _ids(instance)["w"], now=LATER)

    assert names_of(instance, effects)[-1] == "InstanceFinished:FAILURE"
    assert (statuses(instance)["par"], instance.status.code) == ("FAILURE", "FAILURE")


async def test_at_least_one_stops_a_losing_branch_whose_later_task_was_stopped(
    engine: Dagger,
) -> None:
    first, second, third = unique("first"), unique("second"), unique("third")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", first, wait(engine, "w2", second)),
        wait(engine, "w3", third),
        operator=TaskOperator.ATLEAST_ONE,
        after=wait(engine, "hold", third),
    )
    instance = await _create(one_process(engine, par))
    _submit(instance)
    flow.stop_task(instance, _ids(instance)["w2"], now=LATER)

    effects = _message(instance, "w3")

    assert statuses(instance)["par"] == "COMPLETED"
    assert statuses(instance)["w"] == "STOPPED"
    assert "Unregister:w" in effects
    assert "RunStopHook:w" in effects


async def test_stopping_a_join_all_branch_task_stops_the_composite_and_workflow(
    engine: Dagger,
) -> None:
    topic = unique("status")
    par = parallel(engine, "par", wait(engine, "w", topic), step(engine, "b"))
    instance = await _create(one_process(engine, par))
    _submit(instance)

    effects = flow.stop_task(instance, _ids(instance)["w"], now=LATER)

    assert names_of(instance, effects) == [
        "RunStopHook:w",
        "Unregister:w",
        "RunStopHook:b",
        "InstanceFinished:STOPPED",
    ]
    assert set(statuses(instance).values()) == {"STOPPED"}
    stopped = instance.get_task(_ids(instance)["w"])
    assert (stopped.error_type, stopped.error_message) == ("Stopped", "w was stopped")


async def test_a_user_subclass_of_the_composite_runs_and_keeps_its_type(engine: Dagger) -> None:
    par = parallel(engine, "par", step(engine, "a"), step(engine, "b"), task_type=Fanout)
    instance = await _create(one_process(engine, par))

    instance, effects = await drive(instance, _submit(instance))

    assert type(instance.get_task(_ids(instance)["par"])) is Fanout
    assert sorted(instance.runtime_parameters["ran"]) == ["a", "b"]
    assert effects[-1] == InstanceFinished("COMPLETED")


# -- parallel composites of processes ----------------------------------------------------


def _fan(
    engine: Dagger,
    *branches: Any,
    operator: TaskOperator = TaskOperator.JOIN_ALL,
) -> ITemplateDAG:
    """fan: the parallel ``branches`` (process builders), then process ``tail``."""
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(list(branches))
        .set_parallel_operator_type(operator)
    )
    return workflow(engine, fan, process(engine, "tail", step(engine, "t")))


async def test_parallel_processes_join_all_then_the_next_process_runs(engine: Dagger) -> None:
    template = _fan(
        engine,
        process(engine, "pA", chain(engine, "a", "a2")),
        process(engine, "pB", step(engine, "b")),
    )
    instance = await _create(template)
    ids = _ids(instance)
    fan = instance.get_task(ids["fan"])
    assert isinstance(fan, ParallelCompositeTask)
    assert fan.parallel_child_task_list == [ids["pA"], ids["pB"]]
    assert fan.operator_type == "JOIN_ALL"
    assert fan.task_type == "PARALLEL_COMPOSITE"
    assert instance.get_task(ids["pA"]).parent_id == fan.id
    assert fan.next_dags == [ids["tail"]]

    assert names_of(instance, _submit(instance)) == ["RunTask:a", "RunTask:b"]
    assert _done(instance, "b") == []
    assert _done(instance, "a") == ["RunTask:a2"]
    assert _done(instance, "a2") == ["RunTask:t"]
    assert [statuses(instance)[name] for name in ("pA", "pB", "fan", "tail")] == [
        "COMPLETED",
        "COMPLETED",
        "COMPLETED",
        "EXECUTING",
    ]


async def test_a_parallel_branch_process_includes_the_processes_after_it(engine: Dagger) -> None:
    first = process(engine, "pA", step(engine, "a")).set_next_process(
        process(engine, "pA2", step(engine, "a2")).build()
    )
    instance = await _create(_fan(engine, first, process(engine, "pB", step(engine, "b"))))
    _submit(instance)
    _done(instance, "b")

    assert _done(instance, "a") == ["RunTask:a2"]
    assert statuses(instance)["fan"] == "EXECUTING"
    assert instance.get_task(_ids(instance)["pA2"]).parent_id == _ids(instance)["fan"]
    assert _done(instance, "a2") == ["RunTask:t"]


async def test_parallel_processes_at_least_one_stop_the_losing_process(engine: Dagger) -> None:
    topic = unique("status")
    template = _fan(
        engine,
        process(engine, "pA", wait(engine, "w", topic, step(engine, "w2")), max_run_duration=60),
        process(engine, "pB", step(engine, "b")),
        operator=TaskOperator.ATLEAST_ONE,
    )
    instance = await _create(template)
    assert names_of(instance, _submit(instance)) == [
        "SetTimer:pA",
        "Register:w",
        "RunTask:b",
    ]

    assert _done(instance, "b") == [
        "CancelTimer:pA",
        "RunStopHook:w",
        "Unregister:w",
        "RunTask:t",
    ]
    assert [statuses(instance)[name] for name in ("pA", "w", "w2", "pB", "fan")] == [
        "STOPPED",
        "STOPPED",
        "STOPPED",
        "COMPLETED",
        "COMPLETED",
    ]


async def test_an_empty_branch_process_completes_at_least_one_at_once(engine: Dagger) -> None:
    template = _fan(
        engine,
        process(engine, "empty"),
        process(engine, "pB", step(engine, "b")),
        operator=TaskOperator.ATLEAST_ONE,
    )
    instance = await _create(template)

    assert names_of(instance, _submit(instance)) == ["RunTask:t"]
    assert [statuses(instance)[name] for name in ("empty", "pB", "b", "fan")] == [
        "COMPLETED",
        "STOPPED",
        "STOPPED",
        "COMPLETED",
    ]


async def test_stopping_one_parallel_process_lets_at_least_one_go_on(engine: Dagger) -> None:
    topic = unique("status")
    template = _fan(
        engine,
        process(engine, "pA", wait(engine, "w", topic)),
        process(engine, "pB", step(engine, "b")),
        operator=TaskOperator.ATLEAST_ONE,
    )
    instance = await _create(template)
    _submit(instance)

    effects = flow.stop_task(instance, _ids(instance)["pA"], now=LATER)

    assert names_of(instance, effects) == ["RunStopHook:w", "Unregister:w"]
    assert (statuses(instance)["pA"], statuses(instance)["fan"]) == ("STOPPED", "EXECUTING")
    assert _done(instance, "b") == ["RunTask:t"]
    assert statuses(instance)["fan"] == "COMPLETED"


async def test_a_failed_parallel_process_fails_the_workflow(engine: Dagger) -> None:
    template = _fan(
        engine,
        process(engine, "pA", step(engine, "a")),
        process(engine, "pB", step(engine, "boom", task_type=FailingTask)),
    )
    instance = await _create(template)

    instance, effects = await drive(instance, _submit(instance))

    assert effects[-1] == InstanceFinished("FAILURE")
    assert [statuses(instance)[name] for name in ("pB", "fan", "tail", "t")] == [
        "FAILURE",
        "FAILURE",
        "NOT_STARTED",
        "NOT_STARTED",
    ]
    assert instance.error_type == "RuntimeError"


# -- dynamic processes -------------------------------------------------------------------


async def test_chosen_processes_get_the_dynamic_deadline_unless_they_have_one(
    engine: Dagger,
) -> None:
    dynamic = DynamicProcessTemplateDagBuilder(engine).set_name("items").set_max_run_duration(30)
    template = workflow(engine, dynamic, process(engine, "tail", step(engine, "t")))
    template.set_dynamic_builders_for_process_template(
        "items",
        [
            process(engine, "item1", step(engine, "i1")),
            process(engine, "item2", step(engine, "i2"), max_run_duration=5),
        ],
    )
    instance = await _create(template)
    ids = _ids(instance)
    assert "items" not in ids

    assert _submit(instance) == [SetTimer(ids["item1"], NOW + 30), RunTask(ids["i1"])]
    effects = core_step(instance, TaskSucceeded(ids["i1"]), now=LATER).effects
    assert effects == [
        CancelTimer(ids["item1"]),
        SetTimer(ids["item2"], LATER + 5),
        RunTask(ids["i2"]),
    ]
    assert _done(instance, "i2") == ["CancelTimer:item2", "RunTask:t"]


# -- stopping ----------------------------------------------------------------------------


def _busy(engine: Dagger, topic: str) -> ITemplateDAG:
    """P: first -> par(w | alarm | c -> c2) -> after; then Q: q1 -> q2."""
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic),
        alarm(engine, "alarm"),
        chain(engine, "c", "c2", task_type=Recorder),
        after=step(engine, "after"),
    )
    return workflow(
        engine,
        process(engine, "P", step(engine, "first", par)),
        process(engine, "Q", chain(engine, "q1", "q2")),
    )


async def _busy_instance(engine: Dagger, topic: str) -> ITemplateDAGInstance[Any, Any]:
    instance = await _create(_busy(engine, topic), at=NOW + 60)
    _submit(instance)
    assert _done(instance, "first") == ["Register:w", "SetTimer:alarm", "RunTask:c"]
    return instance


async def test_stopping_a_workflow_stops_every_unfinished_task(engine: Dagger) -> None:
    topic = unique("status")
    instance = await _busy_instance(engine, topic)

    effects = flow.stop_task(instance, instance.id, now=LATER)

    shown = names_of(instance, effects)
    assert shown[-1] == "InstanceFinished:STOPPED"
    assert sorted(shown[:-1]) == [
        "CancelTimer:alarm",
        "RunStopHook:alarm",
        "RunStopHook:c",
        "RunStopHook:w",
        "Unregister:w",
    ]
    found = statuses(instance)
    assert found.pop("first") == "COMPLETED"
    assert set(found.values()) == {"STOPPED"}
    assert (instance.status.code, instance.error_type) == ("STOPPED", "Stopped")
    assert instance.time_completed == LATER
    # Nothing the stopped tasks report afterwards moves the workflow.
    assert _done(instance, "c") == []
    assert core_step(instance, InstanceSubmitted("e-2", instance.id), now=5.0).effects == []


async def test_the_stop_runs_the_hooks_and_keeps_their_changes(engine: Dagger) -> None:
    topic = unique("status")
    instance = await _busy_instance(engine, topic)

    instance, effects = await drive(instance, flow.stop_task(instance, instance.id, now=LATER))

    assert sorted(instance.runtime_parameters["stopped"]) == ["c", "w"]
    assert effects[-1] == InstanceFinished("STOPPED")


async def test_stopping_a_finished_instance_or_task_changes_nothing(engine: Dagger) -> None:
    instance = await _create(one_process(engine, chain(engine, "a", "b")))
    _submit(instance)
    _done(instance, "a")
    before = codec.encode(instance)

    assert flow.stop_task(instance, _ids(instance)["a"], now=LATER) == []
    assert flow.stop_task(instance, "no-such-task", now=LATER) == []
    assert codec.encode(instance) == before

    _done(instance, "b")
    finished = codec.encode(instance)
    assert flow.stop_task(instance, instance.id, now=LATER) == []
    assert flow.stop_task(instance, _ids(instance)["P"], now=LATER) == []
    assert codec.encode(instance) == finished
    assert instance.status.code == "COMPLETED"


async def test_stopping_a_process_stops_the_workflow_and_the_processes_after_it(
    engine: Dagger,
) -> None:
    topic = unique("status")
    template = workflow(
        engine,
        process(engine, "P", wait(engine, "w", topic, step(engine, "p2"))),
        process(engine, "Q", step(engine, "q1")),
    )
    instance = await _create(template)
    _submit(instance)

    effects = flow.stop_task(instance, _ids(instance)["P"], now=LATER)

    assert names_of(instance, effects) == [
        "RunStopHook:w",
        "Unregister:w",
        "InstanceFinished:STOPPED",
    ]
    assert set(statuses(instance).values()) == {"STOPPED"}
    assert instance.get_task(_ids(instance)["P"]).error_message == "P was stopped"


async def test_stopping_a_composite_stops_its_branches_and_the_workflow(engine: Dagger) -> None:
    topic = unique("status")
    instance = await _busy_instance(engine, topic)

    effects = flow.stop_task(instance, _ids(instance)["par"], now=LATER)

    shown = names_of(instance, effects)
    assert shown[-1] == "InstanceFinished:STOPPED"
    assert sorted(shown[:-1]) == [
        "CancelTimer:alarm",
        "RunStopHook:alarm",
        "RunStopHook:c",
        "RunStopHook:w",
        "Unregister:w",
    ]
    found = statuses(instance)
    assert [found[name] for name in ("par", "after", "Q", "q1", "q2", "c2")] == ["STOPPED"] * 6


async def test_a_failure_stops_executing_tasks_and_leaves_unreached_ones(engine: Dagger) -> None:
    topic = unique("status")
    instance = await _busy_instance(engine, topic)

    effects = flow.finish_task(instance, instance.id, "FAILURE", now=LATER)

    shown = names_of(instance, effects)
    assert shown[-1] == "InstanceFinished:FAILURE"
    assert sorted(shown[:-1]) == [
        "CancelTimer:alarm",
        "RunStopHook:alarm",
        "RunStopHook:c",
        "RunStopHook:w",
        "Unregister:w",
    ]
    found = statuses(instance)
    assert [found[name] for name in ("w", "alarm", "c", "par", "P")] == ["STOPPED"] * 5
    assert [found[name] for name in ("c2", "after", "Q", "q1", "q2")] == ["NOT_STARTED"] * 5


async def test_a_stop_from_inside_a_hook_waits_for_the_hook_to_return(engine: Dagger) -> None:
    template = one_process(
        engine,
        step(
            engine, "first", step(engine, "stopper", step(engine, "never"), task_type=StopWorkflow)
        ),
    )
    instance = await _create(template)

    instance, effects = await drive(instance, _submit(instance))

    assert instance.runtime_parameters["ran"] == ["first", "stopper"]
    assert instance.runtime_parameters["stopped"] == ["stopper"]
    assert names_of(instance, effects) == [
        "RunTask:first",
        "RunTask:stopper",
        "RunStopHook:stopper",
        "InstanceFinished:STOPPED",
    ]
    assert statuses(instance) == {
        "P": "STOPPED",
        "first": "COMPLETED",
        "stopper": "STOPPED",
        "never": "STOPPED",
    }


async def test_a_branch_task_can_stop_its_composite_from_inside_a_hook(engine: Dagger) -> None:
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic),
        step(engine, "stopper", task_type=StopParent),
        after=step(engine, "after"),
    )
    instance = await _create(one_process(engine, par))

    instance, effects = await drive(instance, _submit(instance))

    assert sorted(instance.runtime_parameters["stopped"]) == ["stopper", "w"]
    assert instance.runtime_parameters["ran"] == ["stopper"]
    assert effects[-1] == InstanceFinished("STOPPED")
    assert "RunTask:after" not in names_of(instance, effects)
    assert set(statuses(instance).values()) == {"STOPPED"}


# -- records -----------------------------------------------------------------------------


async def test_decisions_and_composites_survive_the_codec(engine: Dagger) -> None:
    route = decide(engine, "route", step(engine, "x"), step(engine, "y"))
    par = parallel(
        engine,
        "par",
        route,
        step(engine, "b"),
        operator=TaskOperator.ATLEAST_ONE,
        task_type=Fanout,
    )
    instance = await _create(one_process(engine, par))
    ids = _ids(instance)

    decoded = codec.decode(codec.encode(instance))

    route_copy = decoded.get_task(ids["route"])
    assert isinstance(route_copy, DecisionTask)
    assert route_copy.branch_names == {"x": ids["x"], "y": ids["y"]}
    assert route_copy.branch("y") == ids["y"]
    par_copy = decoded.get_task(ids["par"])
    assert type(par_copy) is Fanout
    assert par_copy.parallel_child_task_list == [ids["route"], ids["b"]]
    assert par_copy.operator_type == "ATLEAST_ONE"
    assert codec.encode(decoded) == codec.encode(instance)


async def test_decoded_copies_do_not_share_their_lists(engine: Dagger) -> None:
    par = parallel(engine, "par", step(engine, "a"), step(engine, "b"))
    instance = await _create(one_process(engine, par))
    par_id = _ids(instance)["par"]

    first = codec.decode(codec.encode(instance))
    second = codec.decode(codec.encode(instance))
    first.get_task(par_id).parallel_child_task_list.append("extra")

    assert "extra" not in second.get_task(par_id).parallel_child_task_list
    assert ParallelCompositeTask(id="x", task_name="x").parallel_child_task_list == []


@pytest.mark.parametrize("task_id", [None, "task-9"])
def test_stop_requested_round_trips_on_the_wire(task_id: str | None) -> None:
    event = StopRequested("s-1", "i-1", task_id)

    raw = encode_event(event)

    assert decode_event(raw) == event
    assert decode_event(raw.decode()) == event


def test_a_stop_record_without_an_instance_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        decode_event(b'{"type": "stop", "id": "s-1", "task": null}')
    with pytest.raises(MalformedEvent):
        decode_event(b'{"type": "stop", "id": "s-1", "instance": "i-1", "task": 7}')
