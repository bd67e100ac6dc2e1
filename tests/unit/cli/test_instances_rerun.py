"""``dagger instances rerun ID --from NODE --param k=v`` against an in-process API server."""

from __future__ import annotations

import json

import pytest

from dagger.cli import main
from tests.unit.cli.test_instances_command import (
    Served,
    _connection,
    _create_orders,
    dagger,
    served,  # noqa: F401 (a fixture)
)
from tests.unit.web._harness import OUTAGE


async def test_rerun_from_the_failed_task_with_params_waits_for_the_final_status(
    served: Served,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    OUTAGE.add("charge")
    await _create_orders(served.engine, 1)
    OUTAGE.clear()
    served.local.clock.advance(5)

    status = await dagger(
        "instances",
        "rerun",
        "i-0",
        "--from",
        "charge",
        "--param",
        "limit=20",
        "--param",
        "note=new card",
        "--wait",
        "--json",
        *_connection(served),
    )

    [result] = json.loads(capsys.readouterr().out)
    assert status == 0
    assert result["accepted"] is True
    assert result["final_status"] == "COMPLETED"
    stored = served.local.get_instance("i-0")
    assert stored is not None
    assert stored.runtime_parameters["limit"] == 20
    assert stored.runtime_parameters["note"] == "new card"
    assert stored.runtime_parameters["ran"] == ["reserve", "charge", "ship"]


async def test_a_refused_rerun_exits_1_and_says_why(
    served: Served,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _create_orders(served.engine, 1)

    status = await dagger("instances", "rerun", "i-0", "--from", "nope", *_connection(served))

    out = capsys.readouterr().out
    assert status == 1
    assert "refused" in out
    assert "has no task with the id or name 'nope'" in out


def test_rerun_needs_from(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["instances", "rerun", "i-0"])
    assert exited.value.code == 2
    assert "the following arguments are required: --from" in capsys.readouterr().err
