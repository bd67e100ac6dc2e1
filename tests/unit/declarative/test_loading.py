"""Loading workflow files: every problem named with its file, line and path."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagger.declarative import DeclarativeError, check_files, load
from dagger.exceptions.exceptions import ConfigurationError
from dagger.service import _workflow_loading
from dagger.service.services import Dagger
from tests.unit.declarative._helpers import OFFLINE, write

GOOD_JOBS = """
    etl:
      type: Workflow
      jobs:
        extract:
          stages:
            - call: test-load
              with: {table: orders}
        report:
          needs: [extrat]
          stages:
            - raise: no report
"""


def problems_of(tmp_path: Path, text: str, **environ: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(DeclarativeError) as raised:
        check_files([str(path)], environ)
    return [str(problem).replace(str(path), "FILE") for problem in raised.value.problems]


def test_an_unknown_need_is_named_with_its_file_line_and_path(tmp_path: Path) -> None:
    assert problems_of(tmp_path, GOOD_JOBS) == [
        "FILE:9: etl.jobs.report.needs[0]: unknown job 'extrat'"
    ]


def test_a_cycle_of_jobs_is_named(tmp_path: Path) -> None:
    text = """
        loop:
          type: Workflow
          jobs:
            a: {needs: [b], stages: [{raise: x}]}
            b: {needs: [a], stages: [{raise: x}]}
    """
    assert problems_of(tmp_path, text) == [
        "FILE:4: loop.jobs.a.needs: is on a cycle of needs: 'a' -> 'b' -> 'a'"
    ]


def test_each_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = """
        bad:
          type: Workflow
          params:
            when: {type: datetime, default: not-a-date}
            jobs: str
          jobs:
            one:
              trigger-rule: all_succes
              stages:
                - call: no-such-function
                - call: test-load
                  with: {tabel: x, limit: many}
                - id: twice
                  raise: "${{ params.when +  }}"
                - id: twice
                  sleep: -1
                - wait: {topic: t, key: k}
                - call: test-load
                  raise: both
                - start: other-workflow
    """
    found = problems_of(tmp_path, text)
    assert found == [
        "FILE:4: bad.params.when.default: must be an ISO date and time (2024-01-31T08:00:00), "
        "got 'not-a-date'",
        "FILE:5: bad.params.jobs: 'jobs' is reserved for the stages' outputs",
        "FILE:8: bad.jobs.one.trigger-rule: unknown trigger rule 'all_succes'; use one of: "
        "all_success, all_done, one_success, all_failed, one_failed, none_failed, none_skipped",
        "FILE:10: bad.jobs.one.stages[0].call: no function is registered as 'no-such-function' "
        f"(registered: {found[3].split('registered: ')[1].split(')')[0]}); decorate it with "
        "@dagger.declarative.task(name) before loading",
        "FILE:12: bad.jobs.one.stages[1].with: test-load(table: 'str', limit: 'int' = 10) -> "
        "'dict[str, Any]': missing a required argument: 'table'",
        "FILE:14: bad.jobs.one.stages[2].raise: ${{ params.when + }} does not parse: "
        "unexpected 'end of template'",
        "FILE:15: bad.jobs.one.stages[3].id: stage id 'twice' is used twice in this job",
        "FILE:16: bad.jobs.one.stages[3].sleep: a number of seconds >= 0, or an expression; got -1",
        "FILE:17: bad.jobs.one.stages[4].wait: wait needs match",
        "FILE:18: bad.jobs.one.stages[5]: a stage has exactly one of call, raise, send, wait, "
        "sleep, until, case, parallel, foreach, bash, trigger (found call, raise)",
        "FILE:20: bad.jobs.one.stages[6]: a stage has exactly one of call, raise, send, wait, "
        "sleep, until, case, parallel, foreach, bash, trigger (found none)",
    ]


def test_call_arguments_are_checked_against_the_signature(tmp_path: Path) -> None:
    text = """
        calls:
          type: Workflow
          jobs:
            one:
              stages:
                - call: test-load
                  with: {table: x, limit: many, extra: 1}
                - call: test-load
                  with: {table: 5, limit: "${{ params.n }}"}
    """
    found = problems_of(tmp_path, text)
    assert found == [
        "FILE:7: calls.jobs.one.stages[0].with: test-load(table: 'str', limit: 'int' = 10) -> "
        "'dict[str, Any]': got an unexpected keyword argument 'extra'",
        "FILE:9: calls.jobs.one.stages[1].with.table: test-load(table: 'str', limit: 'int' = "
        "10) -> 'dict[str, Any]': table takes str, got 5",
    ]


def test_environment_variables_fill_in_at_load_time_and_a_missing_one_is_an_error(
    tmp_path: Path,
) -> None:
    text = """
        envs:
          type: Workflow
          desc: "for ${TEAM}"
          jobs:
            one:
              stages:
                - call: test-load
                  with: {table: "${TABLE}_${{ params.suffix }}"}
    """
    path = write(tmp_path, text)
    (workflow,) = check_files([str(path)], {"TEAM": "data", "TABLE": "orders"})
    assert workflow.desc == "for data"
    assert workflow.jobs["one"].stages[0].body["with"] == {"table": "orders_${{ params.suffix }}"}
    assert problems_of(tmp_path, text, TEAM="data") == [
        "FILE:8: envs.jobs.one.stages[0].with.table: environment variable TABLE is not set"
    ]


def test_yaml_that_does_not_parse_names_its_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "a:\n  b: [1, 2\n  c: 3\n") == [
        "FILE:3: not valid YAML: expected ',' or ']', but got ':'"
    ]


def test_a_key_given_twice_and_a_schedule_without_cron_are_refused(tmp_path: Path) -> None:
    text = """
        twice:
          type: Workflow
          on: {schedule: "* * * * *"}
          jobs:
            one: {stages: [{raise: x}]}
            one: {stages: [{raise: y}]}
    """
    assert problems_of(tmp_path, text) == [
        "FILE:6: twice.jobs.one: appears twice in the same mapping",
        "FILE:3: twice.on.schedule: schedule: needs cron (and, optionally, timezone)",
    ]


def test_a_workflow_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    text = "same:\n  type: Workflow\n  jobs: {one: {stages: [{raise: x}]}}\n"
    first = write(tmp_path, text, "a.yaml")
    write(tmp_path, text, "b.yaml")
    with pytest.raises(DeclarativeError, match=f"workflow 'same' is defined in {first} too"):
        check_files([str(tmp_path / "*.yaml")])


def test_a_pattern_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DeclarativeError, match="no workflow file matches"):
        check_files([str(tmp_path / "*.yaml")])


def test_nothing_is_registered_when_a_file_has_a_problem(tmp_path: Path) -> None:
    engine = Dagger(broker=OFFLINE, store="memory://")
    write(tmp_path, "ok:\n  type: Workflow\n  jobs: {one: {stages: [{raise: x}]}}\n", "a.yaml")
    write(tmp_path, GOOD_JOBS, "b.yaml")
    with pytest.raises(DeclarativeError):
        load(engine, [str(tmp_path)])
    assert engine.template_dags == {}


def test_dagger_workflows_without_the_declarative_package_says_what_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_workflow_loading, "_loader", [])
    with pytest.raises(ConfigurationError, match=r"import dagger\.declarative"):
        Dagger(broker=OFFLINE, store="memory://", workflows=[str(tmp_path)])


def test_a_wait_inside_a_foreach_is_refused(tmp_path: Path) -> None:
    text = """
        each:
          type: Workflow
          jobs:
            one:
              stages:
                - id: all
                  foreach: [a, b]
                  max-parallel: 0
                  stages:
                    - {id: w, wait: {topic: t, key: k, match: m}}
    """
    assert problems_of(tmp_path, text) == [
        "FILE:8: each.jobs.one.stages[0].max-parallel: max-parallel is an integer >= 1, got 0"
    ]
    assert problems_of(tmp_path, text.replace("max-parallel: 0", "max-parallel: 1")) == [
        "FILE:10: each.jobs.one.stages[0].stages[0]: a wait stage inside a foreach is not "
        "supported yet"
    ]
