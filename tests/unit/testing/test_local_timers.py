"""Timed tasks run end to end in a LocalEngine whose clock moves only when told to.

``LocalEngine(engine, start=START)`` starts a manual clock; ``await local.advance(s)``
moves it and fires the timers then due through the same owner a worker runs.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from dagger.core._events import TimerFired
from dagger.core._keys import index_key
from dagger.exceptions.exceptions import InvalidTriggerTimeForTask
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.runtime._owner import TOMBSTONE
from dagger.service.services import Dagger
from dagger.tasks.task import (
    ITask,
    ITemplateDAGInstance,
    MonitoredProcessTemplateDAGInstance,
    MonitoringTask,
    SystemTimerTask,
)
from dagger.templates.template import ITemplateDAG
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import index_entries, new_engine, unique
from tests.unit._timed_workflows import (
    ALARM,
    POLL,
    START,
    WatchedProcess,
    alarm,
    listener,
    poll,
    process,
    step,
    template,
)
from tests.unit._workflows import FailingTask, task_named

ORDER = "ORDER"
LISTENER = f"{ORDER}_listener_task"
MONITOR = f"{ORDER}_monitor"


async def _create(template: ITemplateDAG, **params: Any) -> ITemplateDAGInstance[Any, Any]:
    params.setdefault("order_id", "o-1")
    return await template.create_instance(uuid.uuid4(), "order_id", submit_task=True, **params)


def _stored(local: LocalEngine, instance: ITemplateDAGInstance[Any, Any]) -> Any:
    stored = local.get_instance(instance.id)
    assert stored is not None
    return stored


def _task(
    local: LocalEngine, instance: ITemplateDAGInstance[Any, Any], name: str
) -> ITask[Any, Any]:
    return task_named(_stored(local, instance), name)


def _code(local: LocalEngine, instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    if name == "instance":
        return str(_stored(local, instance).status.code)
    return str(_task(local, instance, name).status.code)


def _params(local: LocalEngine, instance: ITemplateDAGInstance[Any, Any]) -> dict[str, Any]:
    return dict(_stored(local, instance).runtime_parameters)


def _no_timers(local: LocalEngine) -> bool:
    return local.timers.pending() == 0 and local.timers_store == {}


def _setup(**settings: Any) -> tuple[Dagger, DAGBuilderHelper]:
    engine = new_engine(**settings)
    return engine, DAGBuilderHelper(dagger_app=engine)


def _ready(order_id: str = "o-1") -> dict[str, Any]:
    return {"order_id": order_id, "status": "READY"}


# -- the clock ---------------------------------------------------------------------------


async def test_the_clock_starts_where_asked_and_only_moves_forward() -> None:
    engine, _ = _setup()
    async with LocalEngine(engine, start=START) as local:
        assert local.clock() == START
        assert await local.advance(2.5) == 0
        assert local.clock() == START + 2.5
        with pytest.raises(ValueError, match="forward"):
            await local.advance(-1)
        assert local.clock() == START + 2.5


# -- trigger tasks -----------------------------------------------------------------------


async def test_a_trigger_does_not_run_before_its_time_and_runs_at_it() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [alarm(helper), step(helper, "after")]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10)

        waiting = _task(local, instance, ALARM)
        assert (waiting.status.code, waiting.timer_due) == ("EXECUTING", START + 10)
        assert local.timers.pending() == 1
        assert local.timers.next_due(_stored(local, instance).owner_partition) == START + 10

        assert await local.advance(9) == 0
        assert _code(local, instance, ALARM) == "EXECUTING"
        assert "fired" not in _params(local, instance)

        assert await local.advance(1) == 1

    params = _params(local, instance)
    assert params["fired"] == [ALARM]
    assert params["ran"] == ["after"]
    assert _code(local, instance, "instance") == "COMPLETED"
    assert _task(local, instance, ALARM).timer_due is None
    assert _no_timers(local)


@pytest.mark.parametrize("offset", [-3600.0, 0.0])
async def test_a_trigger_due_now_or_in_the_past_runs_at_once(offset: float) -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [alarm(helper), step(helper, "after")]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + offset)

        assert _code(local, instance, "instance") == "COMPLETED"
        assert _params(local, instance)["fired"] == [ALARM]
        assert _no_timers(local)
        assert await local.advance(3600) == 0


async def test_a_trigger_time_given_as_text_is_read_as_epoch_seconds() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [alarm(helper)]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=str(START + 5))

        assert _task(local, instance, ALARM).timer_due == START + 5
        assert await local.advance(5) == 1
        assert _code(local, instance, "instance") == "COMPLETED"


@pytest.mark.parametrize(
    "params",
    [{}, {"at": None}, {"at": "soon"}, {"at": [START]}, {"at": True}, {"at": -1}, {"at": "nan"}],
    ids=["missing", "none", "text", "list", "bool", "negative", "nan"],
)
async def test_a_missing_or_bad_trigger_time_is_refused_by_create_instance(
    params: dict[str, Any],
) -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [alarm(helper)]))
    async with LocalEngine(engine, start=START) as local:
        with pytest.raises(InvalidTriggerTimeForTask, match=ALARM) as error:
            await _create(workflow, **params)

    assert re.search(r"\bat\b", str(error.value)), "the message names the parameter"
    assert local.store == {}
    assert local.updates == []
    assert _no_timers(local)


# -- interval tasks ----------------------------------------------------------------------


@pytest.mark.parametrize("fail_times", [0, 1, 3])
async def test_an_interval_task_tries_once_per_period_until_it_succeeds(fail_times: int) -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [poll(helper), step(helper, "after")]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(
            workflow, at=START + 5, every=10, until=START + 1000, fail_times=fail_times
        )
        assert "tries" not in _params(local, instance)
        assert await local.advance(4) == 0
        assert "tries" not in _params(local, instance)

        assert await local.advance(1) == 1
        for failed in range(1, fail_times + 1):
            assert _params(local, instance)["tries"] == failed
            assert _code(local, instance, POLL) == "EXECUTING"
            assert _task(local, instance, POLL).timer_due == local.clock() + 10
            assert await local.advance(9.5) == 0
            assert _params(local, instance)["tries"] == failed
            assert await local.advance(0.5) == 1

    params = _params(local, instance)
    assert params["tries"] == fail_times + 1
    assert params["executed"] == fail_times + 1
    assert params["ran"] == ["after"]
    assert _code(local, instance, POLL) == "COMPLETED"
    assert _code(local, instance, "instance") == "COMPLETED"
    assert _no_timers(local)


async def test_an_interval_task_past_its_deadline_completes_without_succeeding() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [poll(helper, starts_at=False)]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, every=10, until=START + 25, fail_times=1000)
        assert _params(local, instance)["tries"] == 1
        assert await local.advance(10) == 1
        assert await local.advance(10) == 1
        assert _params(local, instance)["tries"] == 3
        # The next try would be after the deadline: the timer is set at the deadline.
        assert _task(local, instance, POLL).timer_due == START + 25
        assert "executed" not in _params(local, instance)

        assert await local.advance(5) == 1

    params = _params(local, instance)
    assert params["executed"] == params["tries"] == 4
    assert _code(local, instance, POLL) == "COMPLETED"
    assert _code(local, instance, "instance") == "COMPLETED"
    assert _no_timers(local)


async def test_an_interval_task_whose_deadline_passed_before_it_started_runs_at_once() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [poll(helper, starts_at=False)]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, every=10, until=START - 1, fail_times=1000)

    assert _params(local, instance)["executed"] == 1
    assert _code(local, instance, "instance") == "COMPLETED"
    assert _no_timers(local)


@pytest.mark.parametrize("fail_times", [0, 2])
async def test_an_interval_task_without_a_start_time_tries_at_once(fail_times: int) -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [poll(helper, starts_at=False)]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, every=10, until=START + 1000, fail_times=fail_times)

        assert _params(local, instance)["tries"] == 1
        if fail_times:
            assert _task(local, instance, POLL).timer_due == START + 10
            assert await local.advance(10) == 1
            assert await local.advance(10) == 1

    assert _params(local, instance)["executed"] == fail_times + 1
    assert _code(local, instance, "instance") == "COMPLETED"
    assert _no_timers(local)


async def test_a_raising_interval_execute_counts_as_not_done() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [poll(helper, starts_at=False)]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, every=10, until=START + 1000, raise_times=2)

        assert _params(local, instance)["tries"] == 1
        assert _code(local, instance, POLL) == "EXECUTING"
        assert await local.advance(10) == 1
        assert _params(local, instance)["tries"] == 2
        assert _code(local, instance, "instance") == "EXECUTING"
        assert await local.advance(10) == 1

    assert _params(local, instance)["executed"] == 3
    assert _code(local, instance, "instance") == "COMPLETED"
    assert local.dead_letters == []
    assert _no_timers(local)


# -- monitored processes -----------------------------------------------------------------


async def test_a_monitor_fires_on_a_process_still_waiting_for_its_listener() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(
            helper,
            ORDER,
            [step(helper, "prepare"), listener(helper, topic, ORDER)],
            process_type=WatchedProcess,
        ),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, complete_by_time=START + 30)
        monitor = _task(local, instance, MONITOR)
        assert monitor.status.code == "EXECUTING"
        assert monitor.timer_due == START + 30
        assert monitor.parent_id == _task(local, instance, ORDER).id
        stored = _stored(local, instance)
        found = await engine.get_monitoring_task(_task(local, instance, ORDER), stored)
        assert found is not None and found.id == monitor.id
        assert await engine.get_monitoring_task(_task(local, instance, LISTENER), stored) is None

        assert await local.advance(29) == 0
        assert "late" not in _params(local, instance)

        assert await local.advance(1) == 1
        assert _params(local, instance)["late"] == [[ORDER, "EXECUTING"]]
        assert _code(local, instance, MONITOR) == "COMPLETED"
        assert _code(local, instance, ORDER) == "EXECUTING"
        assert _code(local, instance, LISTENER) == "EXECUTING"
        assert _no_timers(local)

        await local.send_message(topic, _ready())

    assert _code(local, instance, "instance") == "COMPLETED"
    assert _params(local, instance)["late"] == [[ORDER, "EXECUTING"]]


class SelfMonitoringProcess(WatchedProcess):
    """Written as the original's apps write it: execute calls up and sets the monitor up."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters["opened"] = True
        await super().execute(runtime_parameters, workflow_instance)
        await self.setup_monitoring_task(workflow_instance)


