"""Two workers answering for each other's instances, over real HTTP on 127.0.0.1.

Both servers read one LocalEngine's store; worker A owns partitions 0 and 1, worker B
owns 2 and 3, so each holds the other's instances only as standby copies (which it must
not answer for). The peers are given as a static list instead of a Kafka group: the
integration tests cover the group assignment.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
import pytest

from dagger.runtime._partitioning import partition_for_key
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._peers import SCOPE_HEADER, StaticPeers
from tests.unit._listener_workflows import new_engine, unique
from tests.unit.web._harness import OUTAGE, ApiServer, SplitView, free_port, orders, waiting

PARTITIONS = 4
TOKEN = "shared-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Cluster:
    engine: Dagger
    local: LocalEngine
    a: ApiServer
    b: ApiServer
    a_peers: StaticPeers
    b_peers: StaticPeers


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    engine = new_engine(kafka_partitions=PARTITIONS)
    async with AsyncExitStack() as stack:
        local = await stack.enter_async_context(LocalEngine(engine))
        a_peers, b_peers = StaticPeers([]), StaticPeers([])
        a = await stack.enter_async_context(
            ApiServer(engine, token=TOKEN, view=SplitView(local.store, {0, 1}), peers=a_peers)
        )
        b = await stack.enter_async_context(
            ApiServer(engine, token=TOKEN, view=SplitView(local.store, {2, 3}), peers=b_peers)
        )
        a_peers._urls, b_peers._urls = [b.url], [a.url]
        yield Cluster(engine, local, a, b, a_peers, b_peers)


def _owner(order_id: str) -> int:
    return partition_for_key(order_id, PARTITIONS)


async def _orders(engine: Dagger, count: int) -> list[str]:
    template = orders(engine, unique("orders"))
    for number in range(count):
        await template.create_instance(
            f"i-{number:02d}", "order_id", order_id=f"o-{number}", submit_task=True
        )
    return [f"i-{number:02d}" for number in range(count)]


def _order(ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda i: (_owner(f"o-{int(i[2:])}"), i))


async def test_the_instances_are_split_between_the_two_workers(cluster: Cluster) -> None:
    ids = await _orders(cluster.engine, 16)
    owners = {_owner(f"o-{int(i[2:])}") for i in ids}
    assert owners & {0, 1} and owners & {2, 3}, "the test needs instances on both workers"

    own_a = await cluster.a.get("/tasks/instances", headers={**AUTH, SCOPE_HEADER: "local"})

    assert {doc["owner_partition"] for doc in own_a.body} <= {0, 1}
    assert int(own_a.headers["X-Total-Count"]) < len(ids)


async def test_either_worker_lists_every_instance_in_one_order(cluster: Cluster) -> None:
    ids = await _orders(cluster.engine, 16)

    via_a = await cluster.a.get("/tasks/instances", headers=AUTH)
    via_b = await cluster.b.get("/tasks/instances", headers=AUTH)

    assert [doc["id"] for doc in via_a.body] == _order(ids)
    assert via_a.body == via_b.body
    assert via_a.headers["X-Total-Count"] == via_b.headers["X-Total-Count"] == "16"


async def test_a_cursor_from_one_worker_pages_on_at_the_other(cluster: Cluster) -> None:
    ids = await _orders(cluster.engine, 16)
    seen: list[str] = []
    params = {"limit": "3"}
    servers = [cluster.a, cluster.b]
    for turn in range(20):
        answer = await servers[turn % 2].get("/tasks/instances", params=params, headers=AUTH)
        seen.extend(doc["id"] for doc in answer.body)
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        params = {"limit": "3", "cursor": cursor}

    assert seen == _order(ids)


async def test_newest_update_first_merges_and_pages_across_workers(cluster: Cluster) -> None:
    template = orders(cluster.engine, unique("orders"))
    for number in range(10):
        await template.create_instance(
            f"u-{number}", "order_id", order_id=f"o-{number}", submit_task=True
        )
        cluster.local.clock.advance(1)
    seen: list[str] = []
    params = {"limit": "3", "order": "updated", "partition_key": "o-3"}
    whole = await cluster.a.get("/tasks/instances", params=params, headers=AUTH)
    params = {"limit": "3", "order": "updated"}
    servers = [cluster.b, cluster.a]
    for turn in range(10):
        answer = await servers[turn % 2].get("/tasks/instances", params=params, headers=AUTH)
        seen.extend(doc["id"] for doc in answer.body)
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        params = {"limit": "3", "order": "updated", "cursor": cursor}

    assert seen == [f"u-{number}" for number in reversed(range(10))]
    assert {_owner(f"o-{n}") for n in range(10)} & {0, 1}  # both workers own some
    assert {_owner(f"o-{n}") for n in range(10)} & {2, 3}
    assert [doc["id"] for doc in whole.body] == ["u-3"]
    assert whole.headers["X-Total-Count"] == "1"


async def test_offset_pages_merge_across_workers(cluster: Cluster) -> None:
    ids = await _orders(cluster.engine, 16)

    answer = await cluster.b.get(
        "/tasks/instances", params={"offset": "5", "limit": "6"}, headers=AUTH
    )

    assert [doc["id"] for doc in answer.body] == _order(ids)[5:11]


async def test_show_stop_and_retry_reach_the_instance_on_the_other_worker(
    cluster: Cluster,
) -> None:
    on_b = next(f"o-{n}" for n in range(50) if _owner(f"o-{n}") in {2, 3})
    on_a = next(f"o-{n}" for n in range(50) if _owner(f"o-{n}") in {0, 1})
    await waiting(cluster.engine, unique("reply")).create_instance(
        "waits-on-b", "order_id", order_id=on_b, submit_task=True
    )
    OUTAGE.add("charge")
    await orders(cluster.engine, unique("orders")).create_instance(
        "fails-on-a", "order_id", order_id=on_a, submit_task=True
    )
    OUTAGE.clear()

    shown = await cluster.a.get("/tasks/instance/waits-on-b", headers=AUTH)
    stopped = await cluster.a.post("/tasks/instance/waits-on-b/stop", headers=AUTH)
    retried = await cluster.b.post("/tasks/instance/fails-on-a/retry", headers=AUTH)
    refused = await cluster.b.post("/tasks/instance/fails-on-a/retry", headers=AUTH)

    assert shown.status == 200 and shown.body["owner_partition"] in {2, 3}
    assert stopped.status == 202
    assert cluster.local.get_instance("waits-on-b").status.code == "STOPPED"  # type: ignore[union-attr]
    assert retried.status == 202
    assert cluster.local.get_instance("fails-on-a").status.code == "COMPLETED"  # type: ignore[union-attr]
    # The owner's refusal comes back as it is.
    assert refused.status == 409
    assert "only a FAILURE instance can be retried" in refused.body["error"]


async def test_an_id_no_worker_owns_is_404_after_asking_both(cluster: Cluster) -> None:
    answer = await cluster.a.get("/tasks/instance/nobody", headers=AUTH)

    assert answer.status == 404
    assert answer.body["error"] == "no instance with id nobody (asked 2 workers)"


async def test_a_peer_that_cannot_be_reached_makes_the_answer_503_not_404(
    cluster: Cluster,
) -> None:
    await _orders(cluster.engine, 4)
    gone = f"http://127.0.0.1:{free_port()}"
    cluster.a_peers._urls = [gone]

    listing = await cluster.a.get("/tasks/instances", headers=AUTH)
    shown = await cluster.a.get("/tasks/instance/nobody", headers=AUTH)

    for answer in (listing, shown):
        assert answer.status == 503
        assert answer.body["error"].startswith(f"worker {gone} did not answer")
        assert "try again" in answer.body["error"]


async def test_a_peer_that_is_not_ready_makes_the_answer_503(cluster: Cluster) -> None:
    view = cluster.b.api.instances._local.view
    assert isinstance(view, SplitView)
    view.ready = False

    answer = await cluster.a.get("/tasks/instances", headers=AUTH)

    assert answer.status == 503
    assert answer.body["error"].startswith(f"worker {cluster.b.url} answered 503: this worker")


async def test_the_status_counts_add_up_every_workers_instances(cluster: Cluster) -> None:
    await _orders(cluster.engine, 8)
    OUTAGE.add("ship")
    template = orders(cluster.engine, unique("orders"))
    for number in range(8, 12):
        await template.create_instance(
            f"i-{number:02d}", "order_id", order_id=f"o-{number}", submit_task=True
        )

    answer = await cluster.a.get("/tasks/instances", params={"status": "FAILURE"}, headers=AUTH)

    assert json.loads(answer.headers["X-Status-Counts"]) == {"COMPLETED": 8, "FAILURE": 4}
    assert answer.headers["X-Total-Count"] == "4"


async def test_the_dashboard_of_either_worker_shows_an_instance_the_other_owns(
    cluster: Cluster,
) -> None:
    ids = await _orders(cluster.engine, 8)
    on_b = next(i for i in ids if _owner(f"o-{int(i[2:])}") in {2, 3})
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=cluster.a.url, cookie_jar=jar) as browser:
        async with browser.get("/ui/login") as login:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await login.text())
        assert csrf is not None
        form = {"csrf_token": csrf.group(1), "token": TOKEN, "next": f"/ui/instance/{on_b}"}
        async with browser.post("/ui/login", data=form) as page:
            html = await page.text()

    assert page.status == 200, html[:300]
    assert f'<span class="mono">{on_b}</span>' in html
    assert 'data-status="COMPLETED"' in html


async def test_each_worker_says_which_partitions_it_owns_and_the_workers_page_asks_all(
    cluster: Cluster,
) -> None:
    own = await cluster.b.get("/service/worker", headers=AUTH)
    assert own.status == 200
    assert (own.body["partitions"], own.body["ready"]) == ([2, 3], True)

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=cluster.a.url, cookie_jar=jar) as browser:
        async with browser.get("/ui/login") as login:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await login.text())
        assert csrf is not None
        form = {"csrf_token": csrf.group(1), "token": TOKEN, "next": "/ui/workers"}
        async with browser.post("/ui/login", data=form) as page:
            html = await page.text()

    assert page.status == 200, html[:300]
    partitions = re.findall(r'<td class="partitions">([^<]*)</td>', html)
    assert sorted(partitions) == ["0, 1", "2, 3"]


async def test_a_rerun_reaches_the_instance_on_the_other_worker_with_its_body(
    cluster: Cluster,
) -> None:
    on_a = next(f"o-{n}" for n in range(50) if _owner(f"o-{n}") in {0, 1})
    await orders(cluster.engine, unique("orders")).create_instance(
        "done-on-a", "order_id", order_id=on_a, submit_task=True
    )

    rerun = await cluster.b.post(
        "/tasks/instance/done-on-a/rerun",
        headers=AUTH,
        json={"from": "ship", "parameters": {"note": "again"}},
    )
    refused = await cluster.b.post(
        "/tasks/instance/done-on-a/rerun", headers=AUTH, json={"from": "nope"}
    )

    assert rerun.status == 202, rerun.body
    shown = (await cluster.b.get("/tasks/instance/done-on-a", headers=AUTH)).body
    assert shown["runtime_parameters"]["ran"] == ["reserve", "charge", "ship", "ship"]
    assert shown["runtime_parameters"]["note"] == "again"
    assert refused.status == 409
