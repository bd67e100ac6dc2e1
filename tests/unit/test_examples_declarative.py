"""The declarative examples (examples/declarative) run in memory as their demo runs them."""

from __future__ import annotations

import importlib
import sys

import jsonschema
import pytest
import yaml

from dagger.declarative import SCHEMA_PATH, check_files, schema
from dagger.service.services import Dagger
from examples.declarative import demo
from tests.unit.declarative._helpers import as_editors_read


def _engine() -> Dagger:
    # The examples' module builds its engine (and its topics) on import; each test
    # starts with no topics, so it is imported afresh.
    name = "examples.declarative.workflows"
    module = (
        importlib.reload(sys.modules[name])
        if name in sys.modules
        else importlib.import_module(name)
    )
    engine: Dagger = module.engine
    return engine


async def test_the_three_examples_run_and_end_as_their_comments_say() -> None:
    found = await demo.run_all(_engine())
    statuses = {label: instance.status.code for label, instance in found.items()}
    assert statuses == {
        "daily-etl": "COMPLETED",
        "order-saga o-1 (PAID)": "COMPLETED",
        "order-saga o-2 (DECLINED)": "FAILURE",
        "order-saga o-3 (no reply)": "FAILURE",
        "rollout": "COMPLETED",
    }
    etl = found["daily-etl"].runtime_parameters["jobs"]
    assert etl["load"]["stages"]["load"]["outputs"]["into"] == "warehouse.bkk.daily"
    assert set(etl) == {
        "extract",
        "transform",
        "report",
        "load",
        "quality",
        "publish",
        "clean-up",
    }
    extracts = etl["extract"]["strategies"]
    assert [extracts[str(i)]["matrix"]["table"] for i in range(3)] == [
        "orders",
        "refunds",
        "customers",
    ]
    assert {extract["status"] for extract in extracts.values()} == {"COMPLETED"}
    assert etl["transform"]["stages"]["join"]["outputs"]["rows"] == 2700
    assert etl["report"]["stages"]["publish"]["outputs"]["value"]["rows"] == 3000
    published = etl["publish"]["stages"]["dataset"]["outputs"]
    assert (published["workflow"], published["status"]) == ("etl-publish", "COMPLETED")
    assert published["jobs"]["publish"]["stages"]["dataset"]["outputs"] == {
        "dataset": "warehouse.bkk.daily@2027-01-31"
    }
    checks = etl["quality"]["stages"]["check"]["items"]
    assert [checks[str(i)]["item"] for i in range(3)] == ["orders", "refunds", "customers"]
    assert checks["2"]["stages"]["count"]["outputs"]["table"] == "warehouse.bkk.customers"
    declined = found["order-saga o-2 (DECLINED)"]
    assert declined.error_message == "payment: outcome: refused: payment of o-2 refused: DECLINED"
    assert "release" in declined.runtime_parameters["jobs"]
    assert "ship" not in declined.runtime_parameters["jobs"]["payment"]["stages"]
    unpaid = found["order-saga o-3 (no reply)"]
    assert unpaid.error_type == "TimeoutError"
    rollout = found["rollout"].runtime_parameters["jobs"]
    network = rollout["network"]["stages"]["vpc"]["outputs"]["id"]
    assert rollout["database"]["stages"]["db"]["outputs"]["spec"]["network"] == network
    assert rollout["app"]["stages"]["smoke"]["outputs"] == {
        "url": "api-1.4.2.internal:443",
        "ok": True,
    }


def test_the_demo_prints_each_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    _engine()
    demo.main()
    out = capsys.readouterr().out
    assert "order-saga o-3 (no reply)\n  status: FAILURE\n  error: TimeoutError" in out
    assert "rollout\n  status: COMPLETED" in out
    assert '  extract[1]: COMPLETED {"table": "refunds"}' in out


def test_the_example_files_pass_the_loader_and_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine()
    monkeypatch.setenv("WAREHOUSE", "bkk")
    files = sorted(SCHEMA_PATH.parents[2].joinpath("examples", "declarative").glob("*.yaml"))
    assert [path.name for path in files] == ["daily_etl.yaml", "order_saga.yaml", "rollout.yaml"]
    # daily_etl.yaml holds the child workflow it triggers beside it.
    assert len(check_files([str(path) for path in files])) == 4
    for path in files:
        jsonschema.validate(as_editors_read(yaml.safe_load(path.read_text())), schema())
