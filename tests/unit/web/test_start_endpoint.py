"""``POST /templates/{name}/instances``: start instances over HTTP, with the id rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._peers import StaticPeers
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import ApiServer, orders

TOKEN = "t0k"


@pytest.fixture
def engine() -> Dagger:
    engine = new_engine(kafka_partitions=2)
    engine.template_dags["orders"] = orders(engine)
    return engine


@pytest.fixture
async def local(engine: Dagger) -> AsyncIterator[LocalEngine]:
    async with LocalEngine(engine) as running:
        yield running


@pytest.fixture
async def server(engine: Dagger, local: LocalEngine) -> AsyncIterator[ApiServer]:
    async with ApiServer(engine, token=TOKEN, peers=StaticPeers([])) as running:
        yield running


async def start(
    server: ApiServer, template: str, body: Any, *, token: str | None = TOKEN
) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes) else None
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/templates/{template}/instances",
            json=None if data is not None else body,
            data=data,
            headers=headers,
        ) as response,
    ):
        return response.status, await response.json(), response.headers


async def test_a_start_creates_and_runs_an_instance(server: ApiServer, local: LocalEngine) -> None:
    status, body, headers = await start(
        server, "orders", {"id": "o-1", "partition_key": "order_id", "params": {"order_id": "x"}}
    )
    assert status == 201
    assert body["id"] == "o-1" and body["template_name"] == "orders"
    assert headers["Location"] == "/tasks/instance/o-1"
    stored = local.get_instance("o-1")
    assert stored is not None and stored.status.code == "COMPLETED"
    assert stored.partition_key == "x"


async def test_without_an_id_each_start_is_a_new_instance(
    server: ApiServer, local: LocalEngine
) -> None:
    first = await start(server, "orders", {"params": {}})
    second = await start(server, "orders", {"params": {}})
    assert first[0] == second[0] == 201
    assert first[1]["id"] != second[1]["id"]
    assert len(local.store) == 2


async def test_the_same_id_and_params_answer_200_with_the_existing_instance(
    server: ApiServer, local: LocalEngine
) -> None:
    body = {"id": "o-2", "params": {"n": 1}}
    assert (await start(server, "orders", body))[0] == 201
    status, again, _ = await start(server, "orders", body)
    assert status == 200
    assert again["id"] == "o-2" and again["status"]["code"] == "COMPLETED"
    assert len(local.store) == 1


async def test_the_same_id_with_other_params_is_409(server: ApiServer, local: LocalEngine) -> None:
    assert (await start(server, "orders", {"id": "o-3", "params": {"n": 1}}))[0] == 201
    status, body, _ = await start(server, "orders", {"id": "o-3", "params": {"n": 2}})
    assert status == 409
    assert "exists with other params (differing: n)" in body["error"]
    stored = local.get_instance("o-3")
    assert stored is not None and stored.runtime_parameters["n"] == 1


async def test_the_same_id_in_another_template_is_409(engine: Dagger, server: ApiServer) -> None:
    engine.template_dags["other"] = orders(engine, "other")
    assert (await start(server, "orders", {"id": "o-4", "params": {}}))[0] == 201
    status, body, _ = await start(server, "other", {"id": "o-4", "params": {}})
    assert status == 409
    assert "template 'orders', not 'other'" in body["error"]


@pytest.mark.parametrize(
    ("template", "body", "status", "fragment"),
    [
        ("nope", {"params": {}}, 404, "no template named 'nope'"),
        ("orders", b"{not json", 400, "the body is not JSON"),
        ("orders", [1], 400, "must be a JSON object"),
        ("orders", {"params": {}, "template": "orders"}, 400, "the path names the template"),
        ("orders", {}, 400, "'params' is a required property"),
        ("orders", {"params": {"seed": 3}}, 400, "intake schema"),
        ("orders", {"params": {}, "partition_key": "order_id"}, 422, "names no parameter"),
    ],
)
async def test_bad_starts_are_refused_with_why(
    server: ApiServer, local: LocalEngine, template: str, body: Any, status: int, fragment: str
) -> None:
    answer = await start(server, template, body)
    assert answer[0] == status
    assert fragment in answer[1]["error"]
    assert local.store == {}


async def test_a_start_needs_the_token(server: ApiServer, local: LocalEngine) -> None:
    status, _, _ = await start(server, "orders", {"params": {}}, token=None)
    assert status == 401
    assert local.store == {}
