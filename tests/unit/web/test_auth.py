"""The optional bearer token: required on everything but readiness when it is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from dagger.exceptions.exceptions import ConfigurationError
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import ApiServer

TOKEN = "s3cret-token"
GOOD = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine, token=TOKEN) as running:
        yield running


@pytest.mark.parametrize(
    "path", ["/tasks/instances", "/tasks/instance/o-1", "/openapi.json", "/dead-letters", "/x"]
)
async def test_without_the_token_every_path_but_readiness_is_401(
    server: ApiServer, path: str
) -> None:
    answer = await server.get(path)

    assert answer.status == 401
    assert answer.body == {
        "error": "a bearer token is required: send 'Authorization: Bearer <token>'",
        "status": 401,
    }
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="dagger"'


@pytest.mark.parametrize("header", ["Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
async def test_a_wrong_token_is_401(server: ApiServer, header: str) -> None:
    answer = await server.post("/tasks/instance/o-1/stop", headers={"Authorization": header})

    assert answer.status == 401
    assert answer.body["status"] == 401


async def test_the_right_token_is_let_through(server: ApiServer) -> None:
    listing = await server.get("/tasks/instances", headers=GOOD)
    missing = await server.get("/tasks/instance/o-1", headers=GOOD)

    assert (listing.status, listing.body) == (200, [])
    assert missing.status == 404


async def test_readiness_needs_no_token(server: ApiServer) -> None:
    answer = await server.get("/service/ready")

    assert (answer.status, answer.body) == (200, {"is_ready": True})


async def test_without_a_token_configured_nothing_asks_for_one() -> None:
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine) as server:
        answer = await server.get("/tasks/instances")

    assert answer.status == 200


async def test_the_token_comes_from_api_token_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert new_engine(api_token="abc").settings.api_token == "abc"
    monkeypatch.setenv("DAGGER_API_TOKEN", "from-env")
    assert new_engine().settings.api_token == "from-env"
    assert new_engine(api_token="arg-wins").settings.api_token == "arg-wins"
    monkeypatch.delenv("DAGGER_API_TOKEN")
    assert new_engine().settings.api_token is None


@pytest.mark.parametrize("token", ["", "two words", 42])
def test_a_token_that_cannot_be_sent_is_refused_clearly(token: object) -> None:
    with pytest.raises(ConfigurationError, match="api_token must be a non-empty token"):
        new_engine(api_token=token)


async def test_the_worker_web_server_serves_the_api_and_guards_faust_pages_too() -> None:
    """faust's own pages (here /router/) sit behind the same token as the API."""
    engine = new_engine(api_token=TOKEN)
    web = engine.faust_app.web
    web.init_server()  # what the worker does as its web server starts
    server = TestServer(web.web_app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            ready = await session.get(server.make_url("/service/ready"))
            router = await session.get(server.make_url("/router/"))
            router_ok = await session.get(server.make_url("/router/"), headers=GOOD)
            ready_body = await ready.json()
    finally:
        await server.close()

    # No partitions are assigned outside a running worker: not ready.
    assert (ready.status, ready_body) == (503, {"is_ready": False})
    assert router.status == 401
    assert router_ok.status == 200


def test_the_web_server_binds_loopback_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert new_engine().faust_app.conf.web_bind == "127.0.0.1"
    assert new_engine(web_bind="0.0.0.0").faust_app.conf.web_bind == "0.0.0.0"
    monkeypatch.setenv("WEB_BIND", "10.1.2.3")
    assert new_engine().faust_app.conf.web_bind == "10.1.2.3"
