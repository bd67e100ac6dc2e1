"""What a task's hooks changed in the runtime parameters: ``dagger.runtime._parameter_changes``."""

from __future__ import annotations

import datetime
from typing import Any

from dagger.runtime._parameter_changes import record, recorded
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance


class Noop(ExecutorTask[str, Any]):
    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        return None


def _task() -> Noop:
    return Noop(id="t-1", task_name="t")


def test_only_the_keys_a_run_changed_are_kept_with_what_it_saw_and_left() -> None:
    task = _task()
    parameters: dict[str, Any] = {"kept": 1, "total": 2, "gone": "x", "tags": ["a"]}
    with recorded(parameters, task):
        parameters["total"] = 5
        parameters["new"] = {"deep": True}
        del parameters["gone"]
        parameters["tags"].append("b")  # changed in place

    assert task.parameter_changes == {
        "total": {"before": 2, "after": 5},
        "new": {"after": {"deep": True}},
        "gone": {"before": "x"},
        "tags": {"before": ["a"], "after": ["a", "b"]},
    }
    parameters["tags"].append("c")  # what was recorded is a copy
    assert task.parameter_changes["tags"]["after"] == ["a", "b"]


def test_later_runs_keep_the_first_value_seen_and_the_last_left() -> None:
    task = _task()
    record(task, {"n": 1, "flag": False}, {"n": 2, "flag": True})
    record(task, {"n": 2, "flag": True}, {"n": 3, "flag": False})
    assert task.parameter_changes == {"n": {"before": 1, "after": 3}}
    record(task, {"n": 3}, {"n": 1})  # back to what it first saw: nothing changed
    assert task.parameter_changes == {}


def test_a_raising_hook_still_records_and_values_are_kept_as_json() -> None:
    task = _task()
    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)
    parameters: dict[str, Any] = {"at": when}
    try:
        with recorded(parameters, task):
            parameters["at"] = when  # the same value: JSON text on both sides
            parameters["step"] = "half-way"
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert task.parameter_changes == {"step": {"after": "half-way"}}
    record(task, {}, {"odd": object()})
    assert task.parameter_changes["odd"]["after"].startswith("<object object")