async def test_a_monitored_process_whose_execute_sets_the_monitor_up_gets_one_monitor() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(
            helper, ORDER, [listener(helper, topic, ORDER)], process_type=SelfMonitoringProcess
        ),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, complete_by_time=START + 30)
        assert _params(local, instance)["opened"] is True
        monitors = [
            task
            for task in _stored(local, instance).tasks.values()
            if isinstance(task, MonitoringTask)
        ]
        assert [monitor.task_name for monitor in monitors] == [MONITOR]
        assert await local.advance(30) == 1
        assert _params(local, instance)["late"] == [[ORDER, "EXECUTING"]]


async def test_a_monitor_fires_on_a_process_waiting_for_a_trigger() -> None:
    engine, helper = _setup()
    workflow = template(
        helper, process(helper, ORDER, [alarm(helper)], process_type=WatchedProcess)
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 60, complete_by_time=START + 30)
        assert local.timers.pending() == 2

        assert await local.advance(30) == 1
        assert _params(local, instance)["late"] == [[ORDER, "EXECUTING"]]
        assert "fired" not in _params(local, instance)

        assert await local.advance(30) == 1

    params = _params(local, instance)
    assert params["fired"] == [ALARM]
    assert params["late"] == [[ORDER, "EXECUTING"]]
    assert _code(local, instance, "instance") == "COMPLETED"
    assert _no_timers(local)


