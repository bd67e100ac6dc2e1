"""GET /docs: a Swagger UI page over /openapi.json, with its assets served by the worker."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import ApiServer

TOKEN = "s3cret-token"


@pytest.fixture
async def guarded() -> AsyncIterator[ApiServer]:
    """A server that requires a token (the docs page must not)."""
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine, token=TOKEN) as running:
        yield running


async def fetch(server: ApiServer, path: str) -> tuple[int, str, bytes, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(server.url + path) as response:
        return response.status, response.content_type, await response.read(), dict(response.headers)


async def test_docs_is_a_swagger_ui_page_over_the_openapi_document(server: ApiServer) -> None:
    status, content_type, body, headers = await fetch(server, "/docs")
    html = body.decode()

    assert (status, content_type) == (200, "text/html")
    assert "charset=utf-8" in headers["Content-Type"]
    assert 'href="/docs/swagger-ui.css"' in html
    assert 'src="/docs/swagger-ui-bundle.js"' in html
    assert 'url: "/openapi.json"' in html
    # Swagger UI's online validator would send the document to a host on the internet.
    assert "validatorUrl: null" in html


async def test_the_page_names_no_url_outside_this_worker(server: ApiServer) -> None:
    _, _, body, _ = await fetch(server, "/docs")

    assert re.findall(r"(?:https?:)?//[\w.-]+", body.decode()) == []


@pytest.mark.parametrize(
    ("asset", "content_type", "starts_with"),
    [
        ("swagger-ui.css", "text/css", b".swagger-ui"),
        ("swagger-ui-bundle.js", "text/javascript", b"/*!"),
        ("favicon-32x32.png", "image/png", b"\x89PNG"),
    ],
)
async def test_the_assets_are_served_with_their_content_type(
    server: ApiServer, asset: str, content_type: str, starts_with: bytes
) -> None:
    status, served_type, body, headers = await fetch(server, f"/docs/{asset}")

    assert (status, served_type) == (200, content_type)
    assert body.startswith(starts_with)
    assert headers["Cache-Control"] == "public, max-age=3600"


async def test_the_bundle_is_the_whole_swagger_ui(server: ApiServer) -> None:
    _, _, body, _ = await fetch(server, "/docs/swagger-ui-bundle.js")

    assert len(body) > 500_000
    assert b"SwaggerUIBundle" in body


@pytest.mark.parametrize("name", ["index.html", "..%2Fpyproject.toml", "swagger-ui.js.map"])
async def test_no_other_file_is_served(server: ApiServer, name: str) -> None:
    answer = await server.get(f"/docs/{name}")

    assert answer.status == 404
    assert answer.body["status"] == 404


@pytest.mark.parametrize("path", ["/docs", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"])
async def test_the_page_and_its_assets_need_no_token(guarded: ApiServer, path: str) -> None:
    status, _, _, _ = await fetch(guarded, path)

    assert status == 200


async def test_with_a_token_the_document_still_needs_it_and_the_page_sends_it(
    guarded: ApiServer,
) -> None:
    document = await guarded.get("/openapi.json")
    _, _, body, _ = await fetch(guarded, "/docs")

    assert document.status == 401
    assert 'request.headers["Authorization"] = "Bearer " + token' in body.decode()


async def test_the_document_lists_the_page_and_its_assets_as_open(guarded: ApiServer) -> None:
    answer = await guarded.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    paths = answer.body["paths"]

    assert paths["/docs"]["get"]["security"] == []
    assert paths["/docs/{asset}"]["get"]["security"] == []
    names = paths["/docs/{asset}"]["get"]["parameters"][0]["schema"]["enum"]
    assert "swagger-ui-bundle.js" in names
