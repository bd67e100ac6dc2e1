"""Task, process and workflow template builders and the instances they create."""

from __future__ import annotations

import abc
import random
import uuid
from typing import Any

import pytest

from dagger.modeler.definition import (
    DefaultTemplateBuilder,
    ProcessTemplateDAG,
    ProcessTemplateDagBuilder,
    TemplateDAG,
)
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    ExecutorTask,
    ITask,
    TaskType,
)
from dagger.templates.template import (
    DefaultTaskTemplateBuilder,
    IProcessTemplateDAG,
    TaskTemplate,
)
from tests.unit._workflows import (
    OfflineEngine,
    OrderInstance,
    RecordingTask,
    SentInstance,
    build_template,
    task_named,
)


class NoExecute(ExecutorTask[str, Any]):
    """Forgets to implement ``execute``."""


class BareTask(ITask[str, Any]):
    """Implements none of the hooks."""


class HalfTask(ITask[str, Any], abc.ABC):
    """Implements one hook of three."""

    async def evaluate(self, **kwargs: Any) -> str | None:
        return None


def _task(engine: Dagger, name: str = "t") -> TaskTemplate:
    return DefaultTaskTemplateBuilder(engine).set_name(name).set_type(RecordingTask).build()


def _process(engine: Dagger, name: str = "p") -> IProcessTemplateDAG:
    return ProcessTemplateDagBuilder(engine).set_name(name).set_root_task(_task(engine)).build()


# -- task builders ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_task_name_must_be_a_non_empty_string(engine: Dagger, name: Any) -> None:
    with pytest.raises(ValueError, match="task name must be a non-empty string"):
        DefaultTaskTemplateBuilder(engine).set_name(name)


def test_a_task_without_a_name_cannot_be_built(engine: Dagger) -> None:
    builder = DefaultTaskTemplateBuilder(engine).set_type(RecordingTask)

    with pytest.raises(ValueError, match=r"set_name\(\) and set_type\(\)"):
        builder.build()


def test_a_task_without_a_type_cannot_be_built(engine: Dagger) -> None:
    builder = DefaultTaskTemplateBuilder(engine).set_name("t")

    with pytest.raises(ValueError, match=r"set_type\(\)"):
        builder.build()


@pytest.mark.parametrize(
    ("task_type", "missing"),
    [
        (NoExecute, "implement execute"),
        (BareTask, "implement evaluate, execute, on_message"),
        (HalfTask, "implement execute, on_message"),
    ],
)
def test_an_abstract_task_class_is_refused_naming_what_is_missing(
    engine: Dagger, task_type: type[ITask[Any, Any]], missing: str
) -> None:
    with pytest.raises(TypeError, match=f"{task_type.__name__} cannot be instantiated: {missing}$"):
        DefaultTaskTemplateBuilder(engine).set_type(task_type)


@pytest.mark.parametrize("task_type", [int, "RecordingTask", RecordingTask(id="x", task_name="x")])
def test_a_task_type_must_be_an_itask_class(engine: Dagger, task_type: Any) -> None:
    with pytest.raises(TypeError, match="task type must be a subclass of ITask"):
        DefaultTaskTemplateBuilder(engine).set_type(task_type)


def test_set_next_wants_a_built_template(engine: Dagger) -> None:
    unbuilt = DefaultTaskTemplateBuilder(engine).set_name("b").set_type(RecordingTask)

    with pytest.raises(TypeError, match=r"call \.build\(\) on the builder first"):
        DefaultTaskTemplateBuilder(engine).set_next(unbuilt)  # type: ignore[arg-type]


def test_a_task_builder_keeps_its_settings(engine: Dagger) -> None:
    following = _task(engine, "after")
    builder = DefaultTaskTemplateBuilder(engine)

    template = (
        builder.set_name("t").set_type(RecordingTask).set_allow_skip_to(1).set_next(following)
    ).build()

    assert template.name == "t"
    assert template.allow_skip_to is True
    assert template.task_dag_template == [following]


# -- process builders -------------------------------------------------------------------


def test_a_process_without_a_name_cannot_be_built(engine: Dagger) -> None:
    builder = ProcessTemplateDagBuilder(engine).set_root_task(_task(engine))

    with pytest.raises(ValueError, match=r"set_name\(\)"):
        builder.build()


@pytest.mark.parametrize("name", ["", None])
def test_a_process_name_must_be_a_non_empty_string(engine: Dagger, name: Any) -> None:
    with pytest.raises(ValueError, match="process name must be a non-empty string"):
        ProcessTemplateDagBuilder(engine).set_name(name)


