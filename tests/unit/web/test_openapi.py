"""The OpenAPI document describes the routes the server has, and resolves."""

from __future__ import annotations

import re
from typing import Any

from dagger.testing import LocalEngine
from dagger.web._openapi import openapi_document
from dagger.web._query import ID_PATTERN, check_id
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import ApiServer


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


async def test_the_document_is_served_and_lists_every_route() -> None:
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine) as server:
        answer = await server.get("/openapi.json")
        routes = {
            (method, re.sub(r"\{\w+\}", "{id}", resource.canonical))
            for resource in server.web.web_app.router.resources()
            for route in resource
            for method in [route.method.lower()]
            # The dashboard's HTML pages under /ui are not API operations.
            if method != "head" and not resource.canonical.startswith("/ui")
        }

    assert answer.status == 200
    document = answer.body
    assert document["openapi"].startswith("3.")
    documented = {
        (method, re.sub(r"\{\w+\}", "{id}", path))
        for path, item in document["paths"].items()
        for method in item
    }
    assert documented == routes
    for ref in _refs(document):
        assert _resolve(document, ref) is not None, ref
    assert "security" not in document
    listing = {
        param["name"]: param for param in document["paths"]["/tasks/instances"]["get"]["parameters"]
    }
    assert listing["order"]["schema"]["enum"] == ["partition", "updated"]
    assert "partition_key" in listing


async def test_with_a_token_the_document_declares_bearer_security_except_readiness() -> None:
    engine = new_engine()
    async with LocalEngine(engine), ApiServer(engine, token="t0k") as server:
        answer = await server.get("/openapi.json", headers={"Authorization": "Bearer t0k"})

    document = answer.body
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/service/ready"]["get"]["security"] == []


def test_every_id_in_a_path_declares_the_pattern_the_server_accepts() -> None:
    # A client (or a fuzzer: integration_tests/test_http_fuzz.py) reading the document
    # makes ids the server takes, rather than strings it can only refuse with a 400.
    document = openapi_document("test", token_required=False)
    ids = [
        parameter
        for path, operations in document["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "path" and parameter["name"] == "id"
    ]

    assert len(ids) >= 6
    for parameter in ids:
        pattern = re.compile(parameter["schema"]["pattern"])
        assert pattern.match("order-1:a_b") and not pattern.match("order/1")
        assert check_id("order-1:a_b") and pattern.pattern == ID_PATTERN
