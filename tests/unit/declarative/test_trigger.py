"""``trigger`` stages: a child workflow started once, waited for, its end judged.

The LocalEngine hands each update document to the listeners waiting on the engine's task
update topic, as the broker does (integration_tests/test_declarative_trigger.py runs
the same on the embedded broker).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dagger.declarative import DeclarativeError
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit.declarative._helpers import OFFLINE, write
from tests.unit.declarative.test_running import START, outputs

UPDATES = "test_trigger_updates"

FLOWS = """
    child:
      type: Workflow
      params:
        table: str
      jobs:
        load:
          stages:
            - id: refuse
              if: "${{ params.table | lower == 'bad' }}"
              raise: "no table ${{ params.table }}"
            - {id: nap, sleep: 5}
            - {id: count, call: test-load, with: {table: "${{ params.table }}"}}
    parent:
      type: Workflow
      params:
        table: str
      jobs:
        run:
          stages:
            - id: child
              trigger: child
              params: {table: "${{ params.table | upper }}"}
            - id: after
              call: test-echo
              with: {value: "${{ jobs.run.stages.child.outputs.status }}"}
"""


def engine(folder: Path, text: str = FLOWS, **settings: Any) -> Dagger:
    path = write(folder, text)
    return Dagger(broker=OFFLINE, store="memory://", workflows=[str(path)], **settings)


async def start_parent(local: LocalEngine, app: Dagger, table: str) -> tuple[str, str]:
    """Start a parent; return its id and its child's."""
    parent = await app.get_template("parent").create_instance(
        uuid.uuid4(), submit_task=True, table=table
    )
    children = [update["id"] for update in local.updates if update["template"] == "child"]
    assert len(set(children)) == 1
    return parent.id, children[0]


async def test_a_child_that_completes_completes_the_stage_with_its_outputs(
    tmp_path: Path,
) -> None:
    app = engine(tmp_path, task_update_topic=UPDATES)
    async with LocalEngine(app, start=START) as local:
        parent_id, child_id = await start_parent(local, app, "orders")
        waiting = local.get_instance(parent_id)
        assert waiting is not None and waiting.status.code == "EXECUTING"
        assert "jobs" not in waiting.runtime_parameters  # the child naps: nothing to show
        await local.advance(5)
    parent, child = local.get_instance(parent_id), local.get_instance(child_id)
    assert parent is not None and child is not None
    assert child.status.code == "COMPLETED"
    assert child.runtime_parameters["table"] == "ORDERS"
    assert parent.status.code == "COMPLETED"
    found = outputs(parent, "run", "child")
    assert found["id"] == child_id and found["status"] == "COMPLETED"
    assert found["jobs"]["load"]["stages"]["count"]["outputs"] == {"rows": 10, "table": "ORDERS"}
    assert outputs(parent, "run", "after") == {"result": "COMPLETED"}


async def test_a_child_that_fails_fails_the_stage(tmp_path: Path) -> None:
    app = engine(tmp_path, task_update_topic=UPDATES)
    async with LocalEngine(app, start=START) as local:
        parent_id, child_id = await start_parent(local, app, "bad")
    parent = local.get_instance(parent_id)
    assert parent is not None and parent.status.code == "FAILURE"
    assert parent.error_type == "StageFailed"
    assert parent.error_message == (
        f"run: child:check: trigger child: workflow 'child' (instance {child_id}) "
        "ended FAILURE: load: refuse:if: refuse: no table BAD"
    )
    assert outputs(parent, "run", "child")["status"] == "FAILURE"


async def test_the_child_is_created_once_however_often_its_start_runs(tmp_path: Path) -> None:
    app = engine(tmp_path, task_update_topic=UPDATES)
    async with LocalEngine(app, start=START) as local:
        parent_id, child_id = await start_parent(local, app, "orders")
        parent = local.get_instance(parent_id)
        assert parent is not None
        start = next(t for t in parent.tasks.values() if t.task_name == "child:start")
        before = [u for u in local.updates if u["template"] == "child"]
        # The start task run again, as after a worker's crash before its batch committed:
        # the same child id, whose second creation the engine drops.
        await start.execute(parent.runtime_parameters, parent)
        after = [u for u in local.updates if u["template"] == "child"]
    assert {u["id"] for u in after} == {child_id}
    assert after == before


def test_a_trigger_needs_a_task_update_topic_and_a_workflow_name(tmp_path: Path) -> None:
    with pytest.raises(
        DeclarativeError, match=r"parent\.jobs\.run\.stages\[0\]\.trigger: a trigger"
    ):
        engine(tmp_path)
    with pytest.raises(DeclarativeError, match="cannot trigger itself"):
        engine(
            tmp_path, FLOWS.replace("trigger: child", "trigger: parent"), task_update_topic=UPDATES
        )
    with pytest.raises(DeclarativeError, match="trigger names the workflow to start"):
        engine(
            tmp_path,
            FLOWS.replace("trigger: child", 'trigger: "${{ params.table }}"'),
            task_update_topic=UPDATES,
        )


async def test_each_matrix_combination_triggers_a_child_of_its_own(tmp_path: Path) -> None:
    text = FLOWS.replace(
        """    run:
          stages:""",
        """    run:
          strategy:
            max-parallel: 2
            matrix: {suffix: [one, two]}
          stages:""",
    ).replace("params.table | upper", "params.table ~ '-' ~ matrix.suffix")
    text = text.replace("jobs.run.stages.child.outputs.status", "matrix.suffix")
    app = engine(tmp_path, text, task_update_topic=UPDATES)
    async with LocalEngine(app, start=START) as local:
        parent = await app.get_template("parent").create_instance(
            uuid.uuid4(), submit_task=True, table="t"
        )
        await local.advance(5)
    done = local.get_instance(parent.id)
    assert done is not None and done.status.code == "COMPLETED"
    runs = done.runtime_parameters["jobs"]["run"]["strategies"]
    children = [runs[index]["stages"]["child"]["outputs"] for index in ("0", "1")]
    assert [child["status"] for child in children] == ["COMPLETED", "COMPLETED"]
    assert [child["jobs"]["load"]["stages"]["count"]["outputs"]["table"] for child in children] == [
        "t-one",
        "t-two",
    ]
    assert len({child["id"] for child in children}) == 2


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "trigger: child",
            "trigger: no-such-flow",
            (
                "StageFailed",
                "run: child:start: trigger child: no declarative workflow 'no-such-flow' is loaded",
            ),
        ),
        (
            'params: {table: "${{ params.table | upper }}"}',
            "params: {tabel: x}",
            (
                "ParamsError",
                "run: child:start: workflow 'child': bad params: tabel: is not a parameter "
                "of this workflow (its params: table); table: is required (str)",
            ),
        ),
    ],
)
async def test_a_child_that_cannot_start_fails_the_stage(
    tmp_path: Path, old: str, new: str, error: tuple[str, str]
) -> None:
    assert old in FLOWS
    app = engine(tmp_path, FLOWS.replace(old, new), task_update_topic=UPDATES)
    async with LocalEngine(app, start=START) as local:
        parent = await app.get_template("parent").create_instance(
            uuid.uuid4(), submit_task=True, table="t"
        )
    done = local.get_instance(parent.id)
    assert done is not None and done.status.code == "FAILURE"
    assert (done.error_type, done.error_message) == error
    assert not [update for update in local.updates if update["template"] == "child"]