async def test_a_monitor_does_not_fire_on_a_process_that_finished_in_time() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(helper, ORDER, [alarm(helper)], process_type=WatchedProcess),
        process(helper, "NEXT", [listener(helper, topic, "NEXT")]),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10, complete_by_time=START + 30)

        assert await local.advance(10) == 1
        assert _code(local, instance, ORDER) == "COMPLETED"
        monitor = _task(local, instance, MONITOR)
        assert (monitor.status.code, monitor.timer_due) == ("COMPLETED", None)
        assert _no_timers(local)
        assert _code(local, instance, "instance") == "EXECUTING"

        assert await local.advance(60) == 0

    assert "late" not in _params(local, instance)


async def test_a_monitor_whose_time_passed_before_the_process_started_fires_at_once() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(helper, ORDER, [listener(helper, topic, ORDER)], process_type=WatchedProcess),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, complete_by_time=START - 1)

    assert _params(local, instance)["late"] == [[ORDER, "EXECUTING"]]
    assert _code(local, instance, MONITOR) == "COMPLETED"
    assert _no_timers(local)


async def test_the_default_monitor_records_the_late_process() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(
            helper,
            ORDER,
            [listener(helper, topic, ORDER)],
            process_type=MonitoredProcessTemplateDAGInstance,
        ),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, complete_by_time=START + 5)
        assert await local.advance(5) == 1

    assert _params(local, instance)["late_tasks"] == [ORDER]


