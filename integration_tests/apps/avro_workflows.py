"""An Avro order workflow: a command on an Avro topic, a listener for an Avro reply.

``avro_order``: ``PlaceOrder`` sends ``{"order_id", "quantity"}`` (schema ``ORDER``,
key schema ``"string"``) on the commands topic; ``OrderStatusListener`` waits on the
replies topic (schema ``STATUS``) for a READY status of the same ``order_id``; then
``Finish`` runs. The engine must be configured with ``schema_registry_url``.
"""

from __future__ import annotations

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

ORDER: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "quantity", "type": "int"},
    ],
}
STATUS: dict[str, Any] = {
    "type": "record",
    "name": "OrderStatus",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {
            "name": "status",
            "type": {"type": "enum", "name": "State", "symbols": ["COOKING", "READY"]},
        },
    ],
}


class PlaceOrder(KafkaCommandTask[str, Any]):
    """Sends the order as an Avro record keyed by its Avro-encoded order id."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        order_id = runtime_parameters["order_id"]
        await Dagger.app.topics[str(self.topic)].send(
            key=order_id,
            value={"order_id": order_id, "quantity": int(runtime_parameters["quantity"])},
        )


class OrderStatusListener(KafkaListenerTask[str, Any]):
    """Waits for READY; the payload it sees is the decoded Avro record."""

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        status = args[0]["status"]
        runtime_parameters.setdefault("statuses", []).append(status)
        return bool(status == "READY")


class Finish(ExecutorTask[str, Any]):
    """Marks the end of the workflow."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        runtime_parameters["finished"] = True


def build_avro_template(app: Dagger, commands_topic: str, replies_topic: str) -> ITemplateDAG:
    """Build ``avro_order`` on ``app``: Avro commands on one topic, Avro replies on the other."""
    helper = DAGBuilderHelper(dagger_app=app)
    tasks = helper.build_and_link_tasks(
        [
            helper.generic_command_task_builder(
                topic=commands_topic,
                task_type=PlaceOrder,
                process_name="ORDER",
                key_schema="string",
                value_schema=ORDER,
            ),
            helper.generic_listener_task_builder(
                topic=replies_topic,
                task_type=OrderStatusListener,
                process_name="ORDER",
                value_schema=STATUS,
            ),
            helper.generic_executor_task_builder(task_type=Finish, name="finish"),
        ]
    )
    process = helper.generic_process_builder(process_name="ORDER", root_task=tasks)
    return helper.generic_template(
        template_name="avro_order", root_process=helper.build_and_link_processes([process])
    )
