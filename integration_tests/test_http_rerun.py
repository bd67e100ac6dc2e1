"""Rerunning an instance from a task, with an edited parameter, on the embedded broker.

A ``dagger worker`` subprocess serves the API; the instance is created through Kafka by
a client engine, fails while its ``down`` parameter names ``charge``, and is rerun from
``charge`` with ``down`` emptied, by the CLI (a subprocess) through the worker's API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._api_worker import ApiWorker, until
from integration_tests._harness import Scenario, client
from integration_tests.apps.api_workflows import build_api_orders
from integration_tests.test_http_api import call, dagger_cli

pytestmark = pytest.mark.integration

TOKEN = "it-token-rerun"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def _task(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in document["tasks"].values() if t["task_name"] == name)


async def test_a_failed_instance_reruns_from_its_failed_task_with_an_edited_parameter(
    broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario(tmp_path)
    broker.create_topics(scenario.topics())
    worker = ApiWorker(scenario, broker, "one", DAGGER_API_TOKEN=TOKEN)
    api = worker.url
    try:
        await worker.wait_ready(session)
        async with client(
            scenario, broker, lambda engine: {"orders": build_api_orders(engine)}
        ) as templates:
            await templates["orders"].create_instance(
                "o-rerun", "order_id", order_id="o-rerun", down=["charge"], submit_task=True
            )

        async def document() -> dict[str, Any]:
            status, body, _ = await call(
                session, "GET", f"{api}/tasks/instance/o-rerun", token=TOKEN
            )
            return body if status == 200 else {}

        async def failed() -> bool:
            return (await document()).get("status", {}).get("code") == "FAILURE"

        await until(failed, 60, "o-rerun to fail")
        before = await document()
        reserved_at = _task(before, "reserve_executor_task")["time_completed"]

        rerun = dagger_cli(
            "instances",
            "rerun",
            "o-rerun",
            "--from",
            "charge_executor_task",
            "--param",
            "down=[]",
            "--wait",
            "--json",
            "--url",
            api,
            "--token",
            TOKEN,
        )

        assert rerun.returncode == 0, rerun.stderr + rerun.stdout
        assert json.loads(rerun.stdout)[0]["final_status"] == "COMPLETED"
        after = await document()
        parameters = after["runtime_parameters"]
        assert parameters["down"] == []
        # reserve did not run again: its trail entry and its completion time are the first.
        assert parameters["trail"] == ["reserve", "charge", "ship"]
        assert _task(after, "reserve_executor_task")["time_completed"] == reserved_at
        assert after["error_type"] is None
    finally:
        worker.stop()
