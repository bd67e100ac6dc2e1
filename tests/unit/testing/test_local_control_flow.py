"""Decisions, parallel composites, dynamic processes and stops run end to end in a LocalEngine.

Each test builds its own engine and template (listener topics register on the engine)
and uses topic names of its own. Every stored change is one update document.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

from dagger.core._keys import index_key
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import (
    DynamicProcessTemplateDagBuilder,
    ParallelCompositeProcessTemplateDagBuilder,
)
from dagger.runtime._owner import TOMBSTONE
from dagger.tasks.task import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    ITemplateDAGInstance,
    TaskOperator,
)
from dagger.templates.template import ITemplateDAG
from dagger.testing import LocalEngine
from tests.unit._control_flow_workflows import (
    BrokenStopWait,
    Fanout,
    RawRoute,
    Recorder,
    StoppingWait,
    StopWorkflow,
    Wait,
    alarm,
    chain,
    decide,
    one_process,
    parallel,
    process,
    statuses,
    step,
    wait,
    workflow,
)
from tests.unit._listener_workflows import index_entries, new_engine, unique
from tests.unit._timed_workflows import START
from tests.unit._workflows import FailingTask, task_named


async def _create(
    template: ITemplateDAG, *, submit: bool = True, **params: Any
) -> ITemplateDAGInstance[Any, Any]:
    params.setdefault("order_id", "o-1")
    return await template.create_instance(uuid.uuid4(), "order_id", submit_task=submit, **params)


def _stored(local: LocalEngine, instance: Any) -> ITemplateDAGInstance[Any, Any]:
    stored = local.get_instance(getattr(instance, "id", instance))
    assert stored is not None
    return stored


def _tasks_of(update: dict[str, Any]) -> dict[str, str]:
    return {task["name"]: task["status"] for task in update["tasks"]}


def _no_waiting(local: LocalEngine) -> bool:
    """Nothing is left in the correlation index or the timer index."""
    return (
        index_entries(local.index) == {}
        and local.timers.pending() == 0
        and local.timers_store == {}
    )


# -- decisions ---------------------------------------------------------------------------


def _routed(engine: Any) -> ITemplateDAG:
    route = decide(engine, "route", chain(engine, "express", "express2"), step(engine, "standard"))
    return workflow(
        engine,
        process(engine, "P", step(engine, "start", route)),
        process(engine, "Q", step(engine, "tail")),
    )


async def test_a_decision_routes_the_workflow_and_one_update_records_it() -> None:
    engine = new_engine()
    template = _routed(engine)
    async with LocalEngine(engine) as local:
        instance = await _create(template, route="express")

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["start", "express", "express2", "tail"]
    [update] = local.updates
    assert update["status"] == "COMPLETED"
    assert _tasks_of(update) == {
        "P": "COMPLETED",
        "start": "COMPLETED",
        "route": "COMPLETED",
        "express": "COMPLETED",
        "express2": "COMPLETED",
        "standard": "SKIPPED",
        "Q": "COMPLETED",
        "tail": "COMPLETED",
    }
    assert update["runtime_parameters"]["route"] == "express"


async def test_a_decision_naming_no_branch_fails_the_workflow() -> None:
    engine = new_engine()
    route = decide(engine, "route", step(engine, "express"), task_type=RawRoute)
    template = one_process(engine, step(engine, "start", route))
    async with LocalEngine(engine) as local:
        instance = await _create(template, choice="express")

    [update] = local.updates
    assert (update["status"], update["error_type"]) == ("FAILURE", "InvalidDecision")
    assert "self.branch('express')" in update["error_message"]
    assert _tasks_of(update) == {
        "P": "FAILURE",
        "start": "COMPLETED",
        "route": "FAILURE",
        "express": "SKIPPED",
    }
    assert _stored(local, instance).runtime_parameters["ran"] == ["start"]


# -- parallel composites -----------------------------------------------------------------


async def test_at_least_one_stops_the_waiting_branches_when_one_completes() -> None:
    engine = new_engine(early_message_window=0)
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic, step(engine, "w2")),
        alarm(engine, "alarm"),
        operator=TaskOperator.ATLEAST_ONE,
        after=step(engine, "after"),
    )
    template = one_process(engine, par)
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(template, at=START + 60)
        key = index_key(topic, "order_id", "o-1")
        assert [lookup.task_id for lookup in local.keys.lookups(key)] == [
            task_named(_stored(local, instance), "w").id
        ]
        assert local.timers.pending() == 1
        assert len(local.updates) == 1

        assert await local.advance(60) == 1

        stored = _stored(local, instance)
        assert stored.status.code == "COMPLETED"
        assert statuses(stored) == {
            "P": "COMPLETED",
            "par": "COMPLETED",
            "w": "STOPPED",
            "w2": "STOPPED",
            "alarm": "COMPLETED",
            "after": "COMPLETED",
        }
        assert stored.runtime_parameters["stopped"] == ["w"]
        assert stored.runtime_parameters["fired"] == ["alarm"]
        assert stored.runtime_parameters["ran"] == ["after"]
        assert local.keys.lookups(key) == []
        assert _no_waiting(local)
        assert len(local.updates) == 2
        assert _tasks_of(local.updates[-1])["w"] == "STOPPED"

        completed = local.store[instance.id.encode()]
        await local.send_message(topic, {"order_id": "o-1"})

    assert local.store[instance.id.encode()] == completed
    assert len(local.updates) == 2
    assert local.dead_letters == []


async def test_join_all_waits_for_every_branch_with_one_update_per_change() -> None:
    engine = new_engine()
    first, second = unique("first"), unique("second")
    par = parallel(
        engine,
        "par",
        wait(engine, "w1", first),
        wait(engine, "w2", second),
        after=step(engine, "after"),
    )
    template = one_process(engine, par)
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(second, {"order_id": "o-1"})
        assert _stored(local, instance).status.code == "EXECUTING"
        await local.send_message(first, {"order_id": "o-1"})

    assert [update["status"] for update in local.updates] == [
        "EXECUTING",
        "EXECUTING",
        "COMPLETED",
    ]
    assert [_tasks_of(update)["par"] for update in local.updates] == [
        "EXECUTING",
        "EXECUTING",
        "COMPLETED",
    ]
    assert [_tasks_of(update)["w2"] for update in local.updates] == [
        "EXECUTING",
        "COMPLETED",
        "COMPLETED",
    ]
    assert _stored(local, instance).runtime_parameters["heard"] == ["w2", "w1"]
    assert _no_waiting(local)


async def test_a_failed_join_all_branch_stops_the_waiting_ones_and_fails_the_workflow() -> None:
    engine = new_engine()
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic),
        step(engine, "start_boom", step(engine, "boom", task_type=FailingTask)),
        after=step(engine, "after"),
    )
    template = one_process(engine, par)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

    stored = _stored(local, instance)
    assert (stored.status.code, stored.error_type) == ("FAILURE", "RuntimeError")
    assert statuses(stored) == {
        "P": "FAILURE",
        "par": "FAILURE",
        "w": "STOPPED",
        "start_boom": "COMPLETED",
        "boom": "FAILURE",
        "after": "NOT_STARTED",
    }
    assert stored.runtime_parameters["stopped"] == ["w"]
    assert _no_waiting(local)
    assert [update["status"] for update in local.updates] == ["FAILURE"]


async def test_parallel_processes_and_dynamic_processes_run_in_order() -> None:
    engine = new_engine()
    topic = unique("status")
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(
            [
                process(engine, "pA", wait(engine, "w", topic, step(engine, "a2"))),
                process(engine, "pB", step(engine, "b")),
            ]
        )
        .set_parallel_operator_type(TaskOperator.JOIN_ALL)
    )
    template: Any = workflow(
        engine,
        fan,
        DynamicProcessTemplateDagBuilder(engine).set_name("items"),
        process(engine, "tail", step(engine, "t")),
    )
    template.set_dynamic_builders_for_process_template(
        "items",
        [process(engine, f"item{n}", step(engine, f"i{n}")) for n in (1, 2)],
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        assert _stored(local, instance).runtime_parameters["ran"] == ["b"]
        await local.send_message(topic, {"order_id": "o-1"})

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["b", "a2", "i1", "i2", "t"]
    assert set(statuses(stored).values()) == {"COMPLETED"}
    assert len(local.updates) == 2


async def test_the_original_shapes_run_one_branch_per_call_and_a_chained_task_composite() -> None:
    """The original's integration app: branches added one per call, a composite built with
    none (its branches chosen per instance), and a parallel *task* template chained after
    it with set_next_process."""
    engine = new_engine()
    noop_topic, quick_topic = unique("noop"), unique("quick")
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(process(engine, "pA", wait(engine, "w", noop_topic)))
        .set_parallel_process_templates(process(engine, "pB", step(engine, "b")).build())
    )
    either = parallel(
        engine,
        "either",
        step(engine, "quick"),
        wait(engine, "slow", quick_topic),
        operator=TaskOperator.ATLEAST_ONE,
    )
    shipping = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("shipping")
        .set_next_process(either)  # type: ignore[arg-type]
    )
    template: Any = workflow(engine, fan, shipping)
    template.set_given_num_of_parallel_processes_for_a_composite_process(
        3, "shipping", process(engine, "ship", step(engine, "s"))
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        assert _stored(local, instance).runtime_parameters["ran"] == ["b"]
        await local.send_message(noop_topic, {"order_id": "o-1"})

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["b", "s", "s", "s", "quick"]
    assert task_named(stored, "slow").status.code == "STOPPED"
    [composite] = [
        task
        for task in stored.tasks.values()
        if task.task_type == "PARALLEL_COMPOSITE" and task.task_name == "either"
    ]
    assert composite.status.code == "COMPLETED"
    assert _no_waiting(local)


async def test_a_parallel_process_left_without_branches_completes_at_once() -> None:
    engine = new_engine()
    empty = ParallelCompositeProcessTemplateDagBuilder(engine).set_name("nothing")
    template = workflow(engine, empty, process(engine, "tail", step(engine, "t")))
    async with LocalEngine(engine) as local:
        instance = await _create(template)

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["t"]


async def test_a_dynamic_process_can_be_a_parallel_branch() -> None:
    engine = new_engine()
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(
            [
                DynamicProcessTemplateDagBuilder(engine).set_name("items"),
                process(engine, "pB", step(engine, "b")),
            ]
        )
    )
    template: Any = workflow(engine, fan, process(engine, "tail", step(engine, "t")))
    template.set_dynamic_builders_for_process_template(
        "items", [process(engine, f"item{n}", step(engine, f"i{n}")) for n in (1, 2)]
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["i1", "b", "i2", "t"]
    fan_task: Any = task_named(stored, "fan")
    assert fan_task.parallel_child_task_list == [
        task_named(stored, "item1").id,
        task_named(stored, "pB").id,
    ]
    assert task_named(stored, "item2").parent_id == fan_task.id


# -- stopping ----------------------------------------------------------------------------


def _waiting(engine: Any, topic: str, *, listener: Any = None) -> ITemplateDAG:
    """P: first -> par(w | alarm) -> after; then Q: q1."""
    options = {} if listener is None else {"task_type": listener}
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic, **options),
        alarm(engine, "alarm"),
        after=step(engine, "after"),
    )
    return workflow(
        engine,
        process(engine, "P", step(engine, "first", par)),
        process(engine, "Q", step(engine, "q1")),
    )


async def test_stop_instance_stops_every_task_and_clears_what_waits() -> None:
    engine = new_engine()
    topic = unique("status")
    template = _waiting(engine, topic)
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(template, at=START + 60)
        assert len(local.updates) == 1

        await engine.stop_instance(instance)

        stored = _stored(local, instance)
        assert (stored.status.code, stored.error_type) == ("STOPPED", "Stopped")
        found = statuses(stored)
        assert found.pop("first") == "COMPLETED"
        assert set(found.values()) == {"STOPPED"}
        assert stored.runtime_parameters["stopped"] == ["w"]
        assert _no_waiting(local)
        assert len(local.updates) == 2
        update = local.updates[-1]
        assert update["status"] == "STOPPED"
        assert _tasks_of(update) == statuses(stored)
        assert update["runtime_parameters"]["stopped"] == ["w"]

        # The timer was cancelled: time passing fires nothing.
        assert await local.advance(120) == 0
        assert len(local.updates) == 2


async def test_stopping_by_id_reaches_the_owner_once_whatever_the_partitions() -> None:
    engine = new_engine(kafka_partitions=4)
    topic = unique("status")
    template = _waiting(engine, topic)
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(template, at=START + 60)

        await engine.stop_instance(str(instance.id))

        assert _stored(local, instance).status.code == "STOPPED"
        assert [update["status"] for update in local.updates] == ["EXECUTING", "STOPPED"]
        stopped = local.store[instance.id.encode()]

        await engine.stop_instance(instance.id)
        await engine.stop_instance(_stored(local, instance))

        assert local.store[instance.id.encode()] == stopped
        assert len(local.updates) == 2


async def test_stop_instance_needs_an_instance_or_an_id() -> None:
    engine = new_engine()
    async with LocalEngine(engine):
        with pytest.raises(ValueError, match="instance or its id"):
            await engine.stop_instance("")
        with pytest.raises(ValueError, match="instance or its id"):
            await engine.stop_instance(None)


async def test_stopping_a_finished_instance_stores_and_publishes_nothing() -> None:
    engine = new_engine()
    template = one_process(engine, chain(engine, "a", "b"))
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        completed = local.store[instance.id.encode()]

        await engine.stop_instance(instance)
        await engine.stop_instance(instance, task_id=task_named(_stored(local, instance), "a").id)

    assert local.store[instance.id.encode()] == completed
    assert [update["status"] for update in local.updates] == ["COMPLETED"]


async def test_stopping_an_instance_before_it_is_submitted_keeps_it_from_starting() -> None:
    engine = new_engine()
    template = one_process(engine, chain(engine, "a", "b"))
    async with LocalEngine(engine) as local:
        instance = await _create(template, submit=False)
        await engine.stop_instance(instance)
        assert _stored(local, instance).status.code == "STOPPED"

        await engine.submit(instance)

    stored = _stored(local, instance)
    assert set(statuses(stored).values()) == {"STOPPED"}
    assert "ran" not in stored.runtime_parameters
    assert [update["status"] for update in local.updates] == ["NOT_STARTED", "STOPPED"]


async def test_stopping_one_parallel_process_lets_the_other_finish_the_workflow() -> None:
    engine = new_engine()
    first, second = unique("first"), unique("second")
    fan = (
        ParallelCompositeProcessTemplateDagBuilder(engine)
        .set_name("fan")
        .set_parallel_process_templates(
            [
                process(engine, "pA", wait(engine, "wA", first)),
                process(engine, "pB", wait(engine, "wB", second)),
            ]
        )
        .set_parallel_operator_type(TaskOperator.ATLEAST_ONE)
    )
    template = workflow(engine, fan, process(engine, "tail", step(engine, "t")))
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        p_a = task_named(_stored(local, instance), "pA").id

        await engine.stop_instance(instance, task_id=p_a)

        stored = _stored(local, instance)
        assert (stored.status.code, statuses(stored)["fan"]) == ("EXECUTING", "EXECUTING")
        assert (statuses(stored)["pA"], statuses(stored)["wA"]) == ("STOPPED", "STOPPED")
        assert stored.runtime_parameters["stopped"] == ["wA"]
        assert local.keys.lookups(index_key(first, "order_id", "o-1")) == []

        await local.send_message(second, {"order_id": "o-1"})

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert statuses(stored)["fan"] == "COMPLETED"
    assert stored.runtime_parameters["ran"] == ["t"]
    assert [update["status"] for update in local.updates] == ["EXECUTING", "EXECUTING", "COMPLETED"]


async def test_a_raising_stop_hook_is_logged_and_the_stop_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = new_engine()
    topic = unique("status")
    template = _waiting(engine, topic, listener=BrokenStopWait)
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(template, at=START + 60)
        with caplog.at_level(logging.WARNING, logger="dagger.runtime._owner"):
            await engine.stop_instance(instance)

    stored = _stored(local, instance)
    assert stored.status.code == "STOPPED"
    assert statuses(stored)["w"] == "STOPPED"
    assert stored.runtime_parameters["stopped"] == ["w"]
    assert _no_waiting(local)
    [record] = [r for r in caplog.records if "cannot release the lock" in r.getMessage()]
    assert "stop of task w" in record.getMessage()
    assert local.dead_letters == []


async def test_a_listener_can_stop_its_workflow_from_on_message() -> None:
    engine = new_engine()
    topic = unique("status")
    template = one_process(
        engine, wait(engine, "w", topic, step(engine, "after"), task_type=StoppingWait)
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(topic, {"order_id": "o-1"})

    stored = _stored(local, instance)
    assert stored.status.code == "STOPPED"
    assert statuses(stored) == {"P": "STOPPED", "w": "STOPPED", "after": "STOPPED"}
    assert stored.runtime_parameters["heard"] == ["w"]
    assert stored.runtime_parameters["stopped"] == ["w"]
    assert "ran" not in stored.runtime_parameters
    assert _no_waiting(local)
    assert [update["status"] for update in local.updates] == ["EXECUTING", "STOPPED"]


async def test_process_composite_and_instance_stop_outside_a_hook_go_through_the_engine() -> None:
    engine = new_engine()
    topic = unique("status")
    async with LocalEngine(engine, start=START) as local:
        for target in ("P", "par", "instance"):
            template = _waiting(engine, topic)
            instance = await _create(template, at=START + 60, order_id=f"o-{target}")
            stored = _stored(local, instance)
            node = stored if target == "instance" else task_named(stored, target)

            await node.stop(stored.runtime_parameters, stored)

            after = _stored(local, instance)
            assert after.status.code == "STOPPED", target
            assert statuses(after)["q1"] == "STOPPED"
            assert after.runtime_parameters["stopped"] == ["w"]
        assert _no_waiting(local)


async def test_an_executor_can_stop_its_workflow_from_inside_execute() -> None:
    engine = new_engine()
    template = one_process(
        engine,
        step(engine, "a", step(engine, "stopper", step(engine, "never"), task_type=StopWorkflow)),
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)

    stored = _stored(local, instance)
    assert stored.status.code == "STOPPED"
    assert stored.runtime_parameters["ran"] == ["a", "stopper"]
    assert stored.runtime_parameters["stopped"] == ["stopper"]
    assert statuses(stored)["never"] == "STOPPED"
    assert [update["status"] for update in local.updates] == ["STOPPED"]


async def test_stopping_a_task_that_has_not_started_is_stored() -> None:
    engine = new_engine()
    first, second = unique("first"), unique("second")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", first, step(engine, "w2")),
        wait(engine, "w3", second),
        operator=TaskOperator.ATLEAST_ONE,
    )
    template = one_process(engine, par)
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        w2 = task_named(_stored(local, instance), "w2").id

        await engine.stop_instance(instance, task_id=w2)

    assert statuses(_stored(local, instance))["w2"] == "STOPPED"
    assert len(local.updates) == 2


# -- deleting finished instances ---------------------------------------------------------


async def test_a_stopped_instance_deleted_on_completion_stays_deleted() -> None:
    engine = new_engine(delete_workflow_on_complete=True, kafka_partitions=3)
    topic = unique("status")
    template = _waiting(engine, topic)
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(template, at=START + 60)
        await engine.stop_instance(instance)
        assert local.store[instance.id.encode()] == TOMBSTONE
        assert local.get_instance(instance.id) is None
        updates = len(local.updates)
        assert local.updates[-1]["status"] == "STOPPED"

        await engine.stop_instance(instance)
        await engine.stop_instance(instance.id)
        await local.send_message(topic, {"order_id": "o-1"})
        await local.advance(120)

    assert local.store[instance.id.encode()] == TOMBSTONE
    assert local.get_instance(instance.id) is None
    assert len(local.updates) == updates
    assert local.dead_letters == []
    assert _no_waiting(local)


async def test_a_completed_at_least_one_instance_deleted_on_completion_stays_deleted() -> None:
    engine = new_engine(delete_workflow_on_complete=True, early_message_window=0)
    topic = unique("status")
    par = parallel(
        engine,
        "par",
        wait(engine, "w", topic),
        step(engine, "quick", task_type=Recorder),
        operator=TaskOperator.ATLEAST_ONE,
    )
    template = one_process(engine, par)
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        assert local.store[instance.id.encode()] == TOMBSTONE
        assert [update["status"] for update in local.updates] == ["COMPLETED"]
        assert _tasks_of(local.updates[0])["w"] == "STOPPED"

        await local.send_message(topic, {"order_id": "o-1"})
        await engine.stop_instance(instance)

    assert local.store[instance.id.encode()] == TOMBSTONE
    assert len(local.updates) == 1
    assert index_entries(local.index) == {}


# -- known bugs --------------------------------------------------------------------------


async def test_skipping_to_a_listener_in_a_parallel_branch_still_runs_the_other_branches() -> None:
    engine = new_engine()
    first, skip = unique("first"), unique("skip")
    par = parallel(
        engine,
        "par",
        wait(engine, "ws", skip, allow_skip_to=True),
        step(engine, "b"),
        after=step(engine, "after"),
    )
    template = one_process(engine, wait(engine, "w1", first, par))
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(skip, {"order_id": "o-1"})

    stored = _stored(local, instance)
    assert statuses(stored)["ws"] == "COMPLETED"
    assert statuses(stored)["b"] == "COMPLETED"
    assert stored.status.code == "COMPLETED"


async def test_skipping_into_a_decision_branch_skips_the_other_branches() -> None:
    engine = new_engine()
    first, skip = unique("first"), unique("skip")
    route = decide(
        engine,
        "route",
        step(engine, "x", wait(engine, "wx", skip, allow_skip_to=True)),
        step(engine, "y"),
    )
    template = one_process(engine, wait(engine, "w1", first, route))
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(skip, {"order_id": "o-1"})

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert statuses(stored)["route"] == "SKIPPED"
    assert statuses(stored)["y"] == "SKIPPED"


# -- containers' own execute hooks -------------------------------------------------------


class OpeningProcess(DefaultProcessTemplateDAGInstance):
    """A process class with an execute of its own, as the original's apps write them."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("ran", []).append(f"open {self.task_name}")
        if runtime_parameters.get("refuse") == self.task_name:
            raise RuntimeError(f"{self.task_name} will not open")
        await super().execute(runtime_parameters, workflow_instance)


