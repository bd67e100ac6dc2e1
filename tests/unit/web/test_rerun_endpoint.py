"""``POST /tasks/instance/{id}/rerun`` over HTTP, on instances a LocalEngine runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine, unique
from tests.unit.web._harness import OUTAGE, PARTITIONS, ApiServer, orders, waiting


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


async def _order(engine: Dagger, instance_id: str = "r-1") -> str:
    template = orders(engine, unique("orders"))
    instance = await template.create_instance(
        instance_id, "order_id", order_id=f"{instance_id}-o", submit_task=True
    )
    return instance.id


async def _document(server: ApiServer, instance_id: str) -> Any:
    return (await server.get(f"/tasks/instance/{instance_id}")).body


async def test_a_failed_instance_reruns_from_its_failed_task_with_edited_parameters(
    engine: Dagger, server: ApiServer
) -> None:
    OUTAGE.add("charge")
    instance_id = await _order(engine)
    OUTAGE.clear()
    assert (await _document(server, instance_id))["status"]["code"] == "FAILURE"

    answer = await server.post(
        f"/tasks/instance/{instance_id}/rerun",
        json={"from": "charge", "parameters": {"note": "card replaced"}},
    )

    assert answer.status == 202
    assert (answer.body["id"], answer.body["action"], answer.body["from"]) == (
        instance_id,
        "rerun",
        "charge",
    )
    document = await _document(server, instance_id)
    assert document["status"]["code"] == "COMPLETED"
    assert document["runtime_parameters"]["ran"] == ["reserve", "charge", "ship"]
    assert document["runtime_parameters"]["note"] == "card replaced"


async def test_a_completed_instance_reruns_from_a_process_by_its_id(
    engine: Dagger, server: ApiServer
) -> None:
    instance_id = await _order(engine)
    document = await _document(server, instance_id)
    shipping = next(t["id"] for t in document["tasks"].values() if t["task_name"] == "shipping")

    answer = await server.post(f"/tasks/instance/{instance_id}/rerun", json={"from": shipping})

    assert answer.status == 202
    document = await _document(server, instance_id)
    assert document["runtime_parameters"]["ran"] == ["reserve", "charge", "ship", "ship"]


async def test_a_running_instance_and_an_unknown_task_are_409(
    engine: Dagger, server: ApiServer
) -> None:
    template = waiting(engine, unique("reply"))
    await template.create_instance("w-1", "order_id", order_id="w-1", submit_task=True)
    finished = await _order(engine)

    running = await server.post("/tasks/instance/w-1/rerun", json={"from": "w-1"})
    unknown = await server.post(f"/tasks/instance/{finished}/rerun", json={"from": "nope"})

    assert running.status == 409
    assert "instance w-1 is EXECUTING" in running.body["error"]
    assert "stop it first" in running.body["error"]
    assert unknown.status == 409
    assert unknown.body["error"] == f"instance {finished} has no task with the id or name 'nope'"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (None, "'from' must name the task"),
        ({"parameters": {}}, "'from' must name the task"),
        ({"from": ""}, "'from' must name the task"),
        ({"from": "charge", "parameters": [1]}, "'parameters' must be a JSON object"),
        ({"from": "charge", "params": {}}, "unknown field(s) ['params']"),
        ([1, 2], "the body must be a JSON object"),
    ],
)
async def test_a_bad_body_is_400(engine: Dagger, server: ApiServer, body: Any, error: str) -> None:
    instance_id = await _order(engine)
    answer = await server.post(f"/tasks/instance/{instance_id}/rerun", json=body)
    assert answer.status == 400
    assert error in answer.body["error"]


async def test_an_unknown_instance_is_404() -> None:
    for deletes, hint in ((False, False), (True, True)):
        engine = new_engine(kafka_partitions=PARTITIONS, delete_workflow_on_complete=deletes)
        async with LocalEngine(engine), ApiServer(engine) as server:
            answer = await server.post("/tasks/instance/gone/rerun", json={"from": "charge"})
        assert answer.status == 404
        assert answer.body["error"].startswith("no instance with id gone")
        assert ("delete_workflow_on_complete=True" in answer.body["error"]) is hint
        assert ("cannot be rerun" in answer.body["error"]) is hint
