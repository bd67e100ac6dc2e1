"""A job's ``strategy.matrix``: combinations, ``max-parallel``, ``fail-fast``, outputs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dagger.declarative import DeclarativeError
from dagger.tasks.task import ITemplateDAGInstance
from dagger.testing import LocalEngine
from tests.unit.declarative._helpers import engine_with
from tests.unit.declarative.test_running import START, outputs, run

GRID = """
    grid:
      type: Workflow
      params:
        tables: {type: array, default: [a, b, c]}
      jobs:
        load:
          strategy:
            max-parallel: 2
            matrix:
              table: "${{ params.tables }}"
              part: [1, 2]
            exclude:
              - {table: b, part: 2}
            include:
              - {table: z, part: 9}
              - {table: a, part: 1}
          stages:
            - {id: nap, sleep: 10}
            - id: count
              call: test-load
              with: {table: "${{ matrix.table }}-${{ matrix.part }}", limit: "${{ matrix.part }}"}
        report:
          needs: [load]
          stages:
            - id: total
              call: test-echo
              with:
                value: >-
                  ${{ jobs.load.strategies.values()
                  | map(attribute='stages.count.outputs.rows') | sum }}
                  rows, first ${{ jobs.load.strategies['0'].stages.count.outputs.table
                  if jobs.load.strategies else 'none' }}
"""


def napping(instance: ITemplateDAGInstance[Any, Any]) -> list[str]:
    """The combinations napping now (by the index their delay key ends with)."""
    return sorted(
        str(getattr(task, "delay_key", "")).rsplit("[", 1)[-1].rstrip("]")
        for task in instance.tasks.values()
        if task.task_name == "nap" and task.status.code == "EXECUTING"
    )


def strategies(instance: ITemplateDAGInstance[Any, Any], job: str) -> dict[str, Any]:
    found: dict[str, Any] = instance.runtime_parameters["jobs"][job]["strategies"]
    return found


async def test_a_matrix_runs_each_combination_never_more_than_max_parallel_at_once(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, GRID)
    template = engine.get_template("grid")
    seen: list[list[str]] = []
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(uuid.uuid4(), submit_task=True)
        for _ in range(6):
            stored = local.get_instance(instance.id)
            assert stored is not None
            seen.append(napping(stored))
            await local.advance(10)
    # Six combinations, two at a time: three rounds of ten seconds.
    assert seen == [["0", "1"], ["2", "3"], ["4", "5"], [], [], []]
    done = local.get_instance(instance.id)
    assert done is not None and done.status.code == "COMPLETED"
    found = strategies(done, "load")
    assert [entry["matrix"] for entry in found.values()] == [
        {"table": "a", "part": 1},
        {"table": "a", "part": 2},
        {"table": "b", "part": 1},
        {"table": "c", "part": 1},
        {"table": "c", "part": 2},
        {"table": "z", "part": 9},
    ]
    assert {entry["status"] for entry in found.values()} == {"COMPLETED"}
    assert found["5"]["stages"]["count"]["outputs"] == {"rows": 9, "table": "z-9"}
    # A later job reads the outputs of every combination.
    assert outputs(done, "report", "total") == {"result": "16 rows, first a-1"}
    # They are in the update document, as the API and `dagger instances show` show them.
    assert local.updates[-1]["runtime_parameters"]["jobs"]["load"]["strategies"] == found


async def test_the_matrix_is_worked_out_from_the_params_of_each_instance(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, GRID)
    _, done = await run(engine, "grid", tables=["b"])
    assert [entry["matrix"] for entry in strategies(done, "load").values()] == [
        {"table": "b", "part": 1},
        {"table": "z", "part": 9},
        {"table": "a", "part": 1},
    ]


async def test_a_matrix_with_no_combination_left_runs_nothing_and_completes(
    tmp_path: Path,
) -> None:
    text = GRID.replace(
        "include:\n              - {table: z, part: 9}\n              - {table: a, part: 1}",
        "include: []",
    )
    engine = engine_with(tmp_path, text)
    _, done = await run(engine, "grid", tables=[])
    assert done.status.code == "COMPLETED"
    assert strategies(done, "load") == {}
    assert outputs(done, "report", "total") == {"result": "0 rows, first none"}


FAILING = """
    failing:
      type: Workflow
      jobs:
        load:
          strategy:
            max-parallel: 2
            fail-fast: FAST
            matrix:
              table: [ok1, bad, ok2, ok3]
          stages:
            - id: refuse
              if: "${{ matrix.table == 'bad' }}"
              raise: "cannot load ${{ matrix.table }}"
            - {id: nap, sleep: 10}
            - {id: count, call: test-load, with: {table: "${{ matrix.table }}"}}
        report:
          needs: [load]
          stages:
            - {id: never, call: test-echo, with: {value: never}}
