"""The instance endpoints of one worker, over HTTP, on instances a LocalEngine runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagger.exceptions.exceptions import ConfigurationError
from dagger.runtime._partitioning import partition_for_key
from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from dagger.web._query import DEFAULT_LIMIT
from tests.unit._control_flow_workflows import alarm, process, workflow
from tests.unit._listener_workflows import new_engine, unique
from tests.unit.web._harness import OUTAGE, PARTITIONS, ApiServer, SplitView, orders, waiting


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


async def _orders(engine: Dagger, count: int, template: str = "orders", **params: Any) -> list[str]:
    built = engine.template_dags.get(template) or orders(engine, template)
    engine.template_dags[template] = built
    ids = []
    for number in range(count):
        instance = await built.create_instance(
            f"{template}-{number:03d}",
            "order_id",
            order_id=f"{template}-o{number}",
            submit_task=True,
            **params,
        )
        ids.append(instance.id)
    return ids


def _order_of(ids: list[str], engine: Dagger, template: str = "orders") -> list[str]:
    """``ids`` in the listing order: (owner partition, id)."""
    keyed = {f"{template}-{n:03d}": f"{template}-o{n}" for n in range(len(ids))}
    return sorted(ids, key=lambda i: (partition_for_key(keyed[i], PARTITIONS), i))


async def test_readiness_is_true_once_the_worker_is_ready(server: ApiServer) -> None:
    answer = await server.get("/service/ready")

    assert (answer.status, answer.body) == (200, {"is_ready": True})


async def test_readiness_is_false_and_503_until_then(engine: Dagger, local: LocalEngine) -> None:
    view = SplitView(local.store, set(range(PARTITIONS)), ready=False)
    async with ApiServer(engine, view=view) as server:
        ready = await server.get("/service/ready")
        listing = await server.get("/tasks/instances")

    assert (ready.status, ready.body) == (503, {"is_ready": False})
    assert listing.status == 503
    assert "not ready" in listing.body["error"]


async def test_an_instance_document_has_the_original_shape(
    engine: Dagger, server: ApiServer
) -> None:
    [instance_id] = await _orders(engine, 1)

    answer = await server.get(f"/tasks/instance/{instance_id}")

    assert answer.status == 200
    document = answer.body
    assert document["id"] == instance_id
    assert document["status"] == {"code": "COMPLETED", "value": "COMPLETED"}
    assert document["task_type"] == "ROOT"
    assert document["template_name"] == "orders"
    assert document["runtime_parameters"]["ran"] == ["reserve", "charge", "ship"]
    assert document["owner_partition"] == partition_for_key("orders-o0", PARTITIONS)
    assert "applied_events" not in document
    tasks = document["tasks"]
    assert {task["task_name"] for task in tasks.values()} >= {"payment", "charge", "ship"}
    for task_id, task in tasks.items():
        assert task["id"] == task_id
        assert task["status"] == {"code": "COMPLETED", "value": "COMPLETED"}
        assert "task_type" in task


async def test_an_executing_instance_says_what_it_waits_for(
    engine: Dagger, local: LocalEngine, server: ApiServer
) -> None:
    topic = unique("reply")
    listening = waiting(engine, topic)
    await listening.create_instance("w-1", "order_id", order_id="o-1", submit_task=True)
    timed = workflow(engine, process(engine, "P", alarm(engine, "remind")), name=unique("timed"))
    due = local.clock.now + 3600
    await timed.create_instance("t-1", "order_id", order_id="o-2", at=due, submit_task=True)
    [done] = await _orders(engine, 1)

    listener = (await server.get("/tasks/instance/w-1")).body
    timer = (await server.get("/tasks/instance/t-1")).body
    listed = {doc["id"]: doc for doc in (await server.get("/tasks/instances")).body}

    [message] = listener["waiting_for"]
    assert message == {
        "kind": "message",
        "task_id": message["task_id"],
        "task_name": listener["tasks"][message["task_id"]]["task_name"],
        "topic": topic,
        "key": "order_id",
        "value": "o-1",
    }
    [alarm_wait] = timer["waiting_for"]
    assert (alarm_wait["kind"], alarm_wait["due"]) == ("timer", due)
    assert timer["tasks"][alarm_wait["task_id"]]["task_name"] == alarm_wait["task_name"]
    assert listed["w-1"]["waiting_for"] == listener["waiting_for"]
    assert listed[done]["waiting_for"] == []


async def test_the_list_has_a_safe_default_limit_and_the_listing_order(
    engine: Dagger, server: ApiServer
) -> None:
    ids = await _orders(engine, DEFAULT_LIMIT + 30)

    answer = await server.get("/tasks/instances")

    assert answer.status == 200
    assert isinstance(answer.body, list)
    assert len(answer.body) == DEFAULT_LIMIT
    assert answer.headers["X-Total-Count"] == str(len(ids))
    assert [doc["id"] for doc in answer.body] == _order_of(ids, engine)[:DEFAULT_LIMIT]
    assert answer.headers["X-Next-Cursor"]
    assert 'rel="next"' in answer.headers["Link"]


async def test_cursor_paging_visits_every_instance_once_in_order(
    engine: Dagger, server: ApiServer
) -> None:
    ids = await _orders(engine, 23)
    seen: list[str] = []
    params = {"limit": "5"}
    pages = 0
    while True:
        answer = await server.get("/tasks/instances", params=params)
        assert answer.status == 200
        seen.extend(doc["id"] for doc in answer.body)
        pages += 1
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        params = {"limit": "5", "cursor": cursor}

    assert seen == _order_of(ids, engine)
    assert pages == 5


async def test_offset_paging_slices_the_same_order(engine: Dagger, server: ApiServer) -> None:
    ids = await _orders(engine, 12)

    answer = await server.get("/tasks/instances", params={"offset": "4", "limit": "5"})

    assert [doc["id"] for doc in answer.body] == _order_of(ids, engine)[4:9]
    assert answer.headers["X-Total-Count"] == "12"


async def test_status_and_template_filters(engine: Dagger, server: ApiServer) -> None:
    await _orders(engine, 3)
    OUTAGE.add("charge")
    failed = await _orders(engine, 2, template="returns")
    OUTAGE.clear()

    by_status = await server.get("/tasks/instances", params={"status": "failure"})
    by_template = await server.get("/tasks/instances", params={"template": "orders"})
    both = await server.get("/tasks/instances", params={"status": "COMPLETED,FAILURE"})
    none = await server.get("/tasks/instances", params={"status": "FAILURE", "template": "orders"})

    assert sorted(doc["id"] for doc in by_status.body) == sorted(failed)
    assert {doc["status"]["code"] for doc in by_status.body} == {"FAILURE"}
    assert by_status.headers["X-Total-Count"] == "2"
    assert {doc["template_name"] for doc in by_template.body} == {"orders"}
    assert by_template.headers["X-Total-Count"] == "3"
    assert both.headers["X-Total-Count"] == "5"
    assert (none.body, none.headers["X-Total-Count"]) == ([], "0")


async def _orders_a_second_apart(engine: Dagger, local: LocalEngine, count: int) -> list[str]:
    """``count`` orders, each finished (and last updated) a second after the one before."""
    ids = []
    for _ in range(count):
        ids += await _orders(engine, 1, template=unique("orders"))
        local.clock.advance(1)
    return ids


async def _all_pages(server: ApiServer, params: dict[str, str]) -> list[list[str]]:
    pages: list[list[str]] = []
    query = dict(params)
    while True:
        answer = await server.get("/tasks/instances", params=query)
        assert answer.status == 200, answer.body
        pages.append([doc["id"] for doc in answer.body])
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages
        query = {**params, "cursor": cursor}


async def test_order_updated_lists_the_newest_update_first_and_its_cursor_pages_it(
    engine: Dagger, local: LocalEngine, server: ApiServer
) -> None:
    ids = await _orders_a_second_apart(engine, local, 7)

    default = await server.get("/tasks/instances")
    pages = await _all_pages(server, {"order": "updated", "limit": "3"})

    assert [doc["id"] for doc in default.body] != ids[::-1]  # not the default order
    assert pages == [ids[:-4:-1], ids[-4:-7:-1], ids[:1]]
    updates = [doc["lastupdated"] for doc in default.body]
    assert len(set(updates)) == len(updates)


async def test_equal_update_times_page_by_partition_and_id(
    engine: Dagger, server: ApiServer
) -> None:
    ids = await _orders(engine, 9)  # the clock stands still: one update time for all

    pages = await _all_pages(server, {"order": "updated", "limit": "4"})

    assert [len(page) for page in pages] == [4, 4, 1]
    assert [i for page in pages for i in page] == _order_of(ids, engine)


async def test_a_cursor_pages_only_the_order_it_came_from(
    engine: Dagger, server: ApiServer
) -> None:
    await _orders(engine, 3)
    first = await server.get("/tasks/instances", params={"limit": "1"})

    mixed = await server.get(
        "/tasks/instances",
        params={"limit": "1", "order": "updated", "cursor": first.headers["X-Next-Cursor"]},
    )

    assert mixed.status == 400
    assert "this cursor pages another order than order=updated" in mixed.body["error"]


async def test_the_partition_key_filter_matches_the_key_value_as_text(
    engine: Dagger, server: ApiServer
) -> None:
    ids = await _orders(engine, 4)
    numbered = orders(engine, unique("numbered"))
    await numbered.create_instance("n-1", "order_id", order_id=17, submit_task=True)

    one = await server.get("/tasks/instances", params={"partition_key": "orders-o2"})
    number = await server.get("/tasks/instances", params={"partition_key": "17"})
    none = await server.get("/tasks/instances", params={"partition_key": ids[0]})

    assert [doc["id"] for doc in one.body] == [ids[2]]
    assert one.headers["X-Total-Count"] == "1"
    assert [doc["id"] for doc in number.body] == ["n-1"]
    assert (none.body, none.headers["X-Total-Count"]) == ([], "0")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"limit": "5000"}, "limit must be between 1 and 1000"),
        ({"limit": "ten"}, "limit must be an integer"),
        ({"offset": "-1"}, "offset must be between 0 and"),
        ({"offset": "9900", "limit": "200"}, "page further with the cursor"),
        ({"status": "DONE"}, "unknown status DONE; use one or more"),
        ({"cursor": "not-a-cursor"}, "malformed cursor"),
        ({"cursor": "WzEsImEiXQ", "offset": "1"}, "either offset or cursor"),
        ({"page": "2"}, "unknown query parameter(s) page"),
        ({"template": ""}, "template must be a template name"),
        ({"order": "newest"}, "unknown order 'newest'; use one of partition, updated"),
        ({"partition_key": ""}, "partition_key must be a partition-key value"),
    ],
)
async def test_a_bad_list_query_is_a_400_that_says_what_to_fix(
    server: ApiServer, params: dict[str, str], message: str
) -> None:
    answer = await server.get("/tasks/instances", params=params)

    assert answer.status == 400
    assert message in answer.body["error"]
    assert answer.body["status"] == 400


async def test_an_unknown_instance_is_404_and_a_malformed_id_400(server: ApiServer) -> None:
    missing = await server.get("/tasks/instance/no-such-order")
    malformed = await server.get("/tasks/instance/bad%20id%3F")
    stop_malformed = await server.post("/tasks/instance/bad%20id/stop")

    assert missing.status == 404
    assert missing.body == {
        "error": "no instance with id no-such-order (asked 1 worker)",
        "status": 404,
    }
    assert malformed.status == 400
    assert "malformed instance id 'bad id?'" in malformed.body["error"]
    assert stop_malformed.status == 400


async def test_stop_stops_an_unfinished_instance_and_refuses_a_finished_one(
    engine: Dagger, local: LocalEngine, server: ApiServer
) -> None:
    template = waiting(engine, unique("reply"))
    instance = await template.create_instance("w-1", "order_id", order_id="w-1", submit_task=True)
    assert local.get_instance("w-1").status.code == "EXECUTING"  # type: ignore[union-attr]

    stopped = await server.post(f"/tasks/instance/{instance.id}/stop")
    again = await server.post(f"/tasks/instance/{instance.id}/stop")
    unknown = await server.post("/tasks/instance/nobody/stop")

    assert stopped.status == 202
    assert stopped.body["accepted"] is True
    assert (stopped.body["id"], stopped.body["action"]) == ("w-1", "stop")
    document = (await server.get("/tasks/instance/w-1")).body
    assert document["status"]["code"] == "STOPPED"
    assert again.status == 409
    assert again.body["error"] == (
        "instance w-1 is STOPPED: it has finished, so there is nothing to stop"
    )
    assert unknown.status == 404


async def test_retry_runs_a_failure_instance_on_and_refuses_others(
    engine: Dagger, server: ApiServer
) -> None:
    OUTAGE.add("charge")
    [instance_id] = await _orders(engine, 1)
    OUTAGE.clear()
    assert (await server.get(f"/tasks/instance/{instance_id}")).body["status"]["code"] == "FAILURE"

    retried = await server.post(f"/tasks/instance/{instance_id}/retry")
    again = await server.post(f"/tasks/instance/{instance_id}/retry")

    assert retried.status == 202
    assert retried.body["action"] == "retry"
    document = (await server.get(f"/tasks/instance/{instance_id}")).body
    assert document["status"]["code"] == "COMPLETED"
    assert document["runtime_parameters"]["ran"] == ["reserve", "charge", "ship"]
    assert again.status == 409
    assert again.body["error"] == (
        f"instance {instance_id} is COMPLETED; only a FAILURE instance can be retried"
    )


async def test_standby_copies_are_not_answered_for(engine: Dagger, local: LocalEngine) -> None:
    [instance_id] = await _orders(engine, 1)
    owner = partition_for_key("orders-o0", PARTITIONS)
    others = set(range(PARTITIONS)) - {owner}
    async with ApiServer(engine, view=SplitView(local.store, others)) as server:
        listing = await server.get("/tasks/instances")
        shown = await server.get(f"/tasks/instance/{instance_id}")

    assert (listing.body, listing.headers["X-Total-Count"]) == ([], "0")
    assert shown.status == 404


async def test_unknown_routes_and_methods_are_json_errors(server: ApiServer) -> None:
    unknown = await server.get("/tasks/nothing-here")
    wrong_method = await server.request("DELETE", "/tasks/instances")

    assert unknown.status == 404
    assert unknown.body["error"] == (
        "Not Found: GET /tasks/nothing-here (the endpoints are listed at GET /openapi.json)"
    )
    assert wrong_method.status == 405
    assert wrong_method.body["error"].startswith("Method Not Allowed: DELETE /tasks/instances")
    assert "GET" in wrong_method.headers["Allow"]


class BrokenStore(SplitView):
    def store(self) -> Any:
        raise RuntimeError("disk on fire")


async def test_an_unexpected_error_is_a_json_500_without_the_details(
    engine: Dagger, local: LocalEngine
) -> None:
    async with ApiServer(engine, view=BrokenStore(local.store, {0})) as server:
        answer = await server.get("/tasks/instances")

    assert answer.status == 500
    assert answer.body == {
        "error": "internal error (RuntimeError); the worker's log has details",
        "status": 500,
    }


async def test_a_stored_instance_that_cannot_be_read_is_left_out_of_the_list(
    engine: Dagger, local: LocalEngine, server: ApiServer
) -> None:
    await _orders(engine, 2)
    local.store[b"corrupt"] = b'{"v": 99}'

    answer = await server.get("/tasks/instances")

    assert answer.status == 200
    assert answer.headers["X-Total-Count"] == "2"


def test_the_web_server_cannot_run_in_a_thread_of_its_own() -> None:
    with pytest.raises(ConfigurationError, match="web_in_thread=True is not supported"):
        new_engine(web_in_thread=True)
