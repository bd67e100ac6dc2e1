"""Builders and templates of timed tasks, and the timed options of process templates."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from dagger.core._registry import class_key, task_classes
from dagger.exceptions.exceptions import InvalidTriggerTimeForTask, UnknownTaskClass
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import ProcessTemplateDAG, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultTemplateDAGInstance,
    IntervalTask,
    ITask,
    ITemplateDAGInstance,
    MonitoredProcessTemplateDAGInstance,
    MonitoringTask,
    TriggerTask,
)
from dagger.templates._task_templates import trigger_time
from dagger.templates.template import (
    DefaultIntervalTaskTemplate,
    DefaultTriggerTaskTemplate,
    IntervalTaskTemplateBuilder,
    TriggerTaskTemplateBuilder,
)
from tests.unit._timed_workflows import (
    ALARM,
    POLL,
    START,
    Alarm,
    Poll,
    WatchedProcess,
    alarm,
    poll,
    process,
    step,
    template,
)
from tests.unit._workflows import RecordingTask, task_named


class AbstractTrigger(TriggerTask[str, Any]):
    """Does not implement ``execute``."""


def _trigger(engine: Dagger) -> TriggerTaskTemplateBuilder:
    return TriggerTaskTemplateBuilder(engine).set_name("wake").set_type(Alarm)


def _interval(engine: Dagger) -> IntervalTaskTemplateBuilder:
    return (
        IntervalTaskTemplateBuilder(engine)
        .set_name("retry")
        .set_type(Poll)
        .set_interval_execute_period_lookup_key("every")
        .set_time_to_force_complete_lookup_key("until")
    )


def _workflow(**params: Any) -> ITemplateDAGInstance[Any, Any]:
    return DefaultTemplateDAGInstance(
        id="instance-1", task_name="w", runtime_parameters=params, partition_key_lookup="k"
    )


async def _create(task_template: Any, **params: Any) -> ITask[Any, Any]:
    instance = _workflow(**params)
    return await task_template.create_instance(
        "task-1", "process-1", "P", "k", workflow_instance=instance
    )


# -- trigger task builders ---------------------------------------------------------------


async def test_a_trigger_builder_builds_a_trigger_template(engine: Dagger) -> None:
    built = _trigger(engine).set_time_to_execute_lookup_key("wake_at").build()

    assert isinstance(built, DefaultTriggerTaskTemplate)
    assert (built.name, built.time_to_execute_key) == ("wake", "wake_at")

    task = await _create(built, wake_at=START + 10)
    assert isinstance(task, Alarm)
    assert (task.task_name, task.time_to_execute, task.parent_id) == (
        "wake",
        START + 10,
        "process-1",
    )
    assert task.status.code == "NOT_STARTED"


def test_a_trigger_builder_needs_its_time_key(engine: Dagger) -> None:
    with pytest.raises(ValueError, match=r"set_time_to_execute_lookup_key\(\)"):
        _trigger(engine).build()
    with pytest.raises(ValueError, match=r"set_name\(\)"):
        TriggerTaskTemplateBuilder(engine).set_type(Alarm).set_time_to_execute_lookup_key(
            "at"
        ).build()


@pytest.mark.parametrize("key", ["", None, 5])
def test_a_time_key_must_be_a_parameter_name(engine: Dagger, key: Any) -> None:
    with pytest.raises(ValueError, match="parameter name"):
        TriggerTaskTemplateBuilder(engine).set_time_to_execute_lookup_key(key)
    with pytest.raises(ValueError, match="parameter name"):
        IntervalTaskTemplateBuilder(engine).set_interval_execute_period_lookup_key(key)
    with pytest.raises(ValueError, match="parameter name"):
        IntervalTaskTemplateBuilder(engine).set_time_to_force_complete_lookup_key(key)


@pytest.mark.parametrize("task_type", [RecordingTask, AbstractTrigger, "Alarm", None])
def test_a_trigger_builder_takes_only_usable_trigger_task_classes(
    engine: Dagger, task_type: Any
) -> None:
    with pytest.raises(TypeError):
        TriggerTaskTemplateBuilder(engine).set_type(task_type)


def test_a_trigger_template_refuses_a_task_that_is_not_a_trigger(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="TriggerTask"):
        DefaultTriggerTaskTemplate(engine, RecordingTask, "t", "at", [], False)


def test_a_trigger_builder_keeps_skip_to_and_next(engine: Dagger) -> None:
    following = step(DAGBuilderHelper(dagger_app=engine), "after").build()

    built = (
        _trigger(engine)
        .set_time_to_execute_lookup_key("at")
        .set_allow_skip_to(True)
        .set_next(following)
        .build()
    )

    assert isinstance(built, DefaultTriggerTaskTemplate)
    assert built.allow_skip_to is True
    assert built.task_dag_template == [following]


# -- interval task builders --------------------------------------------------------------


async def test_an_interval_builder_builds_an_interval_template(engine: Dagger) -> None:
    built = _interval(engine).set_time_to_execute_lookup_key("from").build()

    assert isinstance(built, DefaultIntervalTaskTemplate)
    assert (
        built.time_to_execute_key,
        built.interval_execute_period_key,
        built.time_to_force_complete_key,
    ) == ("from", "every", "until")

    task = await _create(built, every="2.5", until=START + 60, **{"from": START + 5})
    assert isinstance(task, Poll)
    assert (task.time_to_execute, task.interval_execute_period, task.time_to_force_complete) == (
        START + 5,
        2.5,
        START + 60,
    )


async def test_an_interval_task_start_time_is_optional(engine: Dagger) -> None:
    without_key = _interval(engine).build()
    with_key = _interval(engine).set_time_to_execute_lookup_key("from").build()

    no_key = await _create(without_key, every=1, until=START, **{"from": START})
    no_value = await _create(with_key, every=1, until=START)

    assert isinstance(no_key, Poll)
    assert isinstance(no_value, Poll)
    assert (no_key.time_to_execute, no_value.time_to_execute) == (None, None)


@pytest.mark.parametrize(
    "setup",
    [
        lambda b: b.set_name("r").set_type(Poll).set_time_to_force_complete_lookup_key("u"),
        lambda b: b.set_name("r").set_type(Poll).set_interval_execute_period_lookup_key("e"),
        lambda b: (
            b.set_type(Poll)
            .set_interval_execute_period_lookup_key("e")
            .set_time_to_force_complete_lookup_key("u")
        ),
    ],
    ids=["no-period", "no-deadline", "no-name"],
)
def test_an_interval_builder_needs_its_period_and_deadline_keys(engine: Dagger, setup: Any) -> None:
    builder = setup(IntervalTaskTemplateBuilder(engine))

    with pytest.raises(ValueError, match="an interval task needs"):
        builder.build()


@pytest.mark.parametrize("task_type", [Alarm, RecordingTask])
def test_an_interval_builder_takes_only_interval_task_classes(
    engine: Dagger, task_type: Any
) -> None:
    with pytest.raises(TypeError, match="IntervalTask"):
        IntervalTaskTemplateBuilder(engine).set_type(task_type)


def test_an_interval_template_refuses_a_plain_trigger(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="IntervalTask"):
        DefaultIntervalTaskTemplate(engine, Alarm, "t", None, "u", "e", [], False)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"until": START}, "needs the runtime parameter 'every'"),
        ({"every": 1}, "needs the runtime parameter 'until'"),
        ({"every": 0, "until": START}, "must be > 0"),
        ({"every": 0.0, "until": START}, "must be > 0"),
        ({"every": -1, "until": START}, "must be >= 0"),
        ({"every": "often", "until": START}, "not a number of seconds"),
        ({"every": 1, "until": "later"}, "not a number of seconds"),
        ({"every": 1, "until": START, "from": False}, "not a number of seconds"),
    ],
)
async def test_bad_interval_parameters_are_refused(
    engine: Dagger, params: dict[str, Any], message: str
) -> None:
    built = _interval(engine).set_time_to_execute_lookup_key("from").build()

    with pytest.raises(InvalidTriggerTimeForTask, match=message):
        await _create(built, **params)


# -- reading times from the runtime parameters -------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0.0), (12, 12.0), (1.5, 1.5), ("7", 7.0), (" 8.25 ", 8.25), (START, START)],
)
def test_trigger_time_reads_numbers_and_numeric_text(value: Any, seconds: float) -> None:
    read = trigger_time({"at": value}, "at", "t", required=True)

    assert read == seconds
    assert isinstance(read, float)


@pytest.mark.parametrize(
    "value", [True, False, "soon", "", [1], {"at": 1}, -0.5, "-3", "nan", math.nan]
)
def test_trigger_time_refuses_what_is_not_seconds(value: Any) -> None:
    with pytest.raises(InvalidTriggerTimeForTask, match="'t'"):
        trigger_time({"at": value}, "at", "t", required=False)


def test_trigger_time_is_none_only_when_not_required() -> None:
    assert trigger_time({}, "at", "t", required=False) is None
    assert trigger_time({"at": None}, "at", "t", required=False) is None
    assert trigger_time({"at": 1}, None, "t", required=False) is None
    with pytest.raises(InvalidTriggerTimeForTask, match="needs the runtime parameter 'at'"):
        trigger_time({}, "at", "t", required=True)


# -- the helper's shortcuts --------------------------------------------------------------


def test_generic_trigger_task_builder_names_and_keys_the_task(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)

    builder = helper.generic_trigger_task_builder(
        task_type=Alarm, name="wake", time_to_execute_key="at", allow_skip_to=True
    )
    built = builder.build()

    assert isinstance(builder, TriggerTaskTemplateBuilder)
    assert isinstance(built, DefaultTriggerTaskTemplate)
    assert (built.name, built.time_to_execute_key, built.allow_skip_to) == (
        "wake_trigger_task",
        "at",
        True,
    )


@pytest.mark.parametrize("time_to_execute_key", [None, "from"])
def test_generic_interval_task_builder_names_and_keys_the_task(
    engine: Dagger, time_to_execute_key: str | None
) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)

    builder = helper.generic_interval_task_builder(
        task_type=Poll,
        name="retry",
        interval_execute_period_key="every",
        time_to_force_complete_key="until",
        time_to_execute_key=time_to_execute_key,
    )
    built = builder.build()

    assert isinstance(builder, IntervalTaskTemplateBuilder)
    assert isinstance(built, DefaultIntervalTaskTemplate)
    assert (
        built.name,
        built.time_to_execute_key,
        built.interval_execute_period_key,
        built.time_to_force_complete_key,
        built.allow_skip_to,
    ) == ("retry_interval_task", time_to_execute_key, "every", "until", False)


@pytest.mark.parametrize("task_type", [RecordingTask, Alarm])
def test_the_helper_checks_the_timed_task_types(engine: Dagger, task_type: Any) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)

    with pytest.raises(TypeError, match="IntervalTask"):
        helper.generic_interval_task_builder(
            task_type=task_type,
            name="x",
            interval_execute_period_key="every",
            time_to_force_complete_key="until",
        )
    if not issubclass(task_type, TriggerTask):
        with pytest.raises(TypeError, match="TriggerTask"):
            helper.generic_trigger_task_builder(
                task_type=task_type, name="x", time_to_execute_key="at"
            )


async def test_timed_tasks_are_created_inside_a_workflow(offline: Any) -> None:
    engine = offline.dagger
    helper = DAGBuilderHelper(dagger_app=engine)
    workflow = template(
        helper, process(helper, "P", [step(helper, "first"), alarm(helper), poll(helper)])
    )

    instance = await workflow.create_instance(
        "instance-1",
        "order_id",
        seed=random.Random(0),
        order_id="o-1",
        at=START + 10,
        every=5,
        until=START + 60,
        submit_task=True,
    )

    first, trigger, retry = (task_named(instance, n) for n in ("first", ALARM, POLL))
    assert first.next_dags == [trigger.id]
    assert trigger.next_dags == [retry.id]
    assert trigger.time_to_execute == START + 10  # type: ignore[attr-defined]
    assert retry.time_to_execute == START + 10  # type: ignore[attr-defined]
    assert [sent.instance.id for sent in offline.sent] == ["instance-1"]


async def test_a_bad_trigger_time_sends_no_instance(offline: Any) -> None:
    engine = offline.dagger
    helper = DAGBuilderHelper(dagger_app=engine)
    workflow = template(helper, process(helper, "P", [alarm(helper)]))

    with pytest.raises(InvalidTriggerTimeForTask):
        await workflow.create_instance("instance-1", "order_id", order_id="o-1", at="soon")

    assert offline.sent == []


# -- timed processes ---------------------------------------------------------------------


@pytest.mark.parametrize("duration", [0, 30, 2.5])
async def test_a_process_instance_carries_its_max_run_duration(
    engine: Dagger, duration: float
) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)
    workflow = template(
        helper, process(helper, "P", [step(helper, "a")], max_run_duration=duration)
    )

    instance = await workflow.create_instance("instance-1", "order_id", order_id="o-1")

    assert task_named(instance, "P").max_run_duration == duration  # type: ignore[attr-defined]


class PagerMonitor(MonitoringTask[str, Any]):
    """A monitoring class that only the monitored process type below names."""

    async def process_monitored_task(
        self, monitored_task: ITask[Any, Any], workflow_instance: Any
    ) -> None:
        """Nothing to do."""


class PagedProcess(MonitoredProcessTemplateDAGInstance):
    def get_monitoring_task_type(self) -> type[MonitoringTask[Any, Any]]:
        return PagerMonitor


def test_a_monitored_process_template_registers_its_monitoring_class(engine: Dagger) -> None:
    with pytest.raises(UnknownTaskClass):
        task_classes.resolve(class_key(PagerMonitor))

    built = ProcessTemplateDagBuilder(engine).set_name("paged").set_type(PagedProcess).build()

    assert isinstance(built, ProcessTemplateDAG)
    assert task_classes.resolve(class_key(PagerMonitor)) is PagerMonitor
    assert task_classes.resolve(class_key(PagedProcess)) is PagedProcess


def test_the_helper_builds_monitored_processes_with_a_deadline(engine: Dagger) -> None:
    helper = DAGBuilderHelper(dagger_app=engine)

    built = helper.generic_process_builder(
        process_name="P",
        root_task=helper.build_and_link_tasks([step(helper, "a")]),
        process_type=WatchedProcess,
        max_run_duration=90,
    ).build()

    assert (built.process_type, built.max_run_duration) == (WatchedProcess, 90)


async def test_interval_tasks_try_once_and_are_done_by_default() -> None:
    class Plain(IntervalTask[str, Any]):
        async def execute(
            self,
            runtime_parameters: dict[str, Any],
            workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
        ) -> None:
            """Nothing to do."""

    assert await Plain(id="p", task_name="p").interval_execute({}) is True