class OpeningWorkflow(DefaultTemplateDAGInstance):
    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("ran", []).append("open workflow")


class OpeningFanout(Fanout):
    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("ran", []).append(f"open {self.task_name}")


def _opening(engine: Any) -> ITemplateDAG:
    first = process(engine, "P", step(engine, "a")).set_type(OpeningProcess)
    fan = parallel(engine, "fan", step(engine, "b"), task_type=OpeningFanout)
    second = process(engine, "Q", fan).set_type(OpeningProcess)
    helper = DAGBuilderHelper(dagger_app=engine)
    return helper.generic_template(
        template_name=unique("opening"),
        root_process=helper.build_and_link_processes([first, second]),
        template_type=OpeningWorkflow,
    )


async def test_a_containers_own_execute_runs_as_it_starts_before_its_tasks() -> None:
    engine = new_engine()
    template = _opening(engine)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["ran"] == [
        "open workflow",
        "open P",
        "a",
        "open Q",
        "open fan",
        "b",
    ]


async def test_a_containers_execute_that_raises_fails_it_and_runs_none_of_its_tasks() -> None:
    engine = new_engine()
    template = _opening(engine)
    async with LocalEngine(engine) as local:
        instance = await _create(template, refuse="Q")

    stored = _stored(local, instance)
    assert stored.status.code == "FAILURE"
    assert stored.runtime_parameters["ran"] == ["open workflow", "open P", "a", "open Q"]
    q = task_named(stored, "Q")
    assert (q.status.code, q.error_type, q.error_message) == (
        "FAILURE",
        "RuntimeError",
        "Q will not open",
    )
    assert task_named(stored, "b").status.code != "COMPLETED"


