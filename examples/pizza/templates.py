"""The pizza workflow's tasks and template, built on any engine.

``ORDER``: ``PizzaOrderCommand`` sends the order to the order service on
``pizza_orders``; ``PizzaReadyListener`` waits on ``pizza_status`` for a message about
the same ``order_id`` whose status is READY. ``DELIVERY``: ``DeliverPizza`` assigns a
driver.

The topics declare no codec, so, as in the original's README, values are raw: the
command sends the JSON text it makes with ``json.dumps``, and the listener's hooks get
the message's bytes and ``json.loads`` them. (Pass ``value_serializer="json"`` to the
builders to have the engine do both.)
"""

from __future__ import annotations

import json
import os
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.service.services import Dagger
from dagger.tasks.task import (
    ExecutorTask,
    ITemplateDAGInstance,
    KafkaCommandTask,
    KafkaListenerTask,
    TaskLookupKey,
)
from dagger.templates.template import ITemplateDAG

ORDERS_TOPIC = os.environ.get("PIZZA_ORDERS_TOPIC", "pizza_orders")
STATUS_TOPIC = os.environ.get("PIZZA_STATUS_TOPIC", "pizza_status")
DRIVERS = ("Ana", "Bo", "Chen", "Dee")


class PizzaOrderCommand(KafkaCommandTask[str, str]):
    """Sends the order to the order service."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        order_id = runtime_parameters["order_id"]
        await Dagger.app.topics[str(self.topic)].send(
            key=order_id,
            value=json.dumps(
                {"order_id": order_id, "pizza": runtime_parameters.get("pizza", "margherita")}
            ),
            headers={"message-id": f"order-{order_id}".encode()},
        )


class PizzaReadyListener(KafkaListenerTask[str, str]):
    """Waits until the order service says the pizza is READY."""

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("order_id", json.loads(payload)["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        status = json.loads(args[0])["status"]
        runtime_parameters.setdefault("statuses", []).append(status)
        return bool(status == "READY")


class DeliverPizza(ExecutorTask[str, str]):
    """Assigns a driver."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        order_number = sum(map(ord, runtime_parameters["order_id"]))
        runtime_parameters["driver"] = DRIVERS[order_number % len(DRIVERS)]


def build_pizza_template(
    app: Dagger,
    template_name: str = "pizza",
    orders_topic: str = ORDERS_TOPIC,
    status_topic: str = STATUS_TOPIC,
) -> ITemplateDAG:
    """Build the pizza workflow on ``app``: order on ``orders_topic``, wait on ``status_topic``."""
    helper = DAGBuilderHelper(dagger_app=app)
    order = helper.generic_process_builder(
        process_name="ORDER",
        root_task=helper.build_and_link_tasks(
            [
                helper.generic_command_task_builder(
                    topic=orders_topic, task_type=PizzaOrderCommand, process_name="ORDER"
                ),
                helper.generic_listener_task_builder(
                    topic=status_topic, task_type=PizzaReadyListener, process_name="ORDER"
                ),
            ]
        ),
    )
    delivery = helper.generic_process_builder(
        process_name="DELIVERY",
        root_task=helper.build_and_link_tasks(
            [helper.generic_executor_task_builder(task_type=DeliverPizza, name="deliver")]
        ),
    )
    return helper.generic_template(
        template_name=template_name,
        root_process=helper.build_and_link_processes([order, delivery]),
    )
