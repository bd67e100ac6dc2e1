"""``dagger instances`` with one instance whose task class is gone: seen, named, refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine, unique
from tests.unit._renamed import GONE, rename_stored_class
from tests.unit.cli.test_instances_command import TOKEN, Served, dagger
from tests.unit.web._harness import ApiServer, CallsService, orders


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.delenv("DAGGER_API_URL", raising=False)
    monkeypatch.delenv("DAGGER_API_TOKEN", raising=False)
    engine = new_engine(kafka_partitions=2)
    async with LocalEngine(engine) as local, ApiServer(engine, token=TOKEN) as server:
        template = orders(engine, unique("orders"))
        for number in range(3):
            await template.create_instance(
                f"i-{number}", "order_id", order_id=f"o-{number}", submit_task=True
            )
        rename_stored_class(local.store, "i-1", CallsService)
        yield Served(engine, local, server)


def _connection(served: Served) -> list[str]:
    return ["--url", served.server.url, "--token", TOKEN]


async def test_list_shows_the_undecodable_instance_with_its_missing_class(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await dagger("instances", "list", *_connection(served))

    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:4]}
    assert status == 0
    assert sorted(rows) == ["i-0", "i-1", "i-2"]
    assert f"UNDECODABLE: task class {GONE} is not registered" in rows["i-1"]
    assert "UNDECODABLE" not in rows["i-0"] + rows["i-2"]
    assert "3 of 3 instance(s)" in out
    assert "1 instance(s) cannot be decoded" in out
    assert "@register_alias" in out


async def test_list_json_carries_the_reason(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await dagger("instances", "list", "--json", *_connection(served))

    listed = {doc["id"]: doc for doc in json.loads(capsys.readouterr().out)["instances"]}
    assert status == 0
    assert listed["i-1"]["undecodable"]["missing_class"] == GONE
    assert "undecodable" not in listed["i-0"]


async def test_show_says_which_class_is_missing(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await dagger("instances", "show", "i-1", *_connection(served))

    err = capsys.readouterr().err
    assert status == 2
    assert GONE in err
    assert "HTTP 422" in err


async def test_retry_refuses_it_by_name_beside_an_ordinary_refusal(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await dagger("instances", "retry", "i-1", "i-0", *_connection(served))

    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert status == 1
    assert "undecodable" in rows["i-1"]
    assert GONE in rows["i-1"]
    assert "refused" in rows["i-0"]  # a COMPLETED instance: an ordinary refusal
