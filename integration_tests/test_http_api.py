"""The HTTP API and ``dagger instances`` against real workers on the embedded broker.

Workers run as ``dagger worker`` subprocesses with the API on a free port of 127.0.0.1;
instances are created through Kafka by a client engine; the CLI runs as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dagger.runtime._partitioning import partition_for_key
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from dagger.web._peers import SCOPE_HEADER
from integration_tests._api_worker import ApiWorker, until
from integration_tests._harness import REPO_ROOT, Scenario, client
from integration_tests.apps.api_workflows import build_api_orders
from integration_tests.apps.listener_workflows import build_listener_templates

pytestmark = pytest.mark.integration

TOKEN = "it-token-7f3a"


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str | None = TOKEN,
    **kwargs: Any,
) -> tuple[int, Any, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with session.request(method, url, headers=headers, **kwargs) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json(), response.headers


def dagger_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagger", *args],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), **(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _listens_on_loopback_only(port: int) -> bool:
    """True when the only listening socket on ``port`` is bound to 127.0.0.1."""
    bound = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if int(port_hex, 16) == port and state == "0A":
            bound.append(address)
    return bound == ["0100007F"]


def _templates(topic_a: str, topic_b: str) -> Callable[[Dagger], dict[str, Any]]:
    def build(engine: Dagger) -> dict[str, Any]:
        return {
            "orders": build_api_orders(engine),
            **build_listener_templates(engine, topic_a, topic_b),
        }

    return build


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_one_worker_serves_the_api_and_the_cli_end_to_end(
    broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario(tmp_path)
    broker.create_topics(scenario.topics())
    outage = tmp_path / "outage"
    outage.mkdir()
    (outage / "charge").touch()
    worker = ApiWorker(scenario, broker, "one", DAGGER_API_TOKEN=TOKEN, TEST_OUTAGE_DIR=str(outage))
    api = worker.url
    try:
        await worker.wait_ready(session)
        assert _listens_on_loopback_only(worker.port)

        async with client(
            scenario, broker, _templates(scenario.listen_topic, scenario.listen_topic_b)
        ) as templates:
            await templates["orders"].create_instance(
                "o-fail", "order_id", order_id="o-fail", submit_task=True
            )

            async def failed() -> bool:
                status, body, _ = await call(session, "GET", f"{api}/tasks/instance/o-fail")
                return status == 200 and body["status"]["code"] == "FAILURE"

            await until(failed, 60, "o-fail to fail")
            (outage / "charge").unlink()  # the service is back
            for number in range(3):
                await templates["orders"].create_instance(
                    f"o-{number}", "order_id", order_id=f"o-{number}", submit_task=True
                )
            await templates["waiter"].create_instance("w-1", "ref", ref="r-1", submit_task=True)

        async def all_created() -> bool:
            _, _, headers = await call(session, "GET", f"{api}/tasks/instances")
            return headers["X-Total-Count"] == "5"

        await until(all_created, 60, "five instances listed")

        # The token is required on everything but readiness.
        status, body, headers = await call(session, "GET", f"{api}/tasks/instances", token=None)
        assert (status, body["status"]) == (401, 401)
        assert headers["WWW-Authenticate"].startswith("Bearer")
        status, body, _ = await call(session, "GET", f"{api}/service/ready", token=None)
        assert (status, body) == (200, {"is_ready": True})

        # Filters and paging.
        _, failures, _ = await call(
            session, "GET", f"{api}/tasks/instances", params={"status": "FAILURE"}
        )
        assert [doc["id"] for doc in failures] == ["o-fail"]
        _, waiters, _ = await call(
            session, "GET", f"{api}/tasks/instances", params={"template": "waiter"}
        )
        assert [doc["id"] for doc in waiters] == ["w-1"]
        _, page, headers = await call(
            session, "GET", f"{api}/tasks/instances", params={"limit": "2"}
        )
        assert len(page) == 2 and headers["X-Next-Cursor"]

        # One instance, in the original's shape; bad and unknown ids.
        status, document, _ = await call(session, "GET", f"{api}/tasks/instance/w-1")
        assert status == 200
        assert document["status"] == {"code": "EXECUTING", "value": "EXECUTING"}
        assert document["runtime_parameters"] == {"ref": "r-1"}
        assert document["task_type"] == "ROOT"
        assert any(task["status"]["code"] == "EXECUTING" for task in document["tasks"].values())
        status, body, _ = await call(session, "GET", f"{api}/tasks/instance/bad%20id")
        assert status == 400 and "malformed instance id" in body["error"]
        status, body, _ = await call(session, "GET", f"{api}/tasks/instance/nobody")
        assert status == 404 and body["error"] == "no instance with id nobody (asked 1 worker)"

        # The CLI: list, show, stop and retry, waiting for the outcome.
        connection = ["--url", api, "--token", TOKEN]
        listed = dagger_cli("instances", "list", "--json", *connection)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["total"] == 5
        shown = dagger_cli("instances", "show", "o-fail", *connection)
        assert shown.returncode == 0, shown.stderr
        assert "ConnectionError: charge service unavailable" in shown.stdout
        stopped = dagger_cli("instances", "stop", "w-1", "--wait", "--json", *connection)
        assert stopped.returncode == 0, stopped.stderr
        assert json.loads(stopped.stdout)[0]["final_status"] == "STOPPED"
        retried = dagger_cli(
            "instances",
            "retry",
            "o-fail",
            "--wait",
            "--json",
            env={"DAGGER_API_URL": api, "DAGGER_API_TOKEN": TOKEN},
        )
        assert retried.returncode == 0, retried.stderr
        assert json.loads(retried.stdout)[0]["final_status"] == "COMPLETED"

        _, document, _ = await call(session, "GET", f"{api}/tasks/instance/o-fail")
        # reserve ran once: the retry went on from the failed task.
        assert document["runtime_parameters"]["trail"] == ["reserve", "charge", "ship"]
        assert document["error_type"] is None

        # What cannot be done is refused with the reason.
        status, body, _ = await call(session, "POST", f"{api}/tasks/instance/o-fail/retry")
        assert status == 409 and "only a FAILURE instance can be retried" in body["error"]
        status, body, _ = await call(session, "POST", f"{api}/tasks/instance/w-1/stop")
        assert status == 409 and "nothing to stop" in body["error"]

        status, openapi, _ = await call(session, "GET", f"{api}/openapi.json")
        assert status == 200 and "/tasks/instance/{id}/retry" in openapi["paths"]
    finally:
        worker.stop()


def _keys_by_partition(partitions: int, per_partition: int) -> list[str]:
    keys: list[str] = []
    for partition in range(partitions):
        found = (
            f"r-{n}" for n in range(10_000) if partition_for_key(f"r-{n}", partitions) == partition
        )
        keys.extend(next(found) for _ in range(per_partition))
    return keys


async def test_two_workers_answer_for_each_others_instances(
    broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario(tmp_path)
    broker.create_topics(scenario.topics())
    keys = _keys_by_partition(scenario.partitions, 2)
    outage = tmp_path / "outage"
    outage.mkdir()
    (outage / "charge").touch()
    a = ApiWorker(scenario, broker, "a", TEST_OUTAGE_DIR=str(outage))
    b = ApiWorker(scenario, broker, "b", TEST_OUTAGE_DIR=str(outage))
    try:
        await asyncio.gather(a.wait_ready(session), b.wait_ready(session))
        async with client(
            scenario, broker, _templates(scenario.listen_topic, scenario.listen_topic_b)
        ) as templates:
            for key in keys:
                await templates["waiter"].create_instance(
                    f"w-{key}", "ref", ref=key, submit_task=True
                )
                # One order per partition, failing while the charge service is down.
                await templates["orders"].create_instance(
                    f"o-{key}", "order_id", order_id=key, submit_task=True
                )

        async def split() -> dict[str, set[str]] | None:
            owned: dict[str, set[str]] = {}
            for worker in (a, b):
                status, body, _ = await call(
                    session,
                    "GET",
                    f"{worker.url}/tasks/instances",
                    token=None,
                    headers={SCOPE_HEADER: "local"},
                )
                if status != 200:
                    return None
                owned[worker.url] = {doc["id"] for doc in body}
            both = owned[a.url] | owned[b.url]
            if owned[a.url] and owned[b.url] and len(both) == 2 * len(keys):
                return owned
            return None

        # After the second worker joins, each owns half of the partitions.
        owned = await until(split, 120, "the instances split between the two workers")
        assert not owned[a.url] & owned[b.url]

        for worker in (a, b):
            status, listing, headers = await call(
                session, "GET", f"{worker.url}/tasks/instances", token=None
            )
            assert status == 200
            assert headers["X-Total-Count"] == str(2 * len(keys))
            assert {doc["id"] for doc in listing} == {
                f"{kind}-{key}" for key in keys for kind in ("w", "o")
            }
            for instance_id in owned[a.url] | owned[b.url]:
                status, document, _ = await call(
                    session, "GET", f"{worker.url}/tasks/instance/{instance_id}", token=None
                )
                assert status == 200, (worker.url, instance_id, document)
                assert document["id"] == instance_id

        # Stop, through A, an instance B owns; the CLI shows it through A too.
        on_b = sorted(i for i in owned[b.url] if i.startswith("w-"))[0]
        status, body, _ = await call(
            session, "POST", f"{a.url}/tasks/instance/{on_b}/stop", token=None
        )
        assert status == 202, body

        async def stopped() -> bool:
            _, document, _ = await call(
                session, "GET", f"{b.url}/tasks/instance/{on_b}", token=None
            )
            return document["status"]["code"] == "STOPPED"

        await until(stopped, 60, f"{on_b} stopped")
        shown = dagger_cli("instances", "show", on_b, "--json", "--url", a.url)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["status"]["code"] == "STOPPED"

        # Retry, through B, a failed order A owns, once the charge service is back.
        failed_on_a = sorted(i for i in owned[a.url] if i.startswith("o-"))[0]
        status, document, _ = await call(
            session, "GET", f"{b.url}/tasks/instance/{failed_on_a}", token=None
        )
        assert document["status"]["code"] == "FAILURE"
        (outage / "charge").unlink()
        retried = dagger_cli("instances", "retry", failed_on_a, "--wait", "--json", "--url", b.url)
        assert retried.returncode == 0, retried.stderr
        assert json.loads(retried.stdout)[0]["final_status"] == "COMPLETED"
    finally:
        a.stop()
        b.stop()
