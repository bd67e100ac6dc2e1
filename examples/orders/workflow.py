"""An order workflow: two processes of executor tasks that pass parameters along.

``payment``: validate_order (prices the order) -> charge_payment (records a payment id).
``shipping``: reserve_stock (picks a warehouse) -> ship_order (uses both to make a label).

Run a worker for it with ``dagger worker -A examples.orders.workflow``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from dagger.templates.template import ITemplateDAG

# Names can be overridden from the environment so several runs can share one broker.
engine = Dagger(
    application_name=os.environ.get("ORDERS_APP_ID", "orders-demo"),
    store=os.environ.get("ORDERS_STORE", "rocksdb://"),
    datadir=os.environ.get("ORDERS_DATADIR"),
    kafka_partitions=4,
    task_update_topic=os.environ.get("ORDERS_UPDATES_TOPIC", "orders_demo_updates"),
    tasks_topic=os.environ.get("ORDERS_TASKS_TOPIC", "orders_demo_tasks"),
    dead_letter_topic=os.environ.get("ORDERS_DEAD_LETTER_TOPIC", "dagger_dead_letters"),
)

WAREHOUSES = ("Boston", "Berlin", "Lyon")


class ValidateOrder(ExecutorTask[str, str]):
    """Prices the order: 2 items at 19.99 each, say."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        quantity = int(runtime_parameters.get("quantity", 1))
        runtime_parameters["amount"] = round(quantity * 19.99, 2)


class ChargePayment(ExecutorTask[str, str]):
    """Charges the amount priced by ValidateOrder."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        digest = hashlib.sha1(
            f"{runtime_parameters['order_id']}:{runtime_parameters['amount']}".encode()
        )
        runtime_parameters["payment_id"] = f"pay-{digest.hexdigest()[:10]}"


class ReserveStock(ExecutorTask[str, str]):
    """Picks the warehouse that ships the order."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        index = int(hashlib.sha1(runtime_parameters["order_id"].encode()).hexdigest(), 16)
        runtime_parameters["warehouse"] = WAREHOUSES[index % len(WAREHOUSES)]


class ShipOrder(ExecutorTask[str, str]):
    """Makes a tracking number from the payment and the warehouse."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters["tracking_number"] = (
            f"{runtime_parameters['warehouse'][:3].upper()}-{runtime_parameters['payment_id'][4:]}"
        )


@Dagger.register_template("order_fulfilment")
def order_fulfilment(template_name: str) -> ITemplateDAG:
    helper = DAGBuilderHelper(dagger_app=engine)
    payment = helper.generic_process_builder(
        process_name="payment",
        root_task=helper.build_and_link_tasks(
            [
                helper.generic_executor_task_builder(
                    task_type=ValidateOrder, name="validate_order"
                ),
                helper.generic_executor_task_builder(
                    task_type=ChargePayment, name="charge_payment"
                ),
            ]
        ),
    )
    shipping = helper.generic_process_builder(
        process_name="shipping",
        root_task=helper.build_and_link_tasks(
            [
                helper.generic_executor_task_builder(task_type=ReserveStock, name="reserve_stock"),
                helper.generic_executor_task_builder(task_type=ShipOrder, name="ship_order"),
            ]
        ),
    )
    return helper.generic_template(
        template_name=template_name,
        root_process=helper.build_and_link_processes([payment, shipping]),
    )
