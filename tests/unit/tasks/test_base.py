"""The task model: per-instance mutable defaults, statuses and instance lookups."""

from __future__ import annotations

import pytest

from dagger.tasks._intents import StartTask, StopTask
from dagger.tasks.task import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    TaskStatus,
    TaskStatusEnum,
)
from tests.unit._workflows import RecordingTask


def test_mutable_defaults_are_not_shared() -> None:
    first = DefaultTemplateDAGInstance(id="a", task_name="w")
    second = DefaultTemplateDAGInstance(id="b", task_name="w")

    first.runtime_parameters["k"] = "v"
    first.tasks["t"] = RecordingTask(id="t", task_name="t")
    first.applied_events.append("e")
    first.next_dags.append("n")

    assert second.runtime_parameters == {}
    assert second.tasks == {}
    assert second.applied_events == []
    assert second.next_dags == []
    assert DefaultTemplateDAGInstance._options.defaults["runtime_parameters"] == {}


def test_given_collections_are_copied() -> None:
    parameters = {"k": "v"}
    next_dags = ["n"]

    instance = DefaultTemplateDAGInstance(
        id="a", task_name="w", runtime_parameters=parameters, next_dags=next_dags
    )
    instance.runtime_parameters["x"] = 1
    instance.next_dags.append("m")

    assert parameters == {"k": "v"}
    assert next_dags == ["n"]


def test_get_task_finds_tasks_and_the_instance_itself() -> None:
    instance = DefaultTemplateDAGInstance(id="w", task_name="w")
    process = DefaultProcessTemplateDAGInstance(id="p", task_name="p")
    instance.add_task(process)

    assert instance.get_task("w") is instance
    assert instance.get_task("p") is process
    with pytest.raises(KeyError):
        instance.get_task("missing")


def test_the_partition_key_is_the_named_parameter() -> None:
    instance = DefaultTemplateDAGInstance(
        id="w", task_name="w", partition_key_lookup="order", runtime_parameters={"order": 42}
    )

    assert instance.partition_key == "42"


def test_statuses_compare_by_code_and_are_terminal_only_when_final() -> None:
    assert TaskStatus() == TaskStatus.of(TaskStatusEnum.NOT_STARTED)
    assert TaskStatus.of(TaskStatusEnum.COMPLETED) != TaskStatus.of(TaskStatusEnum.FAILURE)
    assert TaskStatus.of(TaskStatusEnum.SKIPPED).value == "SKIPPED"
    task = RecordingTask(id="t", task_name="t")
    terminal = {}
    for status in TaskStatusEnum:
        task.status = TaskStatus.of(status)
        terminal[status.name] = task.is_terminal()

    assert terminal == {
        "NOT_STARTED": False,
        "SUBMITTED": False,
        "EXECUTING": False,
        "COMPLETED": True,
        "FAILURE": True,
        "SKIPPED": True,
        "STOPPED": True,
    }


def test_intents_are_taken_once_in_the_order_recorded() -> None:
    instance = DefaultTemplateDAGInstance(id="w", task_name="w")

    instance.record_intent(StartTask("a"))
    instance.record_intent(StopTask("b"))
    assert instance.take_intents() == [StartTask("a"), StopTask("b")]
    assert instance.take_intents() == []
