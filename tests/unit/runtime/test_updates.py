"""Instance updates: a plain-JSON document per stored change, and the user's callbacks."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import jsonpickle
import pytest

from dagger.core._events import InstanceSubmitted, TaskFailed
from dagger.core._step import step as core_step
from dagger.core._wire import encode_event
from dagger.runtime._updates import UpdatePublisher, update_document
from dagger.service.services import Dagger
from dagger.tasks.task import DefaultTemplateDAGInstance, ITemplateDAGInstance
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine, order_template, unique
from tests.unit._workflows import (
    OrderInstance,
    RecordingTask,
    build_template,
    task_named,
)


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
    [run] = core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    instance.runtime_parameters["reserved"] = True
    core_step(instance, TaskFailed(run.task_id, "KeyError", "'sku'"), now=2.0)
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


# -- read back the way the original's consumers read them -------------------------------


async def test_an_update_document_reads_back_with_from_data_as_the_original_consumers_do(
    engine: Dagger,
) -> None:
    """The original's consumers: ``ITemplateDAGInstance.from_data(jsonpickle.decode(v))``."""
    topic = FakeTopic()
    instance = await _running(engine)
    await UpdatePublisher(topic, []).publish(instance)

    [sent] = topic.sent
    with warnings.catch_warnings():  # jsonpickle 4 warns that its `keys` default changes
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = jsonpickle.decode(sent["value"])
    read = ITemplateDAGInstance.from_data(decoded)

    assert isinstance(read, DefaultTemplateDAGInstance)
    assert (read.id, read.status.code, read.template_name) == ("i-1", "FAILURE", "orders")
    assert read.update_count == instance.update_count
    assert read.runtime_parameters["reserved"] is True
    assert (read.error_type, read.time_completed) == ("KeyError", 2.0)


def test_from_data_refuses_a_document_whose_status_is_not_a_status() -> None:
    with pytest.raises(ValueError, match="must be a task status, got 'DONE'"):
        ITemplateDAGInstance.from_data({"id": "i-1", "status": "DONE", "tasks": []})


async def test_the_update_count_grows_with_each_applied_event_and_not_with_a_replay() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await template.create_instance(
            "i-2", "order_id", order_id="o-2", submit_task=True
        )
        created = local.get_instance(instance.id)
        assert created is not None and created.update_count == 1
        replay = encode_event(InstanceSubmitted("replayed", instance.id))
        await local._dispatcher.handle(replay, created.owner_partition)
        await local._dispatcher.handle(replay, created.owner_partition)
        await local.send_message(status_topic, {"order_id": "o-2", "status": "READY"})
        completed = local.get_instance(instance.id)

    assert completed is not None and completed.status.code == "COMPLETED"
    # created and submitted (one event), then the reply; the replay changed nothing
    assert completed.update_count == 2
    assert [update["update_count"] for update in local.updates] == [1, 2]
