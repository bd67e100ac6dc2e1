"""The original's public index methods, run through LocalEngine (no Kafka)."""

from __future__ import annotations

from typing import Any

import pytest

from dagger.core._keys import index_key
from dagger.exceptions.exceptions import DaggerError, InvalidTaskType
from dagger.service.services import Dagger
from dagger.tasks.task import (
    CorreletableKeyTasks,
    ExecutorTask,
    SensorTask,
)
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import (
    LISTENER,
    OrderStatusListener,
    new_engine,
    order_template,
    unique,
)


class RekeyFromHook(OrderStatusListener):
    """On a RENAME status, re-keys itself with update_correletable_key_for_task."""

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        payload = args[0]
        if payload["status"] == "RENAME":
            await Dagger.app.update_correletable_key_for_task(self, key=payload["to"])
            return False
        return await super().on_message(runtime_parameters, *args, **kwargs)


class StopListeningFromHook(OrderStatusListener):
    """On a LEAVE status, leaves the index with remove_task_from_correletable_keys_table."""

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        if args[0]["status"] == "LEAVE":
            await Dagger.app.remove_task_from_correletable_keys_table(self)
            return False
        return await super().on_message(runtime_parameters, *args, **kwargs)


async def _waiting(
    engine: Dagger, local: LocalEngine, listener: type[Any], order_id: str
) -> tuple[str, Any]:
    topic = unique("status")
    template = order_template(engine, status_topic=topic, listener=listener)
    instance = await template.create_instance(
        order_id, "order_id", submit_task=True, order_id=order_id
    )
    return topic, instance


async def test_update_correletable_key_for_task_moves_the_listener() -> None:
    engine = new_engine()
    async with LocalEngine(engine) as local:
        topic, instance = await _waiting(engine, local, RekeyFromHook, "o-1")
        # The hook re-keys the listener from o-1 to o-9 when the hook returns.
        await local.send_message(topic, {"order_id": "o-1", "status": "RENAME", "to": "o-9"})
        assert local.keys.lookups(index_key(topic, "order_id", "o-1")) == []
        moved = local.keys.lookups(index_key(topic, "order_id", "o-9"))
        assert [(entry.workflow_id, entry.task_id) for entry in moved] == [
            (
                instance.id,
                next(
                    t.id
                    for t in local.get_instance(instance.id).tasks.values()
                    if t.task_name == LISTENER
                ),
            )  # type: ignore[union-attr]
        ]
        await local.send_message(topic, {"order_id": "o-9", "status": "READY"})
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["order_id"] == "o-9"


async def test_update_correletable_key_for_task_refuses_a_non_listener() -> None:
    engine = new_engine()

    class Plain(ExecutorTask[str, Any]):
        async def execute(
            self, runtime_parameters: dict[str, Any], workflow_instance: Any = None
        ) -> None:
            return None

    with pytest.raises(TypeError, match="workflow_instance"):
        await engine.update_correletable_key_for_task(Plain(id="t", task_name="t"))
    with pytest.raises(InvalidTaskType):
        await engine.update_correletable_key_for_task(
            Plain(id="t", task_name="t"),
            workflow_instance=object(),  # type: ignore[arg-type]
        )
    assert engine.update_correlatable_key_for_task == engine.update_correletable_key_for_task


async def test_remove_task_from_correletable_keys_table_leaves_the_index() -> None:
    engine = new_engine()
    async with LocalEngine(engine) as local:
        topic, instance = await _waiting(engine, local, StopListeningFromHook, "o-2")
        assert local.keys.lookups(index_key(topic, "order_id", "o-2"))
        await local.send_message(topic, {"order_id": "o-2", "status": "LEAVE"})
        assert local.keys.lookups(index_key(topic, "order_id", "o-2")) == []
        await local.send_message(topic, {"order_id": "o-2", "status": "READY"})
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "EXECUTING"


async def test_chunk_and_store_and_get_instances_use_the_chunked_index() -> None:
    engine = new_engine(max_correletable_keys_in_values=2)
    async with LocalEngine(engine) as local:
        topic, instance = await _waiting(engine, local, OrderStatusListener, "o-3")
        key = index_key(topic, "order_id", "shared")
        for task_id in ("t-1", "t-2", "t-3"):
            await engine.chunk_and_store_correlatable_tasks(
                CorreletableKeyTasks(key=key), task_id, instance.id
            )
        chunks = await engine.get_correletable_key_instances(CorreletableKeyTasks(key=key))
        assert [len(chunk.lookup_keys) for chunk in chunks] == [2, 1]
        assert [lk.task_id for chunk in chunks for lk in chunk.lookup_keys] == ["t-1", "t-2", "t-3"]
        assert all(lk.workflow_id == instance.id for chunk in chunks for lk in chunk.lookup_keys)
        with pytest.raises(DaggerError, match="not held"):
            await engine.chunk_and_store_correlatable_tasks(
                CorreletableKeyTasks(key=key), "t", "nobody"
            )
    assert issubclass(OrderStatusListener, SensorTask)
