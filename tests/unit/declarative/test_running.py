"""Declarative workflows run on a LocalEngine: each stage kind, outputs, needs, ``if``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dagger.declarative import DeclarativeTemplate, ParamsError
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from dagger.testing import LocalEngine
from tests.unit.declarative._helpers import engine_with

START = 1_000_000.0


def statuses(instance: ITemplateDAGInstance[Any, Any]) -> dict[str, str]:
    return {task.task_name: task.status.code for task in instance.tasks.values()}


def outputs(instance: ITemplateDAGInstance[Any, Any], job: str, stage: str) -> Any:
    return instance.runtime_parameters["jobs"][job]["stages"][stage]["outputs"]


async def run(
    engine: Dagger, name: str, **params: Any
) -> tuple[LocalEngine, ITemplateDAGInstance[Any, Any]]:
    template = engine.get_template(name)
    assert isinstance(template, DeclarativeTemplate)
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(uuid.uuid4(), submit_task=True, **params)
    stored = local.get_instance(instance.id)
    assert stored is not None
    return local, stored


ETL = """
    etl:
      type: Workflow
      params:
        table: str
        limit: {type: int, default: 3}
        day: datetime
      jobs:
        extract:
          stages:
            - name: Load table
              call: test-load
              with: {table: "${{ params.table }}", limit: "${{ params.limit * 2 }}"}
        report:
          needs: [extract]
          stages:
            - id: line
              call: test-echo
              with:
                value: >-
                  ${{ params.table | upper }}:
                  ${{ jobs.extract.stages['load-table'].outputs.rows }} rows
                  on ${{ params.day | fmt(fmt='%Y%m%d') }}
"""


async def test_call_outputs_are_kept_and_used_by_a_later_job(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, ETL)
    local, stored = await run(engine, "etl", table="orders", day="2024-01-31T08:00:00")
    assert stored.status.code == "COMPLETED"
    assert outputs(stored, "extract", "load-table") == {"rows": 6, "table": "orders"}
    assert outputs(stored, "report", "line") == {"result": "ORDERS: 6 rows on 20240131"}
    # The outputs are in the update document, as the API shows them.
    assert local.updates[-1]["runtime_parameters"]["jobs"]["report"]["stages"]["line"] == {
        "outputs": {"result": "ORDERS: 6 rows on 20240131"}
    }


async def test_params_are_checked_when_an_instance_is_created(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, ETL)
    template = engine.get_template("etl")
    with pytest.raises(ParamsError) as raised:
        await template.create_instance(uuid.uuid4(), limit="many", day="yesterday", tabel="x")
    assert raised.value.fields == {
        "tabel": "is not a parameter of this workflow (its params: table, limit, day)",
        "table": "is required (str)",
        "limit": "must be an integer, got 'many'",
        "day": "must be an ISO date and time (2024-01-31T08:00:00), got 'yesterday'",
    }


async def test_every_param_type_is_coerced_and_defaults_fill_in(tmp_path: Path) -> None:
    text = """
        typed:
          type: Workflow
          params:
            s: str
            i: int
            f: float
            b: bool
            when: datetime
            day: date
            mode: {type: choice, choices: [full, delta]}
            opts: {type: map, default: {a: 1}}
            names: {type: array, default: []}
            note: {type: str, required: false}
          jobs:
            one:
              stages:
                - call: test-echo
                  with:
                    value: >-
                      ${{ [params.i + 1, params.f, params.b, params.when.year,
                      params.day.month, params.mode, params.opts.a] }}
    """
    engine = engine_with(tmp_path, text)
    template = engine.get_template("typed")
    assert isinstance(template, DeclarativeTemplate)
    given = {
        "s": 5,
        "i": "41",
        "f": "1.5",
        "b": "true",
        "when": "2024-02-03T04:05:06",
        "day": "2024-03-04",
        "mode": "full",
    }
    assert template.parameters(given) == {
        "s": "5",
        "i": 41,
        "f": 1.5,
        "b": True,
        "when": "2024-02-03T04:05:06",
        "day": "2024-03-04",
        "mode": "full",
        "opts": {"a": 1},
        "names": [],
    }
    with pytest.raises(ParamsError, match="mode: must be one of \\['full', 'delta'\\], got 'x'"):
        template.parameters({**given, "mode": "x"})
    _, stored = await run(engine, "typed", **given)
    assert outputs(stored, "one", "stage-0") == {"result": [42, 1.5, True, 2024, 3, "full", 1]}


async def test_the_sandbox_refuses_dunder_attributes(tmp_path: Path) -> None:
    text = """
        escape:
          type: Workflow
          params:
            x: {type: str, default: a}
          jobs:
            one:
              stages:
                - call: test-echo
                  with: {value: "${{ params.x.__class__.__mro__[1].__subclasses__() }}"}
    """
    engine = engine_with(tmp_path, text)
    _, stored = await run(engine, "escape")
    assert stored.status.code == "FAILURE"
    assert stored.error_type == "ExpressionError"
    assert "access to attribute '__class__' of 'str' object is unsafe" in str(stored.error_message)
    assert "jobs" not in stored.runtime_parameters


async def test_raise_fails_the_job_with_its_message(tmp_path: Path) -> None:
    text = """
        fails:
          type: Workflow
          params:
            why: str
          jobs:
            one:
              stages:
                - id: stop
                  raise: "refused: ${{ params.why }}"
                - call: test-echo
                  with: {value: never}
    """
    _, stored = await run(engine_with(tmp_path, text), "fails", why="no stock")
    assert stored.status.code == "FAILURE"
    assert (stored.error_type, stored.error_message) == (
        "StageFailed",
        "one: stop: refused: no stock",
    )
    assert statuses(stored)["stage-1"] == "NOT_STARTED"


async def test_send_renders_its_key_value_and_headers(tmp_path: Path) -> None:
    text = """
        sends:
          type: Workflow
          params:
            order: str
          jobs:
            one:
              stages:
                - id: ask
                  send:
                    topic: decl-requests
                    key: "${{ params.order }}"
                    value: {order: "${{ params.order }}", qty: "${{ 2 + 1 }}"}
                    headers: {trace: "t-${{ params.order }}"}
    """
    local, stored = await run(engine_with(tmp_path, text), "sends", order="o-1")
    assert stored.status.code == "COMPLETED"
    (sent,) = local.sent
    assert (sent.topic, sent.key, sent.value) == (
        "decl-requests",
        "o-1",
        {"order": "o-1", "qty": 3},
    )
    assert list(sent.headers) == [("trace", b"t-o-1")]
    assert outputs(stored, "one", "ask")["key"] == "o-1"


SAGA = """
    saga:
      type: Workflow
      params:
        order: str
      jobs:
        pay:
          stages:
            - id: paid
              wait: {topic: decl-replies, key: "${{ params.order }}", match: order, timeout: 30}
            - id: done
              call: test-echo
              with: {value: "${{ jobs.pay.stages.paid.outputs.message.status }}"}
