"""An instance whose task class is gone: listed as undecodable, refused with 422, alone."""

from __future__ import annotations

import pytest

from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import unique
from tests.unit._renamed import GONE, rename_stored_class
from tests.unit.web._harness import ApiServer, CallsService, orders


async def _five_orders_one_renamed(engine: Dagger, local: LocalEngine) -> list[str]:
    """Five completed orders; then order-2's task class is renamed away."""
    template = orders(engine, unique("orders"))
    ids = []
    for number in range(5):
        instance = await template.create_instance(
            f"order-{number}", "order_id", order_id=f"o-{number}", submit_task=True
        )
        ids.append(instance.id)
    rename_stored_class(local.store, "order-2", CallsService)
    return ids


async def test_the_listing_serves_the_others_and_says_why_one_is_undecodable(
    engine: Dagger, local: LocalEngine, server: ApiServer
) -> None:
    ids = await _five_orders_one_renamed(engine, local)

    answer = await server.get("/tasks/instances")

    assert answer.status == 200
    assert answer.headers["X-Total-Count"] == "5"
    by_id = {document["id"]: document for document in answer.body}
    assert sorted(by_id) == sorted(ids)
    broken = by_id.pop("order-2")
    assert broken["undecodable"]["missing_class"] == GONE
    assert broken["undecodable"]["error_type"] == "UnknownTaskClass"
    assert "register_alias('billing.tasks.ChargeCard')" in broken["undecodable"]["reason"]
    assert broken["status"] == {"code": "COMPLETED", "value": "COMPLETED"}
    assert broken["template_name"] == by_id["order-1"]["template_name"]
    assert broken["runtime_parameters"]["order_id"] == "o-2"
    assert broken["tasks"] == {}
    for document in by_id.values():
        assert "undecodable" not in document
        assert document["status"]["code"] == "COMPLETED"
        assert len(document["tasks"]) == 5


async def test_filters_and_pages_count_the_undecodable_instance(
    engine: Dagger, local: LocalEngine, server: ApiServer
) -> None:
    await _five_orders_one_renamed(engine, local)

    completed = await server.get("/tasks/instances", params={"status": "COMPLETED"})
    pages = [await server.get("/tasks/instances", params={"limit": "2"})]
    while "X-Next-Cursor" in pages[-1].headers:
        cursor = pages[-1].headers["X-Next-Cursor"]
        pages.append(await server.get("/tasks/instances", params={"limit": "2", "cursor": cursor}))

    assert completed.headers["X-Total-Count"] == "5"
    listed = [document["id"] for page in pages for document in page.body]
    assert sorted(listed) == [f"order-{n}" for n in range(5)]


@pytest.mark.parametrize(("method", "action"), [("GET", ""), ("POST", "/stop"), ("POST", "/retry")])
async def test_show_stop_and_retry_answer_422_naming_the_class(
    engine: Dagger, local: LocalEngine, server: ApiServer, method: str, action: str
) -> None:
    await _five_orders_one_renamed(engine, local)

    answer = await server.request(method, f"/tasks/instance/order-2{action}")
    other = await server.get("/tasks/instance/order-1")

    assert answer.status == 422, answer.body
    assert GONE in answer.body["error"]
    assert "register_alias" in answer.body["error"]
    assert "order-2" in answer.body["error"]
    assert other.status == 200
    assert local.dead_letters == []  # refused before any event was sent
