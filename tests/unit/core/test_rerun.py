"""Rerunning a finished instance from a chosen node: the pure step in ``dagger.core._rerun``.

Tasks append their name to ``runtime_parameters['ran']`` when they run, and fail while
their name is in ``runtime_parameters['fail']``: what ran again after a rerun is what
``ran`` gained, and a node that kept its result keeps its completion time too.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from dagger.core import _rerun as rerun
from dagger.core._events import InstanceSubmitted, RerunRequested, StopRequested
from dagger.core._step import Verdict
from dagger.core._step import step as core_step
from dagger.core._wire import decode_event, encode_event
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG
from tests.unit._control_flow_workflows import (
    chain,
    drive,
    names_of,
    one_process,
    parallel,
    process,
    statuses,
    wait,
    workflow,
)
from tests.unit._workflows import round_trip
from tests.unit.core.test_needs import graph_workflow, task
from tests.unit.core.test_retry import Flaky, flaky

NOW = 1.0
RERUN_AT = 50.0


async def _ended(template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    """Create, submit and drive an instance to its end."""
    params.setdefault("order_id", "o-1")
    instance = await template.create_instance(
        "instance-1", "order_id", seed=random.Random(0), **params
    )
    instance.owner_partition = 0
    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW).effects
    instance, _ = await drive(instance, effects, now=NOW)
    assert instance.is_terminal(), statuses(instance)
    return round_trip(instance)


async def _rerun(
    instance: ITemplateDAGInstance[Any, Any], node: str, **parameters: Any
) -> tuple[ITemplateDAGInstance[Any, Any], list[str], list[str]]:
    """Rerun from ``node`` through ``step``, drive to the end; return it, what ran again
    and the first effects."""
    before = len(instance.runtime_parameters.get("ran", []))
    done = core_step(
        instance, RerunRequested("e-rerun", instance.id, _id(instance, node), parameters), RERUN_AT
    )
    assert done.verdict is Verdict.APPLIED, done.reason
    first = names_of(instance, done.effects)
    instance, _ = await drive(round_trip(instance), done.effects, now=RERUN_AT)
    return instance, instance.runtime_parameters["ran"][before:], first


def _id(instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    if name == "instance":
        return instance.id
    return next(t.id for t in instance.tasks.values() if t.task_name == name)


def _completed_at(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, float]:
    return {t.task_name: t.time_completed for t in instance.tasks.values()}


def _shipping(engine: Dagger) -> ITemplateDAG:
    return workflow(
        engine,
        process(engine, "payment", chain(engine, "reserve", "charge", task_type=Flaky)),
        process(engine, "shipping", flaky(engine, "ship")),
    )


# -- a chain -----------------------------------------------------------------------------


async def test_a_failed_task_reruns_with_edited_parameters_and_earlier_ones_keep_results(
    engine: Dagger,
) -> None:
    instance = await _ended(_shipping(engine), fail=["charge"])
    assert instance.status.code == "FAILURE"
    reserved_at = _completed_at(instance)["reserve"]

    instance, again, first = await _rerun(instance, "charge", fail=[])

    assert first == ["RunTask:charge"]
    assert again == ["charge", "ship"]
    assert instance.status.code == "COMPLETED"
    assert set(statuses(instance).values()) == {"COMPLETED"}
    assert _completed_at(instance)["reserve"] == reserved_at
    assert instance.runtime_parameters["fail"] == []
    for node in (instance, *instance.tasks.values()):
        assert node.error_type is None and node.error_message is None


async def test_a_completed_instance_reruns_from_a_task_and_what_follows_it(
    engine: Dagger,
) -> None:
    instance = await _ended(_shipping(engine))
    assert instance.status.code == "COMPLETED"

    instance, again, _ = await _rerun(instance, "reserve")

    assert again == ["reserve", "charge", "ship"]
    assert instance.status.code == "COMPLETED"
    assert instance.time_completed == RERUN_AT


async def test_a_rerun_from_a_process_runs_its_tasks_and_not_the_earlier_process(
    engine: Dagger,
) -> None:
    instance = await _ended(_shipping(engine))
    kept = _completed_at(instance)

    instance, again, first = await _rerun(instance, "shipping")

    assert first == ["RunTask:ship"]
    assert again == ["ship"]
    for name in ("payment", "reserve", "charge"):
        assert _completed_at(instance)[name] == kept[name]
    assert _completed_at(instance)["shipping"] == RERUN_AT


async def test_a_rerun_of_the_whole_instance_runs_everything(engine: Dagger) -> None:
    instance = await _ended(_shipping(engine))
    instance, again, _ = await _rerun(instance, "instance")
    assert again == ["reserve", "charge", "ship"]
    assert instance.status.code == "COMPLETED"


# -- a parallel composite ----------------------------------------------------------------


def _composite(engine: Dagger) -> ITemplateDAG:
    return one_process(
        engine,
        parallel(
            engine,
            "par",
            flaky(engine, "a1"),
            chain(engine, "b1", "b2", task_type=Flaky),
            after=flaky(engine, "z"),
        ),
    )


async def test_a_branch_task_reruns_with_what_follows_the_composite_not_the_other_branch(
    engine: Dagger,
) -> None:
    instance = await _ended(_composite(engine))
    kept = _completed_at(instance)

    instance, again, first = await _rerun(instance, "b2")

    assert first == ["RunTask:b2"]
    assert again == ["b2", "z"]
    assert instance.status.code == "COMPLETED"
    for name in ("a1", "b1"):
        assert _completed_at(instance)[name] == kept[name]


async def test_a_rerun_from_the_composite_runs_every_branch(engine: Dagger) -> None:
    instance = await _ended(_composite(engine))
    instance, again, _ = await _rerun(instance, "par")
    assert sorted(again) == ["a1", "b1", "b2", "z"]
    assert again[-1] == "z"


async def test_a_failed_branch_reruns_and_the_branch_its_failure_stopped_runs_too(
    engine: Dagger,
) -> None:
    instance = await _ended(_composite(engine), fail=["a1"])
    assert statuses(instance)["b2"] == "STOPPED"

    instance, again, _ = await _rerun(instance, "a1", fail=[])

    assert instance.status.code == "COMPLETED"
    assert again[0] == "a1" and again[-1] == "z"
    assert "b2" in again


# -- a graph of needs --------------------------------------------------------------------


def _diamond(engine: Dagger) -> ITemplateDAG:
    return graph_workflow(
        engine,
        task(engine, "a"),
        task(engine, "b", ["a"]),
        task(engine, "c", ["a"]),
        task(engine, "d", ["b", "c"]),
        task(engine, "e", ["a"]),
    )


async def test_a_node_of_a_graph_reruns_with_its_dependents_only(engine: Dagger) -> None:
    instance = await _ended(_diamond(engine))
    kept = _completed_at(instance)

    instance, again, first = await _rerun(instance, "b")

    assert first == ["RunTask:b"]
    assert again == ["b", "d"]
    assert instance.status.code == "COMPLETED"
    for name in ("a", "c", "e"):
        assert _completed_at(instance)[name] == kept[name]


async def test_a_root_node_of_a_graph_reruns_every_node_that_needs_it(engine: Dagger) -> None:
    instance = await _ended(_diamond(engine))
    instance, again, _ = await _rerun(instance, "a")
    assert again[0] == "a" and again[-1] == "d"
    assert sorted(again) == ["a", "b", "c", "d", "e"]


# -- refusals ----------------------------------------------------------------------------


async def test_a_running_instance_is_refused(engine: Dagger) -> None:
    template = one_process(engine, wait(engine, "reply", "rerun-replies"))
    instance = await template.create_instance(
        "instance-1", "order_id", order_id="o-1", seed=random.Random(0)
    )
    instance.owner_partition = 0
    core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW)
    assert instance.status.code == "EXECUTING"
    reason = rerun.refusal(instance, _id(instance, "reply"))
    assert reason is not None and "EXECUTING" in reason and "stop it first" in reason


async def test_an_unknown_node_a_task_never_reached_and_the_partition_key_are_refused(
    engine: Dagger,
) -> None:
    instance = await _ended(_shipping(engine), fail=["charge"])
    assert "no task with the id or name 'nope'" in str(rerun.refusal(instance, "nope"))
    never = rerun.refusal(instance, "ship")
    assert never is not None and "never reached" in never
    key = rerun.refusal(instance, "charge", {"order_id": "o-2"})
    assert key is not None and "partition key" in key
    assert rerun.refusal(instance, "charge", {"order_id": "o-1"}) is None
    with pytest.raises(TaskInvalidState, match="never reached"):
        rerun.rerun(instance, "ship", None, RERUN_AT)


async def test_a_refused_rerun_is_ignored_and_leaves_the_instance_as_it_was(
    engine: Dagger, caplog: pytest.LogCaptureFixture
) -> None:
    instance = await _ended(_shipping(engine), fail=["charge"])
    before = statuses(instance)

    with caplog.at_level(logging.WARNING):
        done = core_step(instance, RerunRequested("e-r", instance.id, "ship", {}), RERUN_AT)

    assert done.verdict is Verdict.IGNORED and done.drop == "rerun_refused"
    assert "never reached" in done.reason
    assert statuses(instance) == before
    assert "e-r" not in instance.applied_events


async def test_a_replayed_rerun_changes_nothing(engine: Dagger) -> None:
    instance = await _ended(_shipping(engine))
    event = RerunRequested("e-r", instance.id, "ship", {})
    assert core_step(instance, event, RERUN_AT).verdict is Verdict.APPLIED
    after = statuses(instance)
    assert core_step(instance, event, RERUN_AT + 1).verdict is Verdict.REPLAYED
    assert statuses(instance) == after


async def test_a_rerun_by_name_needs_a_unique_name(engine: Dagger) -> None:
    instance = await _ended(_shipping(engine))
    assert rerun.find_node(instance, "charge") is not None
    for task_ in instance.tasks.values():
        task_.task_name = "same"
    reason = rerun.refusal(instance, "same")
    assert reason is not None and "give the id" in reason


def test_rerun_requested_travels_on_the_engine_topic() -> None:
    event = RerunRequested("e-1", "instance-1", "charge", {"limit": 3, "tags": ["x"]})
    assert decode_event(encode_event(event)) == event
    assert decode_event(encode_event(RerunRequested("e-2", "i", "t"))).parameters == {}


async def test_a_stopped_instance_reruns_and_its_listener_waits_again(engine: Dagger) -> None:
    template = one_process(engine, flaky(engine, "prepare", wait(engine, "reply", "rerun-stop")))
    instance = await template.create_instance(
        "instance-1", "order_id", order_id="o-1", seed=random.Random(0)
    )
    instance.owner_partition = 0
    effects = core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW).effects
    instance, _ = await drive(instance, effects, now=NOW)
    core_step(instance, StopRequested("e-stop", instance.id), NOW)
    assert instance.status.code == "STOPPED"
    prepared_at = _completed_at(instance)["prepare"]

    done = core_step(instance, RerunRequested("e-r", instance.id, "reply", {}), RERUN_AT)

    assert done.verdict is Verdict.APPLIED, done.reason
    assert "Register:reply" in names_of(instance, done.effects)
    assert statuses(instance)["reply"] == "EXECUTING"
    assert instance.status.code == "EXECUTING"
    assert _completed_at(instance)["prepare"] == prepared_at


async def test_a_part_stopped_on_purpose_beside_the_node_runs_again_too(engine: Dagger) -> None:
    template = one_process(
        engine,
        parallel(
            engine,
            "par",
            wait(engine, "r1", "rerun-r1"),
            parallel(engine, "inner", wait(engine, "r2", "rerun-r2")),
        ),
    )
    instance = await template.create_instance(
        "instance-1", "order_id", order_id="o-1", seed=random.Random(0)
    )
    instance.owner_partition = 0
    core_step(instance, InstanceSubmitted("e-1", instance.id), now=NOW)
    core_step(instance, StopRequested("e-stop", instance.id, _id(instance, "inner")), NOW)
    assert instance.status.code == "STOPPED"
    assert instance.get_task(_id(instance, "inner")).error_type == "Stopped"

    done = core_step(instance, RerunRequested("e-r", instance.id, "r1", {}), RERUN_AT)

    assert done.verdict is Verdict.APPLIED, done.reason
    # A retry would leave inner stopped; a rerun asked for runs it again with r1.
    assert statuses(instance)["inner"] == statuses(instance)["r2"] == "EXECUTING"
    assert {"Register:r1", "Register:r2"} <= set(names_of(instance, done.effects))