def test_set_root_task_wants_a_built_template(engine: Dagger) -> None:
    unbuilt = DefaultTaskTemplateBuilder(engine).set_name("t").set_type(RecordingTask)

    with pytest.raises(TypeError, match=r"call \.build\(\) on the task builder first"):
        ProcessTemplateDagBuilder(engine).set_root_task(unbuilt)  # type: ignore[arg-type]


def test_set_next_process_wants_a_built_process(engine: Dagger) -> None:
    unbuilt = ProcessTemplateDagBuilder(engine).set_name("next")

    with pytest.raises(TypeError, match="set_next_process takes a built process template"):
        ProcessTemplateDagBuilder(engine).set_next_process(unbuilt)  # type: ignore[arg-type]


@pytest.mark.parametrize("process_type", [RecordingTask, DefaultTemplateDAGInstance, object])
def test_a_process_type_must_be_a_process_class(engine: Dagger, process_type: Any) -> None:
    with pytest.raises(TypeError, match="process type must be a subclass of"):
        ProcessTemplateDagBuilder(engine).set_type(process_type)


@pytest.mark.parametrize("duration", [30, 1.5, 0.25])
def test_a_process_timeout_in_seconds_is_kept(engine: Dagger, duration: float) -> None:
    built = ProcessTemplateDagBuilder(engine).set_name("p").set_max_run_duration(duration).build()
    direct = ProcessTemplateDAG(
        next_process_dag=[],
        app=engine,
        name="p",
        process_type=DefaultProcessTemplateDAGInstance,
        root_task_dag=None,
        max_run_duration=duration,
    )

    assert built.max_run_duration == duration
    assert direct.max_run_duration == duration


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        (-1, "max_run_duration must be >= 0"),
        (-0.5, "max_run_duration must be >= 0"),
        (True, "max_run_duration must be a number of seconds"),
        (False, "max_run_duration must be a number of seconds"),
        ("0", "max_run_duration must be a number of seconds"),
        (None, "max_run_duration must be a number of seconds"),
    ],
)
def test_a_process_timeout_must_be_a_non_negative_number(
    engine: Dagger, duration: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ProcessTemplateDagBuilder(engine).set_max_run_duration(duration)
    with pytest.raises(ValueError, match=message):
        ProcessTemplateDAG(
            next_process_dag=[],
            app=engine,
            name="p",
            process_type=DefaultProcessTemplateDAGInstance,
            root_task_dag=None,
            max_run_duration=duration,
        )


def test_a_process_without_timeout_builds(engine: Dagger) -> None:
    process = ProcessTemplateDagBuilder(engine).set_name("p").set_max_run_duration(0).build()

    assert isinstance(process, ProcessTemplateDAG)
    assert (process.name, process.max_run_duration, process.root_task_dag) == ("p", 0, None)
    assert process.process_type is DefaultProcessTemplateDAGInstance


# -- workflow builders ------------------------------------------------------------------


def test_a_template_without_a_root_cannot_be_built(engine: Dagger) -> None:
    builder = DefaultTemplateBuilder(engine).set_name("w")

    with pytest.raises(ValueError, match=r"set_name\(\) and set_root\(\)"):
        builder.build()


def test_a_template_without_a_name_cannot_be_built(engine: Dagger) -> None:
    builder = DefaultTemplateBuilder(engine).set_root(_process(engine))

    with pytest.raises(ValueError, match=r"set_name\(\)"):
        builder.build()


@pytest.mark.parametrize("name", ["", None])
def test_a_template_name_must_be_a_non_empty_string(engine: Dagger, name: Any) -> None:
    with pytest.raises(ValueError, match="template name must be a non-empty string"):
        DefaultTemplateBuilder(engine).set_name(name)


def test_set_root_wants_a_built_process(engine: Dagger) -> None:
    unbuilt = ProcessTemplateDagBuilder(engine).set_name("p")

    with pytest.raises(TypeError, match=r"call \.build\(\) on the builder first"):
        DefaultTemplateBuilder(engine).set_root(unbuilt)  # type: ignore[arg-type]


@pytest.mark.parametrize("template_type", [DefaultProcessTemplateDAGInstance, RecordingTask])
def test_a_template_type_must_be_a_workflow_class(engine: Dagger, template_type: Any) -> None:
    with pytest.raises(TypeError, match="template type must be a subclass of"):
        DefaultTemplateBuilder(engine).set_type(template_type)


def test_a_template_root_must_be_a_built_process(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="built process template"):
        TemplateDAG(
            dag=_task(engine),  # type: ignore[arg-type]
            name="w",
            app=engine,
            template_type=DefaultTemplateDAGInstance,
        )


# -- creating instances -----------------------------------------------------------------


async def test_create_instance_builds_the_linked_tree(engine: Dagger) -> None:
    template = build_template(
        engine,
        [("pay", [("reserve", RecordingTask), ("charge", RecordingTask)]), ("ship", [])],
        template_type=OrderInstance,
    )

    instance = await template.create_instance(uuid.UUID(int=7), "order_id", order_id="o-1")

    assert isinstance(instance, OrderInstance)
    assert instance.id == str(uuid.UUID(int=7))
    assert (instance.task_name, instance.template_name) == ("orders", "orders")
    assert (instance.task_type, instance.root_id) == (TaskType.ROOT.name, instance.id)
    assert instance.runtime_parameters == {"order_id": "o-1"}
    assert instance.partition_key == "o-1"
    pay, ship = task_named(instance, "pay"), task_named(instance, "ship")
    reserve, charge = task_named(instance, "reserve"), task_named(instance, "charge")
    assert len(instance.tasks) == 4
    assert instance.root_dag == pay.id
    assert (pay.next_dags, ship.next_dags) == ([ship.id], [])
    assert (pay.root_dag, ship.root_dag) == (reserve.id, None)
    assert (reserve.next_dags, charge.next_dags) == ([charge.id], [])
    assert {pay.parent_id, ship.parent_id} == {instance.id}
    assert {reserve.parent_id, charge.parent_id} == {pay.id}
    assert {pay.task_type, ship.task_type} == {TaskType.SUB_DAG.name}
    assert {reserve.task_type, charge.task_type} == {TaskType.LEAF.name}
    assert {reserve.process_name, charge.process_name} == {"pay"}
    assert {task.root_id for task in instance.tasks.values()} == {instance.id}
    assert {task.status.code for task in instance.tasks.values()} == {"NOT_STARTED"}
    assert all(isinstance(t, RecordingTask) for t in (reserve, charge))


async def test_the_ids_of_a_seeded_instance_are_reproducible(engine: Dagger) -> None:
    template = build_template(
        engine,
        [("p1", [("a", RecordingTask), ("b", RecordingTask)]), ("p2", [("c", RecordingTask)])],
    )

    first = await template.create_instance("i", "k", seed=random.Random(42), k="v")
    second = await template.create_instance("i", "k", seed=random.Random(42), k="v")
    other = await template.create_instance("i", "k", seed=random.Random(43), k="v")

    assert list(first.tasks) == list(second.tasks)
    assert first.root_dag == second.root_dag
    for name in ("p1", "p2", "a", "b", "c"):
        assert task_named(first, name).id == task_named(second, name).id
        assert task_named(first, name).next_dags == task_named(second, name).next_dags
    assert not set(first.tasks) & set(other.tasks)
    assert all(uuid.UUID(task_id).version == 4 for task_id in first.tasks)


async def test_unseeded_instances_get_fresh_ids(engine: Dagger) -> None:
    template = build_template(engine, [("p", [("a", RecordingTask)])])

    first = await template.create_instance("i", "k", k="v")
    second = await template.create_instance("i", "k", k="v")

    assert not set(first.tasks) & set(second.tasks)


async def test_create_instance_needs_the_partition_key_parameter(offline: OfflineEngine) -> None:
    template = build_template(offline.dagger, [("p", [("a", RecordingTask)])])

    with pytest.raises(ValueError, match=r"pass order_id=<value> to create_instance\(\)"):
        await template.create_instance("i", "order_id", customer="c")
    assert offline.sent == []


async def test_create_instance_hands_the_instance_to_the_engine(offline: OfflineEngine) -> None:
    template = build_template(offline.dagger, [("p", [("a", RecordingTask)])])

    default = await template.create_instance("i-1", "k", k="v")
    chosen = await template.create_instance("i-2", "k", k="v", repartition=False, submit_task=True)

    assert offline.sent == [
        SentInstance(default, repartition=True, submit=False),
        SentInstance(chosen, repartition=False, submit=True),
    ]


async def test_task_and_process_instances_need_a_workflow_instance(engine: Dagger) -> None:
    with pytest.raises(TypeError, match="workflow_instance"):
        await _task(engine).create_instance("t", "p", "p", "k")
    with pytest.raises(TypeError, match="workflow_instance"):
        await _process(engine).create_instance("p", "w", "w", "k")
