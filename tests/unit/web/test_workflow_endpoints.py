"""``GET /workflows`` and ``POST /workflows/{name}/execute`` over declarative workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dagger.declarative import load
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._peers import StaticPeers
from tests.unit._listener_workflows import new_engine
from tests.unit.declarative._helpers import write
from tests.unit.web._harness import ApiServer, orders

TOKEN = "t0k"
FLOW = """
    greet:
      type: Workflow
      desc: Say hello
      params:
        who: str
        times: {type: int, default: 1, description: how often}
      jobs:
        hello:
          stages:
            - {id: say, call: test-echo, with: {value: "hello ${{ params.who }}"}}
        again:
          needs: [hello]
          trigger-rule: all_done
          stages:
            - {id: nap, sleep: 0}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Dagger:
    engine = new_engine(kafka_partitions=2)
    engine.template_dags["orders"] = orders(engine)
    load(engine, [str(write(tmp_path, FLOW))])
    return engine


@pytest.fixture
async def local(engine: Dagger) -> AsyncIterator[LocalEngine]:
    async with LocalEngine(engine) as running:
        yield running


@pytest.fixture
async def server(engine: Dagger, local: LocalEngine) -> AsyncIterator[ApiServer]:
    async with ApiServer(engine, token=TOKEN, peers=StaticPeers([])) as running:
        yield running


async def execute(server: ApiServer, name: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/workflows/{name}/execute",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        return response.status, await response.json()


async def test_the_workflows_are_listed_with_their_params_and_jobs(server: ApiServer) -> None:
    answer = await server.get("/workflows", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200
    assert answer.body == {
        "workflows": [
            {
                "name": "greet",
                "desc": "Say hello",
                "params": {
                    "who": {"type": "str", "required": True, "description": ""},
                    "times": {
                        "type": "int",
                        "required": False,
                        "description": "how often",
                        "default": 1,
                    },
                },
                "jobs": {
                    "hello": {
                        "needs": [],
                        "trigger_rule": "all_success",
                        "if": None,
                        "stages": [{"id": "say", "kind": "call"}],
                    },
                    "again": {
                        "needs": ["hello"],
                        "trigger_rule": "all_done",
                        "if": None,
                        "stages": [{"id": "nap", "kind": "sleep"}],
                    },
                },
            }
        ]
    }


async def test_execute_answers_202_with_the_id_and_the_run_keeps_its_outputs(
    server: ApiServer, local: LocalEngine
) -> None:
    status, body = await execute(server, "greet", {"id": "g-1", "params": {"who": "ada"}})
    assert (status, body["id"], body["workflow"], body["existing"]) == (202, "g-1", "greet", False)
    await local.advance(0)
    stored = local.get_instance("g-1")
    assert stored is not None and stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["jobs"]["hello"]["stages"]["say"] == {
        "outputs": {"result": "hello ada"}
    }
    shown = await server.get("/tasks/instance/g-1", headers={"Authorization": f"Bearer {TOKEN}"})
    assert shown.body["runtime_parameters"]["jobs"]["hello"]["stages"]["say"]["outputs"] == {
        "result": "hello ada"
    }
    again, body = await execute(server, "greet", {"id": "g-1", "params": {"who": "ada"}})
    assert (again, body["existing"]) == (200, True)


async def test_execute_refuses_bad_params_and_templates_that_are_not_workflows(
    server: ApiServer,
) -> None:
    status, body = await execute(server, "greet", {"params": {"times": "often"}})
    assert status == 422
    assert "who: is required (str)" in body["error"]
    assert "times: must be an integer, got 'often'" in body["error"]
    status, body = await execute(server, "orders", {"params": {}})
    assert status == 404
    assert body["error"] == "no declarative workflow named 'orders'; workflows: ['greet']"