"""


async def test_wait_takes_the_message_with_its_key_before_the_timeout(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, SAGA)
    template = engine.get_template("saga")
    async with LocalEngine(engine, start=START) as local:
        first = await template.create_instance(uuid.uuid4(), order="o-1", submit_task=True)
        second = await template.create_instance(uuid.uuid4(), order="o-2", submit_task=True)
        await local.send_message("decl-replies", {"order": "o-2", "status": "PAID"})
        waiting = local.get_instance(first.id)
        assert waiting is not None and statuses(waiting)["paid"] == "EXECUTING"
        await local.advance(31)
    done, timed_out = local.get_instance(second.id), local.get_instance(first.id)
    assert done is not None and timed_out is not None
    assert done.status.code == "COMPLETED"
    assert outputs(done, "pay", "paid") == {"message": {"order": "o-2", "status": "PAID"}}
    assert outputs(done, "pay", "done") == {"result": "PAID"}
    assert timed_out.status.code == "FAILURE"
    assert timed_out.error_type == "TimeoutError"
    assert "no message on decl-replies with order='o-1' within 30.0 seconds" in str(
        timed_out.error_message
    )
    assert statuses(timed_out)["paid"] == "STOPPED"


async def test_a_wait_without_timeout_waits_as_long_as_it_takes(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, SAGA.replace(", timeout: 30", ""))
    template = engine.get_template("saga")
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(uuid.uuid4(), order="o-9", submit_task=True)
        await local.advance(3600)
        waiting = local.get_instance(instance.id)
        assert waiting is not None and statuses(waiting)["paid"] == "EXECUTING"
        await local.send_message("decl-replies", {"order": "o-9", "status": "LATE"})
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "COMPLETED"
    assert outputs(stored, "pay", "done") == {"result": "LATE"}


async def test_sleep_waits_the_rendered_seconds_from_its_start(tmp_path: Path) -> None:
    text = """
        naps:
          type: Workflow
          params:
            minutes: int
          jobs:
            one:
              stages:
                - id: nap
                  sleep: "${{ params.minutes * 60 }}"
                - call: test-echo
                  with: {value: awake}
    """
    engine = engine_with(tmp_path, text)
    template = engine.get_template("naps")
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(uuid.uuid4(), minutes=2, submit_task=True)
        await local.advance(119)
        asleep = local.get_instance(instance.id)
        assert asleep is not None and statuses(asleep)["nap"] == "EXECUTING"
        await local.advance(1)
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "COMPLETED"
    assert outputs(stored, "one", "stage-1") == {"result": "awake"}


CASE = """
    route:
      type: Workflow
      params:
        mode: str
      jobs:
        one:
          stages:
            - id: pick
              case: "${{ params.mode }}"
              match:
                - case: full
                  stages:
                    - {id: full, call: test-echo, with: {value: full}}
                - case: _
                  stages:
                    - {id: other, call: test-echo, with: {value: other}}
            - {id: after, call: test-echo, with: {value: after}}