@pytest.mark.parametrize("complete_by", ["soon", True])
async def test_a_bad_complete_by_time_is_refused_by_create_instance(complete_by: Any) -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(helper, ORDER, [listener(helper, topic, ORDER)], process_type=WatchedProcess),
    )
    async with LocalEngine(engine, start=START) as local:
        with pytest.raises(InvalidTriggerTimeForTask, match="complete_by_time"):
            await _create(workflow, complete_by_time=complete_by)

    assert local.store == {}


async def test_a_monitored_process_without_a_complete_by_time_has_no_monitor() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(helper, ORDER, [listener(helper, topic, ORDER)], process_type=WatchedProcess),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow)

        assert [task.task_name for task in _stored(local, instance).tasks.values()] == [
            ORDER,
            LISTENER,
        ]
        order = _task(local, instance, ORDER)
        assert await engine.get_monitoring_task(order, _stored(local, instance)) is None
        assert _no_timers(local)


# -- max_run_duration --------------------------------------------------------------------


async def test_an_overdue_process_is_skipped_with_its_waiting_listener() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(
            helper,
            ORDER,
            [step(helper, "prepare"), listener(helper, topic, ORDER), step(helper, "never")],
            max_run_duration=30,
        ),
        process(helper, "NEXT", [step(helper, "after")]),
    )
    key = index_key(topic, "order_id", "o-1")
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow)
        assert _task(local, instance, ORDER).timer_due == START + 30
        assert [lookup.task_id for lookup in local.keys.lookups(key)] == [
            _task(local, instance, LISTENER).id
        ]

        assert await local.advance(29.9) == 0
        assert _code(local, instance, ORDER) == "EXECUTING"

        assert await local.advance(0.1) == 1

        assert _code(local, instance, ORDER) == "SKIPPED"
        assert _code(local, instance, LISTENER) == "SKIPPED"
        assert _code(local, instance, "never") == "SKIPPED"
        assert _code(local, instance, "prepare") == "COMPLETED"
        assert _code(local, instance, "NEXT") == "COMPLETED"
        assert _code(local, instance, "instance") == "COMPLETED"
        assert _params(local, instance)["ran"] == ["prepare", "after"]
        assert local.keys.lookups(key) == []
        assert index_entries(local.index) == {}
        assert _no_timers(local)

        stored = local.store[instance.id.encode()]
        await local.send_message(topic, _ready())
        assert local.store[instance.id.encode()] == stored
        assert local.dead_letters == []


@pytest.mark.parametrize("duration", [30, 2.5])
async def test_an_overdue_process_cancels_the_timer_of_its_pending_trigger(
    duration: float,
) -> None:
    engine, helper = _setup()
    workflow = template(
        helper,
        process(helper, ORDER, [alarm(helper)], max_run_duration=duration),
        process(helper, "NEXT", [step(helper, "after")]),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 100)
        assert local.timers.pending() == 2

        assert await local.advance(duration) == 1

        trigger = _task(local, instance, ALARM)
        assert (trigger.status.code, trigger.timer_due) == ("SKIPPED", None)
        assert _code(local, instance, ORDER) == "SKIPPED"
        assert _code(local, instance, "instance") == "COMPLETED"
        assert _params(local, instance)["ran"] == ["after"]
        assert _no_timers(local)
        assert await local.advance(100) == 0

    assert "fired" not in _params(local, instance)


async def test_a_process_that_finishes_in_time_is_not_skipped() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(helper, ORDER, [alarm(helper)], max_run_duration=30),
        process(helper, "NEXT", [listener(helper, topic, "NEXT")]),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10)

        assert await local.advance(10) == 1
        assert _code(local, instance, ORDER) == "COMPLETED"
        assert _task(local, instance, ORDER).timer_due is None
        assert _no_timers(local)

        assert await local.advance(100) == 0
        assert _code(local, instance, ORDER) == "COMPLETED"
        assert _code(local, instance, "NEXT_listener_task") == "EXECUTING"