# -- the stop shapes of the original's docs ----------------------------------------------

STOPPED_BY_BARE_HOOK: list[str] = []


class BareStopWait(Wait):
    """Its stop hook takes no arguments, as the original's docs write it."""

    async def stop(self) -> None:  # type: ignore[override]
        STOPPED_BY_BARE_HOOK.append(self.task_name)


async def test_a_stop_hook_without_arguments_runs_and_instance_stop_needs_none() -> None:
    STOPPED_BY_BARE_HOOK.clear()
    engine = new_engine()
    topic = unique("status")
    template = one_process(engine, wait(engine, "w", topic, task_type=BareStopWait))
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await _stored(local, instance).stop()  # the docs: `await workflow_instance.stop()`

    stored = _stored(local, instance)
    assert stored.status.code == "STOPPED"
    assert statuses(stored)["w"] == "STOPPED"
    assert STOPPED_BY_BARE_HOOK == ["w"]
    assert _no_waiting(local)


# -- transitions a hook asks for use the engine's clock ---------------------------------

LONG_AGO = 1_000_000.0
"""An injected clock far from the wall clock: a wall-clock stamp cannot pass for it."""


class CompletesItsSuccessor(Recorder):
    """Completes the task after it from inside ``execute`` (the original's on_complete)."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        assert workflow_instance is not None
        following = workflow_instance.get_task(self.next_dags[0])
        await following.start(workflow_instance)
        await following.on_complete(workflow_instance)


async def test_transitions_made_from_a_hook_are_stamped_with_the_injected_clock() -> None:
    engine = new_engine()
    template = one_process(
        engine,
        step(engine, "a", step(engine, "b"), task_type=CompletesItsSuccessor),
    )
    stopping = one_process(
        engine, step(engine, "stopper", step(engine, "never"), task_type=StopWorkflow)
    )
    async with LocalEngine(engine, start=LONG_AGO) as local:
        completed = await _create(template)
        stopped = await _create(stopping)

    b = task_named(_stored(local, completed), "b")
    assert (b.status.code, b.time_submitted, b.time_completed) == ("COMPLETED", LONG_AGO, LONG_AGO)
    stored = _stored(local, stopped)
    assert stored.status.code == "STOPPED"
    assert stored.time_completed == LONG_AGO
    assert task_named(stored, "never").time_completed == LONG_AGO
