"""Declarative stages that repeat, guard or shell out: foreach, until, a stage's if, bash."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import dagger.declarative
from dagger.declarative import DeclarativeError
from dagger.tasks.task import ITemplateDAGInstance
from dagger.testing import LocalEngine
from tests.unit.declarative._helpers import TRIES, engine_with
from tests.unit.declarative.test_running import START, outputs, run, statuses


async def test_a_stage_if_skips_only_that_stage(tmp_path: Path) -> None:
    text = """
        guarded:
          type: Workflow
          params:
            loud: bool
          jobs:
            one:
              stages:
                - {id: shout, if: "${{ params.loud }}", call: test-echo, with: {value: HEY}}
                - {id: after, call: test-echo, with: {value: after}}
    """
    engine = engine_with(tmp_path, text)
    _, quiet = await run(engine, "guarded", loud=False)
    _, loud = await run(engine, "guarded", loud=True)
    assert quiet.status.code == loud.status.code == "COMPLETED"
    assert statuses(quiet)["shout"] == "SKIPPED"
    assert outputs(quiet, "one", "after") == {"result": "after"}
    assert outputs(loud, "one", "shout") == {"result": "HEY"}


BASH = """
    scripts:
      type: Workflow
      params:
        who: str
      jobs:
        one:
          stages:
            - id: greet
              bash:
                run: 'printf "hello %s" "$WHO"; echo warn >&2'
                env: {WHO: "${{ params.who }}"}
            - id: fail
              if: "${{ params.who == 'fail' }}"
              bash: {run: "echo broken >&2; exit 3"}
            - id: slow
              if: "${{ params.who == 'slow' }}"
              bash: {run: "sleep 5", timeout: 0.2}
"""


@pytest.fixture
def bash_allowed() -> Any:
    dagger.declarative.allow_bash()
    yield
    dagger.declarative.allow_bash(False)


async def test_bash_runs_its_script_with_rendered_env_and_keeps_stdout(
    tmp_path: Path, bash_allowed: None
) -> None:
    engine = engine_with(tmp_path, BASH)
    _, done = await run(engine, "scripts", who="ada; rm -rf /")
    assert done.status.code == "COMPLETED"
    assert outputs(done, "one", "greet") == {
        "stdout": "hello ada; rm -rf /",
        "stderr": "warn\n",
        "returncode": 0,
    }
    _, failed = await run(engine, "scripts", who="fail")
    assert (failed.error_type, failed.error_message) == (
        "ScriptFailed",
        "one: fail:if: fail: the script exited with 3: broken",
    )
    _, slow = await run(engine, "scripts", who="slow")
    assert (
        slow.error_message
        == "one: slow:if: slow: the script ran longer than 0.2 seconds and was killed"
    )


def test_bash_is_off_unless_allowed_and_never_takes_expressions(tmp_path: Path) -> None:
    dagger.declarative.allow_bash(False)
    with pytest.raises(DeclarativeError, match="bash stages are off: allow them"):
        engine_with(tmp_path, BASH)
    dagger.declarative.allow_bash()
    try:
        spliced = BASH.replace(
            '\'printf "hello %s" "$WHO"; echo warn >&2\'', "echo ${{ params.who }}"
        )
        with pytest.raises(DeclarativeError, match="run is the script's literal text"):
            engine_with(tmp_path, spliced)
    finally:
        dagger.declarative.allow_bash(False)


UNTIL = """
    polls:
      type: Workflow
      params:
        key: str
        after: int
      jobs:
        one:
          stages:
            - id: ready
              until:
                call: test-ready
                with: {key: "${{ params.key }}", after: "${{ params.after }}"}
                every: 10
                max-tries: 3
