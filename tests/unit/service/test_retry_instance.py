"""Dagger.retry_instance through the owner, on a LocalEngine (no Kafka).

Tasks fail while their name is in :data:`OUTAGE` (a service they call is down); a test
empties it (the service is back) before it retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from dagger.core._events import RetryRequested
from dagger.core._wire import encode_event
from dagger.exceptions.exceptions import TaskInvalidState
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG
from dagger.testing import LocalEngine
from tests.unit._control_flow_workflows import process, statuses, step, workflow
from tests.unit._listener_workflows import new_engine

OUTAGE: set[str] = set()


class CallsService(ExecutorTask[str, Any]):
    """Raises while its name is in OUTAGE; appends its name to ``ran`` otherwise."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        if self.task_name in OUTAGE:
            raise ConnectionError(f"{self.task_name}: service unavailable")
        runtime_parameters.setdefault("ran", []).append(self.task_name)


@pytest.fixture(autouse=True)
def _no_outage() -> Iterator[None]:
    OUTAGE.clear()
    yield
    OUTAGE.clear()


def _orders(engine: Dagger) -> ITemplateDAG:
    def calls(name: str, *after: Any) -> Any:
        return step(engine, name, *after, task_type=CallsService)

    return workflow(
        engine,
        process(engine, "payment", calls("reserve", calls("charge"))),
        process(engine, "shipping", calls("ship")),
    )


async def _failed_order(engine: Dagger, local: LocalEngine) -> ITemplateDAGInstance[Any, Any]:
    OUTAGE.add("charge")
    instance = await _orders(engine).create_instance(
        "order-1", "order_id", order_id="o-1", submit_task=True
    )
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "FAILURE"
    OUTAGE.clear()
    return stored


@pytest.mark.parametrize("by_id", [False, True])
async def test_retry_instance_runs_a_failed_instance_on_to_completion(by_id: bool) -> None:
    engine = new_engine(kafka_partitions=3)
    async with LocalEngine(engine) as local:
        failed = await _failed_order(engine, local)

        await engine.retry_instance(failed.id if by_id else failed)

        stored = local.get_instance(failed.id)
        assert stored is not None
        assert stored.status.code == "COMPLETED"
        assert stored.runtime_parameters["ran"] == ["reserve", "charge", "ship"]
        assert set(statuses(stored).values()) == {"COMPLETED"}
        assert [update["status"] for update in local.updates] == ["FAILURE", "COMPLETED"]


async def test_retrying_an_instance_that_is_not_failure_raises_clearly() -> None:
    engine = new_engine()
    async with LocalEngine(engine) as local:
        instance = await _orders(engine).create_instance(
            "order-1", "order_id", order_id="o-1", submit_task=True
        )
        stored = local.get_instance(instance.id)
        assert stored is not None and stored.status.code == "COMPLETED"

        with pytest.raises(TaskInvalidState, match="only a FAILURE instance can be retried"):
            await engine.retry_instance(stored)

    assert [update["status"] for update in local.updates] == ["COMPLETED"]


async def test_the_owner_ignores_a_retry_by_id_of_an_instance_that_is_not_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = new_engine()
    async with LocalEngine(engine) as local:
        instance = await _orders(engine).create_instance(
            "order-1", "order_id", order_id="o-1", submit_task=True
        )
        completed = local.store[instance.id.encode()]

        with caplog.at_level(logging.WARNING, logger="dagger.runtime._owner"):
            await engine.retry_instance(instance.id)

    assert local.store[instance.id.encode()] == completed
    assert len(local.updates) == 1
    assert "retry ignored: instance order-1 is COMPLETED" in caplog.text


async def test_a_replayed_retry_event_changes_nothing_more() -> None:
    engine = new_engine()
    async with LocalEngine(engine) as local:
        failed = await _failed_order(engine, local)
        raw = encode_event(RetryRequested("retry-1", failed.id))
        OUTAGE.add("charge")  # still down: the retry fails again
        await local._dispatcher.handle(raw, failed.owner_partition)
        failed_again = local.store[failed.id.encode()]
        OUTAGE.clear()

        # The same event again (a redelivery after a crash) is not a second retry.
        await local._dispatcher.handle(raw, failed.owner_partition)

    stored = local.get_instance(failed.id)
    assert stored is not None and stored.status.code == "FAILURE"
    assert local.store[failed.id.encode()] == failed_again


async def test_retry_instance_needs_an_instance_or_an_id() -> None:
    engine = new_engine()
    async with LocalEngine(engine):
        with pytest.raises(ValueError, match="retry_instance\\(\\) needs a workflow instance"):
            await engine.retry_instance("")
