"""A task class renamed with an instance in flight, on real workers and the embedded broker.

A user renamed a listener class while an instance waited in it and restarted the worker:
every ``dagger instances list`` and ``stop`` answered 500 and the reply became an
``engine_error`` dead letter. Now the listing serves every instance and shows that one as
undecodable, the reply is an ``undecodable_instance`` dead letter, and a worker whose
renamed class carries ``@register_alias`` decodes the instance; the reinjected reply
completes it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dagger.ops import DeadLetterService
from dagger.service.services import Dagger
from dagger.testing import EmbeddedBroker
from integration_tests._harness import REPO_ROOT, Scenario, client, free_port, send_messages
from integration_tests.apps.api_workflows import build_api_orders
from integration_tests.apps.renamed_workflows import OLD_PATH, build_replies
from integration_tests.test_http_api import ApiWorker, call, dagger_cli, until

pytestmark = pytest.mark.integration

APP = "integration_tests.apps.renamed_app"
MISSING = OLD_PATH.replace(".AwaitReply", ":AwaitReply")


class RenamedWorker(ApiWorker):
    """An API worker running this test's app at one version of its code."""

    def __init__(self, scenario: Scenario, broker: EmbeddedBroker, version: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scenario.tmp_path / f"worker-{version}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dagger", "worker", "-A", APP, "--web-port", str(self.port)],
            cwd=REPO_ROOT,
            env=dict(scenario.env(broker, version), TEST_CLASS_VERSION=version),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )


def _templates(topic: str, engine: Dagger) -> dict[str, Any]:
    return {"replies": build_replies(engine, topic), "orders": build_api_orders(engine)}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as running:
        yield running


async def _listing(session: aiohttp.ClientSession, worker: ApiWorker) -> dict[str, Any]:
    status, body, _ = await call(session, "GET", worker.url + "/tasks/instances", token=None)
    assert status == 200, body
    return {document["id"]: document for document in body}


async def test_a_renamed_class_lists_as_undecodable_and_an_alias_brings_it_back(
    broker: EmbeddedBroker, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    scenario = Scenario(tmp_path, partitions=2)
    await broker.acreate_topics(scenario.topics())
    dlq = DeadLetterService(broker.url, scenario.dead_letter_topic)

    # Version 1: r-1 waits for its reply; two orders complete.
    worker = RenamedWorker(scenario, broker, "before")
    try:
        await worker.wait_ready(session)
        async with client(scenario, broker, partial(_templates, scenario.listen_topic)) as made:
            await made["replies"].create_instance("r-1", "ref", ref="ref-1", submit_task=True)
            for number in (1, 2):
                await made["orders"].create_instance(
                    f"o-{number}", "order_id", order_id=f"o-{number}", submit_task=True
                )

        async def settled() -> bool:
            listed = await _listing(session, worker)
            return sorted(listed) == ["o-1", "o-2", "r-1"] and [
                listed[key]["status"]["code"] for key in ("o-1", "o-2", "r-1")
            ] == ["COMPLETED", "COMPLETED", "EXECUTING"]

        await until(settled, 60, "two orders completed and r-1 waiting")
    finally:
        worker.stop()

    # Version 2: the class is renamed, without an alias.
    worker = RenamedWorker(scenario, broker, "renamed")
    try:
        await worker.wait_ready(session)
        listed = await _listing(session, worker)
        assert sorted(listed) == ["o-1", "o-2", "r-1"]
        assert listed["r-1"]["undecodable"]["missing_class"] == MISSING
        assert listed["r-1"]["status"]["code"] == "EXECUTING"
        assert all("undecodable" not in listed[key] for key in ("o-1", "o-2"))
        status, body, _ = await call(
            session, "POST", worker.url + "/tasks/instance/r-1/stop", token=None
        )
        assert status == 422
        assert MISSING in body["error"]
        cli = await asyncio.to_thread(dagger_cli, "instances", "list", "--url", worker.url)
        assert cli.returncode == 0, cli.stderr
        assert f"UNDECODABLE: task class {MISSING}" in cli.stdout

        await send_messages(broker, scenario.listen_topic, [({"ref": "ref-1", "note": "hi"}, None)])

        async def dead_lettered() -> list[dict[str, Any]] | None:
            entries = (await dlq.list())["entries"]
            return entries or None

        [letter] = await until(dead_lettered, 60, "the reply dead-lettered")
        assert letter["reason"] == "undecodable_instance"
        assert MISSING in letter["error_message"]
        assert worker.process.poll() is None
        assert (await _listing(session, worker))["r-1"]["status"]["code"] == "EXECUTING"
    finally:
        worker.stop()

    # Version 3: the renamed class says what it was called; reinject the reply.
    worker = RenamedWorker(scenario, broker, "aliased")
    try:
        await worker.wait_ready(session)
        status, shown, _ = await call(
            session, "GET", worker.url + "/tasks/instance/r-1", token=None
        )
        assert status == 200, shown
        assert shown["status"]["code"] == "EXECUTING"
        await dlq.reinject(letter["id"])

        async def completed() -> dict[str, Any] | None:
            _, document, _ = await call(
                session, "GET", worker.url + "/tasks/instance/r-1", token=None
            )
            return document if document["status"]["code"] == "COMPLETED" else None

        document = await until(completed, 60, "r-1 completed after the reinjection")
        assert document["runtime_parameters"]["heard"] == "hi"
        assert document["runtime_parameters"]["finished"] is True
    finally:
        worker.stop()
        await dlq.stop()
