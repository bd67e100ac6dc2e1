"""``dagger instances start`` against an in-process API server on 127.0.0.1 (no Kafka)."""

from __future__ import annotations

import json

import pytest

from dagger.cli._errors import CommandError
from dagger.cli._start_command import parse_params
from tests.unit.cli.test_instances_command import (  # the same server and runner
    Served,
    _connection,
    _no_outage,
    dagger,
    served,
)
from tests.unit.web._harness import orders

__all__ = ["_no_outage", "served"]


def test_params_are_json_when_they_parse_and_strings_otherwise() -> None:
    assert parse_params(["n=3", "ok=true", "items=[1,2]", "order_id=o-1", 'code="007"', "e="]) == {
        "n": 3,
        "ok": True,
        "items": [1, 2],
        "order_id": "o-1",
        "code": "007",
        "e": "",
    }
    with pytest.raises(CommandError, match="NAME=VALUE"):
        parse_params(["novalue"])


async def test_start_then_repeat_then_conflict(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    served.engine.template_dags["orders"] = orders(served.engine)
    args = ["instances", "start", "orders", "--id", "o-1", "--param", "order_id=o-1"]
    connection = _connection(served)

    assert await dagger(*args, "--partition-key", "order_id", *connection) == 0
    assert capsys.readouterr().out == "started instance o-1 of orders\n"
    stored = served.local.get_instance("o-1")
    assert stored is not None and stored.status.code == "COMPLETED"

    assert await dagger(*args, "--partition-key", "order_id", *connection) == 0
    assert "already exists with these params (COMPLETED)" in capsys.readouterr().out

    assert await dagger(*args, "--param", "n=2", *connection) == 1
    out = capsys.readouterr().out
    assert out.startswith("refused (HTTP 409): instance o-1 exists with other params")


async def test_start_json_output_and_an_unknown_template(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    served.engine.template_dags["orders"] = orders(served.engine)
    assert await dagger("instances", "start", "orders", "--json", *_connection(served)) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["outcome"] == "started" and started["http_status"] == 201
    assert served.local.get_instance(started["instance"]["id"]) is not None

    assert await dagger("instances", "start", "nope", *_connection(served)) == 1
    assert "refused (HTTP 404): no template named 'nope'" in capsys.readouterr().out
