"""DAGBuilderHelper: shortcuts that build and link definitions in list order."""

from __future__ import annotations

from typing import Any

import pytest

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import ProcessTemplateDagBuilder, TemplateDAG
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
)
from dagger.templates.template import DefaultTaskTemplate, DefaultTaskTemplateBuilder
from tests.unit._workflows import OrderInstance, RecordingTask, task_named


class AuditedProcess(DefaultProcessTemplateDAGInstance):
    """A process type of the user's own."""


@pytest.fixture
def helper(engine: Dagger) -> DAGBuilderHelper:
    return DAGBuilderHelper(dagger_app=engine)


def _task_builders(helper: DAGBuilderHelper, *names: str) -> list[Any]:
    return [
        helper.generic_executor_task_builder(task_type=RecordingTask, name=name) for name in names
    ]


def _chain_names(template: Any, attribute: str) -> list[str]:
    names = []
    current = template
    while current is not None:
        names.append(current.name)
        following = getattr(current, attribute)
        assert len(following) <= 1
        current = following[0] if following else None
    return names


def test_generic_executor_task_builder_sets_name_type_and_skip(helper: DAGBuilderHelper) -> None:
    builder = helper.generic_executor_task_builder(
        task_type=RecordingTask, name="reserve", allow_skip_to=True
    )

    template = builder.build()

    assert isinstance(builder, DefaultTaskTemplateBuilder)
    assert isinstance(template, DefaultTaskTemplate)
    assert (template.name, template.allow_skip_to) == ("reserve_executor_task", True)
    assert template.task_dag_template == []


def test_build_and_link_tasks_links_in_list_order(helper: DAGBuilderHelper) -> None:
    first = helper.build_and_link_tasks(_task_builders(helper, "a", "b", "c", "d"))

    assert _chain_names(first, "task_dag_template") == [
        "a_executor_task",
        "b_executor_task",
        "c_executor_task",
        "d_executor_task",
    ]


def test_build_and_link_tasks_of_one_builder_is_that_task(helper: DAGBuilderHelper) -> None:
    only = helper.build_and_link_tasks(_task_builders(helper, "a"))

    assert _chain_names(only, "task_dag_template") == ["a_executor_task"]


def test_build_and_link_processes_links_in_list_order(helper: DAGBuilderHelper) -> None:
    builders = [
        helper.generic_process_builder(
            process_name=name, root_task=helper.build_and_link_tasks(_task_builders(helper, "t"))
        )
        for name in ("first", "second", "third")
    ]

    first = helper.build_and_link_processes(builders)

    assert _chain_names(first, "next_process_dag") == ["first", "second", "third"]


@pytest.mark.parametrize("method", ["build_and_link_tasks", "build_and_link_processes"])
def test_linking_nothing_is_refused(helper: DAGBuilderHelper, method: str) -> None:
    with pytest.raises(ValueError, match="needs at least one"):
        getattr(helper, method)([])


def test_generic_process_builder_sets_everything(helper: DAGBuilderHelper) -> None:
    root = helper.build_and_link_tasks(_task_builders(helper, "a"))

    builder = helper.generic_process_builder(
        process_name="audit", root_task=root, process_type=AuditedProcess
    )
    process = builder.build()

    assert isinstance(builder, ProcessTemplateDagBuilder)
    assert (process.name, process.root_task_dag, process.process_type) == (
        "audit",
        root,
        AuditedProcess,
    )
    assert process.max_run_duration == 0


@pytest.mark.parametrize("duration", [60, 0.5])
def test_generic_process_builder_takes_a_timeout_in_seconds(
    helper: DAGBuilderHelper, duration: float
) -> None:
    root = helper.build_and_link_tasks(_task_builders(helper, "a"))

    builder = helper.generic_process_builder(
        process_name="p", root_task=root, max_run_duration=duration
    )

    assert builder.build().max_run_duration == duration


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        (-1, "must be >= 0"),
        (True, "must be a number of seconds"),
        ("60", "must be a number of seconds"),
    ],
)
def test_generic_process_builder_refuses_a_bad_timeout(
    helper: DAGBuilderHelper, duration: Any, message: str
) -> None:
    root = helper.build_and_link_tasks(_task_builders(helper, "a"))

    with pytest.raises(ValueError, match=f"max_run_duration {message}"):
        helper.generic_process_builder(process_name="p", root_task=root, max_run_duration=duration)


def test_generic_process_builder_wants_a_built_root(helper: DAGBuilderHelper) -> None:
    [unbuilt] = _task_builders(helper, "a")

    with pytest.raises(TypeError, match=r"\.build\(\)"):
        helper.generic_process_builder(process_name="p", root_task=unbuilt)


def test_generic_template_builds_a_template(helper: DAGBuilderHelper) -> None:
    root_task = helper.build_and_link_tasks(_task_builders(helper, "a"))
    process = helper.build_and_link_processes(
        [helper.generic_process_builder(process_name="p", root_task=root_task)]
    )

    default = helper.generic_template(template_name="w", root_process=process)
    custom = helper.generic_template(
        template_name="o", root_process=process, template_type=OrderInstance
    )

    assert isinstance(default, TemplateDAG)
    assert (default.name, default.root_process_dag, default.template_type) == (
        "w",
        process,
        DefaultTemplateDAGInstance,
    )
    assert custom.template_type is OrderInstance


async def test_a_helper_built_workflow_creates_its_tasks_in_order(
    helper: DAGBuilderHelper,
) -> None:
    tasks = helper.build_and_link_tasks(_task_builders(helper, "a", "b", "c"))
    process = helper.build_and_link_processes(
        [
            helper.generic_process_builder(
                process_name="p", root_task=tasks, process_type=AuditedProcess
            )
        ]
    )
    template = helper.generic_template(template_name="w", root_process=process)

    instance = await template.create_instance("i", "k", k="v")

    a, b, c = (task_named(instance, name) for name in "abc")
    process_instance = task_named(instance, "p")
    assert isinstance(process_instance, AuditedProcess)
    assert process_instance.root_dag == a.id
    assert (a.next_dags, b.next_dags, c.next_dags) == ([b.id], [c.id], [])