async def test_an_overdue_monitored_process_skips_its_monitor_too() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(
            helper,
            ORDER,
            [listener(helper, topic, ORDER)],
            process_type=WatchedProcess,
            max_run_duration=10,
        ),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, complete_by_time=START + 30)
        assert local.timers.pending() == 2

        assert await local.advance(10) == 1
        assert await local.advance(30) == 0

    assert _code(local, instance, MONITOR) == "SKIPPED"
    assert _code(local, instance, "instance") == "COMPLETED"
    assert "late" not in _params(local, instance)
    assert _no_timers(local)


async def test_a_process_entered_by_a_skip_to_listener_is_watched_too() -> None:
    engine, helper = _setup()
    first, topic = unique("payment"), unique("status")
    workflow = template(
        helper,
        process(helper, "FIRST", [listener(helper, first, "FIRST")]),
        process(
            helper,
            ORDER,
            [listener(helper, topic, ORDER, allow_skip_to=True), step(helper, "after")],
            process_type=WatchedProcess,
            max_run_duration=30,
        ),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, complete_by_time=START + 10)
        await local.send_message(topic, {"order_id": "o-1", "status": "COOKING"})
        assert _code(local, instance, "FIRST") == "SKIPPED"
        assert _code(local, instance, LISTENER) == "EXECUTING"

        assert await local.advance(10) == 1
        assert _params(local, instance)["late"] == [[ORDER, "EXECUTING"]]
        assert await local.advance(20) == 1
        assert _code(local, instance, ORDER) == "SKIPPED"
        assert _code(local, instance, "instance") == "COMPLETED"


# -- timers go away with what they time --------------------------------------------------


async def test_a_failing_workflow_drops_every_pending_timer() -> None:
    engine, helper = _setup()
    boom = helper.generic_executor_task_builder(task_type=FailingTask, name="boom")
    workflow = template(
        helper,
        process(
            helper,
            ORDER,
            [alarm(helper), boom],
            process_type=WatchedProcess,
            max_run_duration=60,
        ),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10, complete_by_time=START + 30)
        assert local.timers.pending() == 3
        assert len(local.timers_store) == 3

        assert await local.advance(10) == 1

        assert _code(local, instance, "instance") == "FAILURE"
        assert _no_timers(local)
        assert await local.advance(100) == 0

    assert "late" not in _params(local, instance)


async def test_an_instance_deleted_on_completion_leaves_no_timer() -> None:
    engine, helper = _setup(delete_workflow_on_complete=True)
    workflow = template(
        helper,
        process(helper, ORDER, [alarm(helper)], process_type=WatchedProcess, max_run_duration=60),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10, complete_by_time=START + 30)
        assert local.timers.pending() == 3

        assert await local.advance(10) == 1

        assert local.get_instance(instance.id) is None
        assert local.store[instance.id.encode()] == TOMBSTONE
        assert _no_timers(local)
        assert await local.advance(100) == 0


async def test_a_skip_to_listener_cancels_the_timer_of_the_trigger_it_skips() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper,
        process(helper, "FIRST", [alarm(helper)]),
        process(helper, ORDER, [listener(helper, topic, ORDER, allow_skip_to=True)]),
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 100)
        assert local.timers.pending() == 1

        await local.send_message(topic, _ready())

        assert _code(local, instance, ALARM) == "SKIPPED"
        assert _code(local, instance, "instance") == "COMPLETED"
        assert _no_timers(local)
        assert await local.advance(100) == 0

    assert "fired" not in _params(local, instance)


# -- replayed and stale timers -----------------------------------------------------------


async def _fired_and_replayed(
    local: LocalEngine, workflow: ITemplateDAG
) -> tuple[ITemplateDAGInstance[Any, Any], bytes]:
    """Fire an alarm, then put its stored timer back and reload it, as after a crash.

    Returns the instance and its stored bytes before the replay.
    """
    instance = await _create(workflow, at=START + 10)
    record = dict(local.timers_store)
    assert len(record) == 1
    assert await local.advance(10) == 1
    assert _params(local, instance)["fired"] == [ALARM]
    before = local.store[instance.id.encode()]

    local.timers_store.update(record)
    partition = _stored(local, instance).owner_partition
    assert local.timers.load([partition]) == 1
    assert await local.fire_due_timers() == 1
    return instance, before


