"""``GET /workflows/{name}/releases``, ``GET /schedules`` and the commands that read them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dagger.cli import main
from dagger.declarative import load
from dagger.runtime._schedules import release_id
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._peers import SCOPE_HEADER, StaticPeers
from tests.unit._listener_workflows import new_engine
from tests.unit.declarative._helpers import write
from tests.unit.web._harness import ApiServer, SplitView

TOKEN = "t0k"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FLOWS = """
    hourly:
      type: Workflow
      on:
        schedule: {cron: "0 * * * *", timezone: Asia/Bangkok}
        catchup: all
      jobs:
        tick: {stages: [{id: nap, sleep: 0}]}
    manual:
      type: Workflow
      jobs:
        tick: {stages: [{id: nap, sleep: 0}]}
"""


def top_of_the_hour() -> float:
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return now.timestamp()


@pytest.fixture
def engine(tmp_path: Path) -> Dagger:
    engine = new_engine(kafka_partitions=2)
    load(engine, [str(write(tmp_path, FLOWS))])
    return engine


@pytest.fixture
async def local(engine: Dagger) -> AsyncIterator[LocalEngine]:
    # Two hours ago, then two fires: the hours before this one and this one.
    async with LocalEngine(engine, start=top_of_the_hour() - 2 * 3600 + 60) as running:
        await running.fire_due_timers()
        await running.advance(2 * 3600)
        yield running


@pytest.fixture
async def server(engine: Dagger, local: LocalEngine) -> AsyncIterator[ApiServer]:
    async with ApiServer(engine, token=TOKEN, peers=StaticPeers([])) as running:
        yield running


def hour(offset: int) -> str:
    moment = datetime.fromtimestamp(top_of_the_hour(), timezone.utc) + timedelta(hours=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_the_releases_of_a_workflow_are_its_audit_oldest_first(server: ApiServer) -> None:
    answer = await server.get("/workflows/hourly/releases", headers=AUTH)
    assert answer.status == 200
    releases = answer.body["releases"]
    assert [r["logical_time"] for r in releases] == [hour(-1), hour(0)]
    assert [r["kind"] for r in releases] == ["normal", "normal"]
    assert releases[0]["key"] == f"hourly@{hour(-1)}"
    assert releases[0]["instance_id"] == release_id(f"hourly@{hour(-1)}", 2)


async def test_an_unscheduled_workflow_has_no_releases_and_an_unknown_one_is_404(
    server: ApiServer,
) -> None:
    manual = await server.get("/workflows/manual/releases", headers=AUTH)
    assert (manual.status, manual.body) == (200, {"workflow": "manual", "releases": []})
    unknown = await server.get("/workflows/ghost/releases", headers=AUTH)
    assert unknown.status == 404
    assert "no declarative workflow named 'ghost'" in unknown.body["error"]


async def test_the_schedules_are_listed_with_their_next_fire(server: ApiServer) -> None:
    answer = await server.get("/schedules", headers=AUTH)
    assert answer.status == 200
    assert answer.body == {
        "schedules": [
            {
                "workflow": "hourly",
                "cron": "0 * * * *",
                "timezone": "Asia/Bangkok",
                "catchup": "all",
                "last_release": hour(0),
                "next_fire": hour(1),
            }
        ]
    }


async def dagger(*args: str) -> int:
    """Run ``dagger <args>`` in a thread while this loop serves the API."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, main, list(args))


async def test_the_commands_print_the_schedules_and_the_releases(
    server: ApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = ["--url", server.url, "--token", TOKEN]
    assert await dagger("schedules", "list", *connection) == 0
    listed = capsys.readouterr().out
    assert "hourly" in listed and "Asia/Bangkok" in listed and hour(1) in listed
    assert await dagger("releases", "list", "hourly", *connection) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["LOGICAL", "TIME", "(UTC)", "KIND", "INSTANCE", "RECORDED", "(UTC)"]
    assert lines[1].split()[:3] == [hour(-1), "normal", release_id(f"hourly@{hour(-1)}", 2)]
    assert await dagger("releases", "list", "hourly", "--json", *connection) == 0
    assert [r["logical_time"] for r in json.loads(capsys.readouterr().out)] == [hour(-1), hour(0)]
    assert await dagger("releases", "list", "ghost", *connection) == 2
    assert "no declarative workflow named 'ghost'" in capsys.readouterr().err


async def test_a_worker_that_does_not_own_the_schedule_asks_the_one_that_does(
    engine: Dagger, local: LocalEngine
) -> None:
    everything = set(range(engine.settings.kafka_partitions))
    async with contextlib.AsyncExitStack() as servers:
        owner = await servers.enter_async_context(
            ApiServer(engine, token=TOKEN, view=SplitView(local.store, everything))
        )
        # This one owns no partition: the schedule and its audit are the other worker's.
        other = await servers.enter_async_context(
            ApiServer(
                engine,
                token=TOKEN,
                view=SplitView(local.store, set()),
                peers=StaticPeers([owner.url]),
            )
        )
        releases = await other.get("/workflows/hourly/releases", headers=AUTH)
        schedules = await other.get("/schedules", headers=AUTH)
        local_only = {**AUTH, SCOPE_HEADER: "local"}
        alone = await other.get("/workflows/hourly/releases", headers=local_only)
    assert releases.status == 200
    assert [r["logical_time"] for r in releases.body["releases"]] == [hour(-1), hour(0)]
    assert schedules.body["schedules"][0]["last_release"] == hour(0)
    assert alone.status == 404