"""


@pytest.mark.parametrize(
    ("mode", "ran", "skipped"), [("full", "full", "other"), ("delta", "other", "full")]
)
async def test_case_runs_the_matching_branch_or_the_default_then_what_follows(
    tmp_path: Path, mode: str, ran: str, skipped: str
) -> None:
    _, stored = await run(engine_with(tmp_path, CASE), "route", mode=mode)
    assert stored.status.code == "COMPLETED"
    found = statuses(stored)
    assert (found[ran], found[skipped], found["after"]) == ("COMPLETED", "SKIPPED", "COMPLETED")


async def test_case_without_a_match_or_default_runs_no_branch(tmp_path: Path) -> None:
    text = CASE.replace("- case: _", "- case: never")
    _, stored = await run(engine_with(tmp_path, text), "route", mode="delta")
    assert stored.status.code == "COMPLETED"
    found = statuses(stored)
    assert (found["full"], found["other"], found["after"]) == ("SKIPPED", "SKIPPED", "COMPLETED")


async def test_parallel_runs_every_branch_then_what_follows(tmp_path: Path) -> None:
    text = """
        fan:
          type: Workflow
          jobs:
            one:
              stages:
                - id: both
                  parallel:
                    left:
                      - {id: l1, call: test-echo, with: {value: l1}}
                      - id: l2
                        call: test-echo
                        with: {value: "${{ jobs.one.stages.l1.outputs.result }}2"}
                    right:
                      - {id: r1, call: test-echo, with: {value: r1}}
                - {id: after, call: test-echo, with: {value: after}}
    """
    _, stored = await run(engine_with(tmp_path, text), "fan")
    assert stored.status.code == "COMPLETED"
    assert outputs(stored, "one", "l2") == {"result": "l12"}
    assert set(statuses(stored).values()) == {"COMPLETED"}


NEEDS = """
    graph:
      type: Workflow
      params:
        full: {type: bool, default: false}
        fail: {type: bool, default: false}
      jobs:
        a:
          stages: [{id: a-s, call: test-echo, with: {value: a}}]
        b:
          needs: [a]
          if: "${{ params.full }}"
          stages: [{id: b-s, call: test-echo, with: {value: b}}]
        c:
          needs: [a]
          stages:
            - id: pick
              case: "${{ params.fail }}"
              match:
                - case: true
                  stages: [{id: boom, raise: c failed}]
                - case: _
                  stages: [{id: fine, call: test-echo, with: {value: c}}]
        d:
          needs: [b, c]
          trigger-rule: none_failed
          stages: [{id: d-s, call: test-echo, with: {value: d}}]
        cleanup:
          needs: [c]
          trigger-rule: one_failed
          stages: [{id: clean, call: test-echo, with: {value: cleanup}}]
"""


async def test_jobs_run_by_needs_if_and_trigger_rules(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, NEEDS)
    _, skipped_b = await run(engine, "graph")
    found = statuses(skipped_b)
    assert skipped_b.status.code == "COMPLETED"
    # b's if was false: b is SKIPPED, and none_failed lets d run after it.
    assert (found["b"], found["b:if"], found["d"]) == ("SKIPPED", "SKIPPED", "COMPLETED")
    assert found["cleanup"] == "SKIPPED"
    _, failed_c = await run(engine, "graph", full=True, fail=True)
    found = statuses(failed_c)
    assert failed_c.status.code == "FAILURE"
    assert (found["b"], found["c"], found["d"], found["cleanup"]) == (
        "COMPLETED",
        "FAILURE",
        "SKIPPED",
        "COMPLETED",
    )


async def test_a_reply_that_comes_before_the_wait_is_held_for_it(tmp_path: Path) -> None:
    text = SAGA.replace(
        "        pay:\n          stages:\n",
        "        pay:\n          stages:\n            - {id: first, sleep: 5}\n",
    )
    engine = engine_with(tmp_path, text)
    template = engine.get_template("saga")
    async with LocalEngine(engine, start=START) as local:
        instance = await template.create_instance(uuid.uuid4(), order="o-5", submit_task=True)
        await local.send_message("decl-replies", {"order": "o-5", "status": "EARLY"})
        await local.advance(5)
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "COMPLETED"
    assert outputs(stored, "pay", "done") == {"result": "EARLY"}