async def test_a_replayed_timer_changes_nothing() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper, process(helper, ORDER, [alarm(helper), listener(helper, topic, ORDER)])
    )
    async with LocalEngine(engine, start=START) as local:
        instance, before = await _fired_and_replayed(local, workflow)

        assert local.store[instance.id.encode()] == before
        assert _params(local, instance)["fired"] == [ALARM]
        assert local.timers.pending() == 0


async def test_a_replayed_timer_leaves_no_record_behind() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper, process(helper, ORDER, [alarm(helper), listener(helper, topic, ORDER)])
    )
    async with LocalEngine(engine, start=START) as local:
        await _fired_and_replayed(local, workflow)

        assert local.timers_store == {}


async def _deliver(engine: Dagger, event: TimerFired, partition: int) -> None:
    """Append ``event`` to the engine topic of the active LocalEngine."""
    sink = engine._local_sink
    assert sink is not None
    await sink(event, partition)


async def test_a_stale_or_misdirected_timer_changes_nothing() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [poll(helper, starts_at=False)]))
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, every=10, until=START + 1000, fail_times=5)
        stored = _stored(local, instance)
        task = task_named(stored, POLL)
        assert task.timer_due == START + 10
        before = local.store[instance.id.encode()]
        store_before = dict(local.timers_store)
        updates = len(local.updates)

        await local.advance(5)
        for event in [
            TimerFired("stale", instance.id, task.id, START + 5),
            TimerFired("unknown-task", instance.id, "no-such-task", START + 10),
            TimerFired("unknown-instance", str(uuid.uuid4()), task.id, START + 10),
        ]:
            await _deliver(engine, event, stored.owner_partition)

        assert local.store[instance.id.encode()] == before
        assert len(local.updates) == updates
        assert _params(local, instance)["tries"] == 1
        assert local.timers_store == store_before
        assert local.timers.next_due(stored.owner_partition) == START + 10

        assert await local.advance(5) == 1
        assert _params(local, instance)["tries"] == 2


async def test_a_timer_for_a_finished_task_changes_nothing() -> None:
    engine, helper = _setup()
    topic = unique("status")
    workflow = template(
        helper, process(helper, ORDER, [alarm(helper), listener(helper, topic, ORDER)])
    )
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10)
        task_id = _task(local, instance, ALARM).id
        assert await local.advance(10) == 1
        before = local.store[instance.id.encode()]

        late = TimerFired("late", instance.id, task_id, START + 10)
        await _deliver(engine, late, _stored(local, instance).owner_partition)

        assert local.store[instance.id.encode()] == before
        assert _params(local, instance)["fired"] == [ALARM]


# -- the timer tick ----------------------------------------------------------------------


async def test_the_system_timer_task_fires_the_timers_of_the_local_engine() -> None:
    engine, helper = _setup()
    workflow = template(helper, process(helper, "P", [alarm(helper)]))
    assert Dagger.app is engine
    async with LocalEngine(engine, start=START) as local:
        instance = await _create(workflow, at=START + 10)
        local.clock.advance(10)
        assert _code(local, instance, ALARM) == "EXECUTING"

        await SystemTimerTask(id="tick", task_name="dagger_timer_tick").execute({})

        assert _params(local, instance)["fired"] == [ALARM]
        assert _code(local, instance, "instance") == "COMPLETED"
        assert await engine.fire_due_timers() == 0
    assert engine._local_timers is None


async def test_timers_of_many_instances_fire_in_due_order() -> None:
    engine, helper = _setup()
    order: list[str] = []

    async def callback(instance: ITemplateDAGInstance[Any, Any]) -> None:
        if instance.status.code == "COMPLETED":
            order.append(instance.runtime_parameters["order_id"])

    engine.task_update_callbacks.append(callback)
    workflow = template(helper, process(helper, "P", [alarm(helper)]))
    dues = {"o-3": 30, "o-1": 10, "o-4": 40, "o-2": 20}
    async with LocalEngine(engine, start=START) as local:
        for order_id, offset in dues.items():
            await _create(workflow, order_id=order_id, at=START + offset)
        assert local.timers.pending() == 4

        assert await local.advance(25) == 2
        assert order == ["o-1", "o-2"]
        assert await local.advance(25) == 2

    assert order == ["o-1", "o-2", "o-3", "o-4"]
    assert _no_timers(local)
