"""``dagger workflows validate|list|show|run``: files read here; ``run`` through the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagger.cli import main
from dagger.declarative import load
from tests.unit.cli.test_instances_command import (  # the same server and runner
    Served,
    _connection,
    _no_outage,
    dagger,
    served,
)
from tests.unit.declarative._helpers import write

__all__ = ["_no_outage", "served"]

FLOWS = """
    report:
      type: Workflow
      desc: Daily report
      params:
        table: str
        day: {type: date, default: 2024-01-31}
      jobs:
        extract:
          stages:
            - {id: load, call: test-load, with: {table: "${{ params.table }}"}}
        publish:
          needs: [extract]
          trigger-rule: all_done
          stages:
            - {id: nap, sleep: 0}
            - id: pick
              case: "${{ params.table }}"
              match:
                - case: orders
                  stages: [{id: loud, raise: orders are special}]
                - case: _
                  stages: [{id: echo, call: test-echo, with: {value: done}}]
"""


def test_validate_says_ok_or_prints_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FLOWS)
    assert main(["workflows", "validate", str(path)]) == 0
    assert capsys.readouterr().out == "ok: 1 workflow(s): report\n"
    bad = write(tmp_path, FLOWS.replace("needs: [extract]", "needs: [extrct]"), "bad.yaml")
    assert main(["workflows", "validate", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{bad}:12: report.jobs.publish.needs[0]: unknown job 'extrct'\n"
    assert err == "1 problem(s) found\n"


def test_validate_imports_the_module_that_registers_the_functions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_functions.py").write_text(
        "import dagger.declarative\n\n"
        "@dagger.declarative.task('cli-only')\n"
        "def only() -> None:\n    return None\n"
    )
    flow = write(
        tmp_path, "only:\n  type: Workflow\n  jobs: {one: {stages: [{call: cli-only}]}}\n", "o.yaml"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["workflows", "validate", "-A", "my_functions", str(flow)]) == 0
    assert capsys.readouterr().out == "ok: 1 workflow(s): only\n"


def test_list_and_show_print_the_workflows_and_their_dag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FLOWS)
    assert main(["workflows", "list", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "name": "report",
            "desc": "Daily report",
            "params": ["table", "day"],
            "jobs": ["extract", "publish"],
        }
    ]
    assert main(["workflows", "show", "report", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "report: Daily report",
        "  params:",
        "    table: str (required)",
        "    day: date = '2024-01-31'",
        "  jobs:",
        "    extract",
        "      - load: call test-load",
        "    publish <- extract [all_done]",
        "      - nap: sleep 0 s",
        "      - pick: case ${{ params.table }}",
        "          orders:",
        "            - loud: raise 'orders are special'",
        "          _:",
        "            - echo: call test-echo",
    ]
    assert main(["workflows", "show", "nope", str(path)]) == 2
    assert "no workflow named 'nope'" in capsys.readouterr().err


def test_run_dry_run_checks_the_params_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FLOWS)
    args = ["workflows", "run", "report", "--workflows", str(path), "--dry-run"]
    assert main([*args, "--param", "table=orders"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        'would start report with {"day": "2024-01-31", "table": "orders"}',
        "jobs in order: extract, publish",
    ]
    assert main([*args, "--param", "day=someday"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "table: is required (str)",
        "day: must be an ISO date (2024-01-31), got 'someday'",
    ]


async def test_run_starts_an_instance_through_the_api_which_checks_the_params(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, FLOWS)
    load(served.engine, [str(path)])
    run = ["workflows", "run", "report", "--id", "r-1", *_connection(served)]
    assert await dagger(*run, "--param", "table=users") == 0
    assert capsys.readouterr().out == "started instance r-1 of report\n"
    stored = served.local.get_instance("r-1")
    assert stored is not None and stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["jobs"]["publish"]["stages"]["echo"] == {
        "outputs": {"result": "done"}
    }
    # Without files to check against, the worker's template refuses bad params itself.
    assert (
        await dagger("workflows", "run", "report", "--param", "tabel=x", *_connection(served)) == 1
    )
    out = capsys.readouterr().out
    assert out.startswith("refused (HTTP 422): template 'report' refused the params:")
    assert "tabel: is not a parameter of this workflow" in out


def test_a_worker_loads_the_workflows_it_is_given_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dagger worker -A module --workflows DIR``.

    The worker itself is replaced (here it would start faust and connect to a broker);
    what it is handed is the engine with the workflows loaded.
    """
    from dagger.cli import _main
    from dagger.service import _worker

    (tmp_path / "plain_engine.py").write_text(
        "from dagger.service.services import Dagger\n"
        "engine = Dagger(broker='kafka://127.0.0.1:9', store='memory://')\n"
    )
    write(tmp_path, FLOWS)
    monkeypatch.chdir(tmp_path)
    ran: list[list[str]] = []
    monkeypatch.setattr(_main, "check_broker_reachable", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        _worker, "run_worker", lambda engine, **_: ran.append(sorted(engine.template_dags))
    )
    assert main(["worker", "-A", "plain_engine", "--workflows", str(tmp_path)]) == 0
    assert ran == [["report"]]
    write(tmp_path, FLOWS.replace("needs: [extract]", "needs: [nope]"))
    assert main(["worker", "-A", "plain_engine", "--workflows", str(tmp_path)]) == 2
    assert "cannot load the workflows:" in capsys.readouterr().err
    assert ran == [["report"]]
