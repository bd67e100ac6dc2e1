"""The example order workflow, run in memory as docs/testing.md shows."""

from __future__ import annotations

import importlib
import uuid

import pytest

from dagger.testing import LocalEngine


async def test_the_order_example_passes_parameters_from_task_to_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGGER_BROKER", "kafka://127.0.0.1:9")
    workflow = importlib.import_module("examples.orders.workflow")
    engine = workflow.engine
    async with LocalEngine(engine) as local:
        instance = await engine.get_template("order_fulfilment").create_instance(
            uuid.uuid4(), "order_id", order_id="o-1", quantity=2, submit_task=True
        )
    stored = local.get_instance(instance.id)
    assert stored is not None and stored.status.code == "COMPLETED"
    params = stored.runtime_parameters
    assert params["amount"] == 39.98
    assert params["payment_id"].startswith("pay-")
    assert params["warehouse"] in workflow.WAREHOUSES
    assert (
        params["tracking_number"] == f"{params['warehouse'][:3].upper()}-{params['payment_id'][4:]}"
    )
    assert [task.task_name for task in stored.tasks.values()] == [
        "payment",
        "validate_order_executor_task",
        "charge_payment_executor_task",
        "shipping",
        "reserve_stock_executor_task",
        "ship_order_executor_task",
    ]