"""


@pytest.mark.parametrize(
    ("fast", "expected"),
    [
        (True, ["STOPPED", "FAILURE", "SKIPPED", "SKIPPED"]),
        (False, ["COMPLETED", "FAILURE", "COMPLETED", "COMPLETED"]),
    ],
)
async def test_fail_fast_stops_the_other_combinations_or_lets_them_run(
    tmp_path: Path, fast: bool, expected: list[str]
) -> None:
    engine = engine_with(tmp_path, FAILING.replace("FAST", str(fast).lower()))
    async with LocalEngine(engine, start=START) as local:
        instance = await engine.get_template("failing").create_instance(
            uuid.uuid4(), submit_task=True
        )
        for _ in range(3):
            await local.advance(10)
    done = local.get_instance(instance.id)
    assert done is not None
    assert done.status.code == "FAILURE"
    assert (done.error_type, done.error_message) == (
        "StageFailed",
        "load: refuse:if: refuse: cannot load bad",
    )
    found = strategies(done, "load")
    assert [found[str(index)]["status"] for index in range(4)] == expected
    counted = [
        entry["stages"]["count"]["outputs"]["table"]
        for entry in found.values()
        if "count" in entry.get("stages", {})
    ]
    assert counted == ([] if fast else ["ok1", "ok2", "ok3"])
    report = [task for task in done.tasks.values() if task.task_name == "never"]
    assert report and report[0].status.code in {"NOT_STARTED", "SKIPPED"}


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (
            "{matrix: {table: 3}}",
            "flows.yaml:5: bad.jobs.load.strategy.matrix.table: "
            "a list of values, or an expression giving one; got 3",
        ),
        (
            "{matrix: {table: [a]}, exclude: [{colour: red}]}",
            "flows.yaml:5: bad.jobs.load.strategy.exclude[0].colour: "
            "unknown matrix key (the matrix has table)",
        ),
        (
            "{matrix: {table: [a]}, max-parallel: 0}",
            "flows.yaml:5: bad.jobs.load.strategy.max-parallel: "
            "max-parallel is an integer >= 1, got 0",
        ),
        (
            "{matrix: {table: [a]}, fail-fast: sometimes}",
            "flows.yaml:5: bad.jobs.load.strategy.fail-fast: fail-fast is true or false",
        ),
        (
            "{matrix: {table: [a]}, order: random}",
            "flows.yaml:5: bad.jobs.load.strategy.order: unknown field of strategy "
            "(matrix, include, exclude, max-parallel, fail-fast)",
        ),
    ],
)
def test_a_bad_strategy_is_refused_at_its_path(tmp_path: Path, strategy: str, message: str) -> None:
    text = f"""
        bad:
          type: Workflow
          jobs:
            load:
              strategy: {strategy}
              stages:
                - {{id: count, call: test-load, with: {{table: "${{{{ matrix.table }}}}"}}}}
    """
    with pytest.raises(DeclarativeError) as raised:
        engine_with(tmp_path, text)
    assert [str(problem) for problem in raised.value.problems] == [
        str(tmp_path / message.split(":", 1)[0]) + ":" + message.split(":", 1)[1]
    ]


def test_a_wait_in_a_job_with_a_matrix_is_refused(tmp_path: Path) -> None:
    text = """
        waits:
          type: Workflow
          jobs:
            load:
              strategy: {matrix: {table: [a, b]}}
              stages:
                - id: reply
                  wait: {topic: replies, key: "${{ matrix.table }}", match: table}
    """
    with pytest.raises(DeclarativeError) as raised:
        engine_with(tmp_path, text)
    assert [problem.message for problem in raised.value.problems] == [
        "a wait stage in a job with a matrix is not supported yet"
    ]
    assert raised.value.problems[0].path == "waits.jobs.load.stages[0]"


async def test_the_combinations_of_a_job_skipped_by_its_if_are_skipped(tmp_path: Path) -> None:
    text = """
        guarded:
          type: Workflow
          params: {go: bool}
          jobs:
            load:
              if: "${{ params.go }}"
              strategy: {matrix: {table: [a, b]}}
              stages:
                - {id: count, call: test-load, with: {table: "${{ matrix.table }}"}}
    """
    engine = engine_with(tmp_path, text)
    _, skipped = await run(engine, "guarded", go=False)
    _, ran = await run(engine, "guarded", go=True)
    assert skipped.status.code == ran.status.code == "COMPLETED"
    assert [entry["status"] for entry in strategies(skipped, "load").values()] == [
        "SKIPPED",
        "SKIPPED",
    ]
    assert [
        entry["stages"]["count"]["outputs"]["table"] for entry in strategies(ran, "load").values()
    ] == ["a", "b"]