"""


async def test_until_tries_again_on_the_timer_until_truthy_or_out_of_tries(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, UNTIL)
    template = engine.get_template("polls")
    async with LocalEngine(engine, start=START) as local:
        soon = await template.create_instance(uuid.uuid4(), key="soon", after=3, submit_task=True)
        never = await template.create_instance(uuid.uuid4(), key="never", after=9, submit_task=True)
        await local.advance(9)
        waiting = local.get_instance(soon.id)
        assert waiting is not None and waiting.status.code == "EXECUTING"
        await local.advance(1)
        await local.advance(10)
    done, failed = local.get_instance(soon.id), local.get_instance(never.id)
    assert done is not None and failed is not None
    assert done.status.code == "COMPLETED"
    assert outputs(done, "one", "ready") == {"tries": 3}
    assert failed.status.code == "FAILURE"
    assert (failed.error_type, failed.error_message) == (
        "NotYet",
        "one: ready: test-ready answered None (at most 3 tries)",
    )
    assert TRIES["never"] == 3


FOREACH = """
    each:
      type: Workflow
      params:
        tables: {type: array, default: [a, b, c, d, e]}
      jobs:
        one:
          stages:
            - id: all
              foreach: "${{ params.tables }}"
              max-parallel: 2
              stages:
                - {id: refuse, if: "${{ item == 'bad' }}", raise: "cannot load ${{ item }}"}
                - {id: nap, sleep: "${{ 10 * (index + 1) }}"}
                - {id: load, call: test-echo, with: {value: "${{ item }}-${{ index }}"}}
            - {id: after, call: test-echo, with: {value: after}}
"""


def napping(instance: ITemplateDAGInstance[Any, Any]) -> list[str]:
    """The delay keys of the foreach branches sleeping now, one per running branch."""
    return sorted(
        str(getattr(task, "delay_key", ""))[-3:]
        for task in instance.tasks.values()
        if task.task_name == "nap" and task.status.code == "EXECUTING"
    )


async def test_foreach_runs_each_item_never_more_than_max_parallel_at_once(
    tmp_path: Path,
) -> None:
    engine = engine_with(tmp_path, FOREACH)
    template = engine.get_template("each")
    seen: list[list[str]] = []
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(uuid.uuid4(), submit_task=True)
        for _ in range(12):
            stored = local.get_instance(instance.id)
            assert stored is not None
            seen.append(napping(stored))
            await local.advance(10)
    assert max(len(running) for running in seen) == 2
    assert seen[:3] == [["[0]", "[1]"], ["[1]", "[2]"], ["[2]", "[3]"]]
    done = local.get_instance(instance.id)
    assert done is not None and done.status.code == "COMPLETED"
    items = done.runtime_parameters["jobs"]["one"]["stages"]["all"]["items"]
    assert {
        index: entry["stages"]["load"]["outputs"]["result"] for index, entry in items.items()
    } == {"0": "a-0", "1": "b-1", "2": "c-2", "3": "d-3", "4": "e-4"}
    assert items["2"]["item"] == "c"
    assert outputs(done, "one", "after") == {"result": "after"}


@pytest.mark.parametrize(
    ("change", "loads", "others"),
    [
        # No bound, fail-fast: the running branches are stopped at once.
        (("max-parallel: 2", "fail-fast: true"), [], {"STOPPED"}),
        # A bound, fail-fast: the running ones are stopped, the ones not started skipped.
        (
            ("max-parallel: 2", "max-parallel: 2\n              fail-fast: true"),
            [],
            {"STOPPED", "SKIPPED"},
        ),
        # No fail-fast: every other branch runs; the stage fails once all have ended.
        (("max-parallel: 2", "max-parallel: 9"), ["a-0", "c-2", "d-3"], {"COMPLETED"}),
    ],
)
async def test_a_failed_item_and_fail_fast(
    tmp_path: Path, change: tuple[str, str], loads: list[str], others: set[str]
) -> None:
    engine = engine_with(tmp_path, FOREACH.replace(*change))
    template = engine.get_template("each")
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(
            uuid.uuid4(), tables=["a", "bad", "c", "d"], submit_task=True
        )
        await local.advance(100)
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "FAILURE"
    assert stored.error_message is not None and "cannot load bad" in stored.error_message
    items = stored.runtime_parameters.get("jobs", {}).get("one", {}).get("stages", {})
    found = sorted(
        entry["stages"]["load"]["outputs"]["result"]
        for entry in items.get("all", {}).get("items", {}).values()
        if "load" in entry.get("stages", {})
    )
    assert found == loads
    loads_of_others = {
        task.status.code
        for task in stored.tasks.values()
        if task.task_name == "load" and task.stage_item["value"] != "bad"
    }
    assert loads_of_others == others
    assert statuses(stored)["after"] == "NOT_STARTED"


async def test_foreach_items_that_are_not_a_list_are_refused_at_creation(tmp_path: Path) -> None:
    engine = engine_with(
        tmp_path, FOREACH.replace("type: array", "type: str").replace("[a, b, c, d, e]", "abc")
    )
    with pytest.raises(ValueError, match="foreach 'all' of job 'one' needs a list, got 'abc'"):
        await engine.get_template("each").create_instance(uuid.uuid4())
