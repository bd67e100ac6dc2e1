"""``dagger instances`` against an in-process API server on 127.0.0.1 (no Kafka).

The command is synchronous (urllib); it runs in a thread of its own while the event
loop serves the API, and that thread is joined before each test ends.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from dagger.cli import main
from dagger.service.services import Dagger
from dagger.tasks.task import RetryPolicy
from dagger.testing import LocalEngine
from tests.unit._control_flow_workflows import alarm, process, workflow
from tests.unit._listener_workflows import new_engine, unique
from tests.unit.web._harness import OUTAGE, ApiServer, free_port, orders, waiting

TOKEN = "cli-token"


@dataclass
class Served:
    engine: Dagger
    local: LocalEngine
    server: ApiServer


@pytest.fixture(autouse=True)
def _no_outage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DAGGER_API_URL", raising=False)
    monkeypatch.delenv("DAGGER_API_TOKEN", raising=False)
    OUTAGE.clear()
    yield
    OUTAGE.clear()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    engine = new_engine(kafka_partitions=2)
    async with LocalEngine(engine) as local, ApiServer(engine, token=TOKEN) as server:
        yield Served(engine, local, server)


async def dagger(*args: str) -> int:
    """Run ``dagger <args>`` in a thread while this loop serves the API."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, main, list(args))


def _connection(served: Served) -> list[str]:
    return ["--url", served.server.url, "--token", TOKEN]


async def _create_orders(engine: Dagger, count: int) -> list[str]:
    template = orders(engine, unique("orders"))
    for number in range(count):
        await template.create_instance(
            f"i-{number}", "order_id", order_id=f"o-{number}", submit_task=True
        )
    return [f"i-{number}" for number in range(count)]


