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


@contextlib.asynccontextmanager
async def owner_and_other(engine: Dagger, local: LocalEngine) -> AsyncIterator[ApiServer]:
    """Two workers' APIs: one owning every partition, and the other, owning none, that is
    yielded (the schedule and its audit are the first one's, its only peer)."""
    everything = set(range(engine.settings.kafka_partitions))
    async with ApiServer(engine, token=TOKEN, view=SplitView(local.store, everything)) as owner:
        other = ApiServer(
            engine, token=TOKEN, view=SplitView(local.store, set()), peers=StaticPeers([owner.url])
        )
        async with other as served:
            yield served


async def test_a_worker_that_does_not_own_the_schedule_asks_the_one_that_does(
    engine: Dagger, local: LocalEngine
) -> None:
    async with owner_and_other(engine, local) as other:
        releases = await other.get("/workflows/hourly/releases", headers=AUTH)
        schedules = await other.get("/schedules", headers=AUTH)
        local_only = {**AUTH, SCOPE_HEADER: "local"}
        alone = await other.get("/workflows/hourly/releases", headers=local_only)
    assert releases.status == 200
    assert [r["logical_time"] for r in releases.body["releases"]] == [hour(-1), hour(0)]
    assert schedules.body["schedules"][0]["last_release"] == hour(0)
    assert alone.status == 404


async def test_a_force_a_dry_run_and_a_rerun_are_asked_over_http_and_audited(
    server: ApiServer, local: LocalEngine
) -> None:
    path = "/workflows/hourly/releases"
    forced = await server.post(path, json={"kind": "force", "time": hour(-5)}, headers=AUTH)
    key = f"hourly@{hour(-5)}"
    assert (forced.status, forced.body) == (
        202,
        {
            "workflow": "hourly",
            "kind": "force",
            "key": key,
            "logical_time": hour(-5),
            "instance_id": release_id(key, 2),
            "existing": False,
        },
    )
    instance = local.get_instance(forced.body["instance_id"])
    assert instance is not None and instance.status.code == "COMPLETED"
    again = await server.post(path, json={"kind": "force", "time": hour(0)}, headers=AUTH)
    assert again.status == 202 and again.body["existing"] is True  # the schedule released it
    dry = await server.post(path, json={"kind": "dry-run", "time": hour(-5)}, headers=AUTH)
    assert dry.status == 202
    assert (dry.body["key"], dry.body["instance_id"]) == (f"{key}#dry-run", None)
    rerun = await server.post(path, json={"kind": "rerun", "key": key}, headers=AUTH)
    assert rerun.status == 202 and rerun.body["key"] == f"{key}#rerun-1"
    listed = await server.get(path, headers=AUTH)
    kinds = {r["key"]: r["kind"] for r in listed.body["releases"]}
    assert kinds == {
        key: "force",
        f"{key}#dry-run": "dry-run",
        f"{key}#rerun-1": "rerun",
        f"hourly@{hour(-1)}": "normal",
        f"hourly@{hour(0)}": "normal",
    }


async def test_a_time_without_an_offset_is_one_of_the_schedule_s_timezone(
    server: ApiServer,
) -> None:
    answer = await server.post(
        "/workflows/hourly/releases",
        json={"kind": "dry-run", "time": "2026-05-02T06:00:00"},  # Bangkok, UTC+7
        headers=AUTH,
    )
    assert answer.status == 202 and answer.body["logical_time"] == "2026-05-01T23:00:00Z"


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("hourly", {"kind": "normal"}, 400, "'kind' must be one of force, dry-run, rerun"),
        ("hourly", {"kind": "force", "time": "soon"}, 400, "not an ISO 8601 time"),
        ("hourly", {"kind": "rerun"}, 400, "a rerun names the 'key'"),
        ("hourly", {"kind": "force", "at": "x"}, 400, "unknown field(s) ['at']"),
        ("hourly", {"kind": "rerun", "key": "hourly@x"}, 404, "no release 'hourly@x'"),
        ("manual", {"kind": "force"}, 409, "has no schedule to release"),
        ("ghost", {"kind": "force"}, 404, "no declarative workflow named 'ghost'"),
    ],
)
async def test_a_manual_release_that_cannot_be_made_is_refused_saying_why(
    server: ApiServer, name: str, body: dict[str, str], status: int, message: str
) -> None:
    answer = await server.post(f"/workflows/{name}/releases", json=body, headers=AUTH)
    assert answer.status == status
    assert message in answer.body["error"]


async def test_a_manual_release_needs_the_token(server: ApiServer, local: LocalEngine) -> None:
    body = {"kind": "force", "time": hour(-2)}
    refused = await server.post("/workflows/hourly/releases", json=body)
    assert refused.status == 401
    assert [r["kind"] for r in local.releases("hourly")] == ["normal", "normal"]
    accepted = await server.post("/workflows/hourly/releases", json=body, headers=AUTH)
    assert accepted.status == 202


async def test_a_manual_release_asked_of_another_worker_goes_to_the_owner(
    engine: Dagger, local: LocalEngine
) -> None:
    async with owner_and_other(engine, local) as other:
        body = {"kind": "force", "time": hour(-3)}
        forwarded = await other.post("/workflows/hourly/releases", json=body, headers=AUTH)
        local_only = {**AUTH, SCOPE_HEADER: "local"}
        alone = await other.post("/workflows/hourly/releases", json=body, headers=local_only)
    assert forwarded.status == 202 and forwarded.body["key"] == f"hourly@{hour(-3)}"
    assert alone.status == 404
    assert [r["kind"] for r in local.releases("hourly")] == ["force", "normal", "normal"]


async def test_the_commands_force_dry_run_and_rerun_a_release(
    server: ApiServer, local: LocalEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = ["--url", server.url, "--token", TOKEN]
    key = f"hourly@{hour(-4)}"
    assert await dagger("releases", "force", "hourly", "--time", hour(-4), *connection) == 0
    assert capsys.readouterr().out.strip() == f"force {key}: starting {release_id(key, 2)}"
    assert await dagger("releases", "force", "hourly", "--time", hour(-4), *connection) == 0
    assert "released already" in capsys.readouterr().out
    dry = ["releases", "force", "hourly", "--time", hour(-4), "--dry-run", "--json"]
    assert await dagger(*dry, *connection) == 0
    assert json.loads(capsys.readouterr().out)["key"] == f"{key}#dry-run"
    assert await dagger("releases", "rerun", "hourly", key, *connection) == 0
    rerun = f"{key}#rerun-1"
    assert capsys.readouterr().out.strip() == f"rerun {rerun}: starting {release_id(rerun, 2)}"
    assert await dagger("releases", "rerun", "hourly", "hourly@x", *connection) == 2
    assert "no release 'hourly@x'" in capsys.readouterr().err
    assert {r["kind"] for r in local.releases("hourly")} == {"normal", "force", "dry-run", "rerun"}
