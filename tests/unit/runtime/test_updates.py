"""Instance updates: a plain-JSON document per stored change, and the user's callbacks."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from dagger.core import _machine as machine
from dagger.core._events import InstanceSubmitted, TaskFailed
from dagger.runtime._updates import UpdatePublisher, update_document
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from tests.unit._workflows import OrderInstance, RecordingTask, build_template, task_named


class FakeTopic:
    """Records what is sent to it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


async def _running(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    template = build_template(
        engine,
        [("pay", [("reserve", RecordingTask), ("charge", RecordingTask)])],
        template_type=OrderInstance,
    )
    instance = await template.create_instance("i-1", "order_id", order_id="o-1", amount=9.5)
    [run] = machine.apply(instance, InstanceSubmitted("e-1", instance.id), now=1.0)
    instance.runtime_parameters["reserved"] = True
    machine.apply(instance, TaskFailed(run.task_id, "KeyError", "'sku'"), now=2.0)
    return instance


async def test_the_update_document_is_plain_json(engine: Dagger) -> None:
    document = update_document(await _running(engine))

    text = json.dumps(document)

    assert json.loads(text) == document
    assert "tests.unit" not in text and "OrderInstance" not in text
    assert "RecordingTask" not in text


async def test_the_update_document_shows_the_instance(engine: Dagger) -> None:
    instance = await _running(engine)

    document = update_document(instance)

    assert document["id"] == "i-1"
    assert document["template"] == "orders"
    assert document["status"] == "FAILURE"
    assert document["partition_key"] == "o-1"
    assert document["error_type"] == "KeyError"
    assert document["runtime_parameters"] == {"order_id": "o-1", "amount": 9.5, "reserved": True}
    assert document["time_completed"] == 2.0


async def test_the_update_document_shows_each_task(engine: Dagger) -> None:
    instance = await _running(engine)

    tasks = {view["name"]: view for view in update_document(instance)["tasks"]}

    reserve_name, charge_name = "reserve_executor_task", "charge_executor_task"
    assert set(tasks) == {"pay", reserve_name, charge_name}
    assert {name: view["status"] for name, view in tasks.items()} == {
        "pay": "FAILURE",
        reserve_name: "FAILURE",
        charge_name: "NOT_STARTED",
    }
    reserve = task_named(instance, "reserve")
    assert tasks[reserve_name]["id"] == reserve.id
    assert tasks[reserve_name]["parent_id"] == task_named(instance, "pay").id
    assert tasks[reserve_name]["process"] == "pay"
    assert (tasks[reserve_name]["error_type"], tasks[reserve_name]["error_message"]) == (
        "KeyError",
        "'sku'",
    )
    assert (tasks["pay"]["kind"], tasks[reserve_name]["kind"]) == ("SUB_DAG", "LEAF")


async def test_publish_sends_the_document_and_awaits_the_callbacks(engine: Dagger) -> None:
    instance = await _running(engine)
    topic = FakeTopic()
    seen: list[tuple[str, str]] = []

    async def first(updated: ITemplateDAGInstance[Any, Any]) -> None:
        seen.append(("first", updated.id))

    async def second(updated: ITemplateDAGInstance[Any, Any]) -> None:
        seen.append(("second", updated.status.code))

    publisher = UpdatePublisher(topic, [first, second])
    await publisher.publish(instance)

    assert publisher.enabled
    assert seen == [("first", "i-1"), ("second", "FAILURE")]
    [sent] = topic.sent
    assert sent["key"] == b"i-1"
    body = json.loads(sent["value"])
    assert body["status"] == "FAILURE"
    assert body["runtime_parameters"]["reserved"] is True


async def test_a_raising_callback_is_logged_and_the_rest_still_run(
    engine: Dagger, caplog: pytest.LogCaptureFixture
) -> None:
    instance = await _running(engine)
    seen: list[str] = []

    async def broken(updated: ITemplateDAGInstance[Any, Any]) -> None:
        raise RuntimeError("callback exploded")

    async def after(updated: ITemplateDAGInstance[Any, Any]) -> None:
        seen.append(updated.id)

    with caplog.at_level(logging.ERROR, logger="dagger.runtime._updates"):
        await UpdatePublisher(None, [broken, after]).publish(instance)

    assert seen == ["i-1"]
    [record] = caplog.records
    assert "raised for instance i-1" in record.getMessage()
    assert record.exc_info is not None
    assert "callback exploded" in str(record.exc_info[1])


def test_a_publisher_without_listeners_is_disabled() -> None:
    async def callback(updated: ITemplateDAGInstance[Any, Any]) -> None:
        return None

    assert not UpdatePublisher(None, []).enabled
    assert UpdatePublisher(FakeTopic(), []).enabled
    assert UpdatePublisher(None, [callback]).enabled