async def test_list_prints_a_table_and_says_how_to_see_more(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    await _create_orders(served.engine, 5)

    status = await dagger("instances", "list", "--limit", "3", *_connection(served))

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == [
        "ID",
        "TEMPLATE",
        "STATUS",
        "PARTITION",
        "CREATED",
        "(UTC)",
        "UPDATED",
        "(UTC)",
        "WAITING",
        "FOR",
        "ERROR",
    ]
    assert len([line for line in lines[1:4] if "COMPLETED" in line]) == 3
    assert "3 of 5 instance(s)" in out
    assert f"more: dagger instances list --url {served.server.url} --limit 3 --cursor " in out
    assert TOKEN not in out
    assert "pass your --token again, or export DAGGER_API_TOKEN" in out


async def test_the_more_hint_keeps_the_worker_and_filters_and_works_when_pasted(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = "it's orders"
    template = orders(served.engine, odd)
    for number in range(5):
        await template.create_instance(
            f"q-{number}", "order_id", order_id=f"q{number}", submit_task=True
        )
        served.local.clock.advance(1)
    await _create_orders(served.engine, 2)  # another template: filtered out
    asked = ["--template", odd, "--status", "completed", "--sort", "updated", "--limit", "2"]

    await dagger("instances", "list", *asked, *_connection(served))
    first = capsys.readouterr().out
    [hint] = [line for line in first.splitlines() if line.startswith("more: ")]
    words = shlex.split(hint.removeprefix("more: ").removesuffix(" (or --all)"))
    await dagger(*words[1:], "--token", TOKEN)  # pasted, with the token given again
    second = capsys.readouterr().out

    assert f"--template {shlex.quote(odd)} " in hint
    assert words[:-1] == [
        "dagger",
        "instances",
        "list",
        "--url",
        served.server.url,
        "--status",
        "completed",
        "--template",
        odd,
        "--sort",
        "updated",
        "--limit",
        "2",
        "--cursor",
    ]
    assert TOKEN not in first
    rows = [line.split()[0] for line in (first + second).splitlines() if "COMPLETED" in line]
    assert rows == ["q-4", "q-3", "q-2", "q-1"]
    assert "more: " in second  # a third page follows


async def test_list_all_follows_the_cursors_and_shows_progress(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = await _create_orders(served.engine, 7)

    status = await dagger(
        "instances",
        "list",
        "--all",
        "--limit",
        "3",
        "--json",
        "--progress",
        "always",
        *_connection(served),
    )

    captured = capsys.readouterr()
    listed = json.loads(captured.out)
    assert status == 0
    assert sorted(doc["id"] for doc in listed["instances"]) == sorted(ids)
    assert (listed["total"], listed["next_cursor"]) == (7, None)
    assert captured.err.splitlines() == [
        "listing instances: 3/7",
        "listing instances: 6/7",
        "listing instances: 7/7",
    ]


async def test_show_prints_the_instance_and_its_tasks(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    OUTAGE.add("charge")
    await _create_orders(served.engine, 1)

    status = await dagger("instances", "show", "i-0", *_connection(served))

    out = capsys.readouterr().out
    assert status == 0
    assert "status           FAILURE" in out
    assert "partition key    o-0" in out
    assert "ConnectionError: charge: service unavailable" in out
    task_lines = {line.split()[0]: line for line in out.splitlines()[11:] if line.strip()}
    assert "COMPLETED" in task_lines["reserve"]
    assert "FAILURE" in task_lines["charge"]
    assert "NOT_STARTED" in task_lines["ship"]


async def test_stop_several_with_progress_and_a_table_of_results(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    template = waiting(served.engine, unique("reply"))
    for name in ("w-1", "w-2"):
        await template.create_instance(name, "order_id", order_id=name, submit_task=True)

    status = await dagger(
        "instances", "stop", "w-1", "w-2", "nobody", "--progress", "always", *_connection(served)
    )

    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines()[1:]}
    assert status == 1  # one id was not found
    assert "accepted" in rows["w-1"] and "accepted" in rows["w-2"]
    assert "not found" in rows["nobody"]
    assert "no instance with id nobody" in rows["nobody"]
    assert captured.err.splitlines() == [
        "stop requests: 1/3",
        "stop requests: 2/3",
        "stop requests: 3/3",
    ]
    for name in ("w-1", "w-2"):
        assert served.local.get_instance(name).status.code == "STOPPED"  # type: ignore[union-attr]


async def test_retry_waits_for_the_final_status(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    OUTAGE.add("charge")
    await _create_orders(served.engine, 1)
    OUTAGE.clear()
    served.local.clock.advance(5)  # the operator retries a little later

    status = await dagger("instances", "retry", "i-0", "--wait", "--json", *_connection(served))

    [result] = json.loads(capsys.readouterr().out)
    assert status == 0
    assert result["accepted"] is True
    assert result["final_status"] == "COMPLETED"


async def test_a_refused_retry_exits_1_and_says_why(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    await _create_orders(served.engine, 1)

    status = await dagger("instances", "retry", "i-0", *_connection(served))

    out = capsys.readouterr().out
    assert status == 1
    assert "refused" in out
    assert "only a FAILURE instance can be retried" in out


async def test_a_missing_token_is_one_clear_line_and_exit_2(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await dagger("instances", "list", "--url", served.server.url)

    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err.startswith("dagger: error: the API at ")
    assert "a bearer token is required" in err and "pass --token or set DAGGER_API_TOKEN" in err


async def test_the_url_and_token_come_from_the_environment(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGGER_API_URL", served.server.url)
    monkeypatch.setenv("DAGGER_API_TOKEN", TOKEN)

    status = await dagger("instances", "list", "--json")

    assert status == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0


async def test_an_unreachable_worker_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    status = await dagger("instances", "show", "i-1", "--url", url)

    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1
    assert err[0].startswith(f"dagger: error: cannot reach the Dagger API at {url}: ")


async def test_show_of_an_unknown_id_is_the_api_message(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await dagger("instances", "show", "nobody", *_connection(served))

    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "dagger: error: no instance with id nobody (asked 1 worker) (HTTP 404)"
    )


async def test_show_prints_each_attempt_and_the_failed_task_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    OUTAGE.add("charge")
    engine = new_engine(
        kafka_partitions=2, retry_policy=RetryPolicy(max_attempts=2, initial_backoff=0.0)
    )
    async with LocalEngine(engine) as local, ApiServer(engine, token=TOKEN) as server:
        await _create_orders(engine, 1)
        await local.advance(0)  # the second attempt is due at once

        status = await dagger("instances", "show", "i-0", "--url", server.url, "--token", TOKEN)

    out = capsys.readouterr().out
    assert status == 0
    attempts = out[out.index("attempts of charge:") :].splitlines()[1:4]
    assert attempts[0].split()[:2] == ["ATTEMPT", "STARTED"]
    assert attempts[1].split()[0] == "1" and "ConnectionError" in attempts[1]
    assert attempts[2].split()[0] == "2" and "ConnectionError" in attempts[2]
    traceback = out[out.index("traceback of charge:") :]
    assert "Traceback (most recent call last)" in traceback
    assert "ConnectionError: charge: service unavailable" in traceback


async def test_list_and_show_say_what_an_instance_waits_for_and_filter_by_partition_key(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = unique("reply")
    await waiting(served.engine, topic).create_instance(
        "w-1", "order_id", order_id="o-1", submit_task=True
    )
    timed = workflow(
        served.engine, process(served.engine, "P", alarm(served.engine, "remind")), name="timed"
    )
    due = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC
    await timed.create_instance("t-1", "order_id", order_id="o-2", at=due, submit_task=True)
    await _create_orders(served.engine, 1)

    await dagger("instances", "list", *_connection(served))
    listed = capsys.readouterr().out
    await dagger("instances", "list", "--partition-key", "o-1", *_connection(served))
    one = capsys.readouterr().out
    await dagger("instances", "show", "w-1", *_connection(served))
    shown = capsys.readouterr().out

    rows = {line.split()[0]: line for line in listed.splitlines()[1:] if line.strip()}
    assert f"{topic} order_id=o-1" in rows["w-1"]
    assert "timer 2030-03-17 17:46:40 UTC" in rows["t-1"]
    assert rows["i-0"].split()[-2:] == ["-", "-"]  # waits for nothing, no error
    assert [line.split()[0] for line in one.splitlines()[1:] if line.strip()][:1] == ["w-1"]
    assert "1 of 1 instance(s)" in one
    assert f"waiting for      {topic} order_id=o-1" in shown
    assert "created (UTC)    20" in shown
    assert "STARTED (UTC)" in shown and "COMPLETED (UTC)" in shown
