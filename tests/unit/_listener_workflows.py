"""Command and listener task classes and templates shared by the correlation unit tests.

The order workflow is one process ``ORDER``: ``prepare`` (executor) -> the command task
(records the command it would send in ``runtime_parameters['commands']``) -> the
listener (waits for ``{"order_id": ..., "status": "READY"}`` on its topic) -> ``finish``
(executor). Nothing here talks to Kafka.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
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
from dagger.templates.template import (
    IProcessTemplateDAGBuilder,
    ITemplateDAG,
    TaskTemplateBuilder,
)
from tests.unit._workflows import OFFLINE_BROKER

PROCESS = "ORDER"
COMMAND = f"{PROCESS}_command_task"
LISTENER = f"{PROCESS}_listener_task"
PREPARE = "prepare_executor_task"
FINISH = "finish_executor_task"


def unique(prefix: str) -> str:
    """Return a topic (or template) name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_engine(**settings: Any) -> Dagger:
    """Return an engine on an unused broker URL, as tests/unit/conftest.py builds them."""
    return Dagger(broker=OFFLINE_BROKER, store="memory://", **settings)


class Prepare(ExecutorTask[str, Any]):
    """Marks that it ran."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["prepared"] = True


class Finish(ExecutorTask[str, Any]):
    """Marks that the workflow got past the listener."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters["finished"] = True


class ForgetOrderId(ExecutorTask[str, Any]):
    """Removes the parameter the listener correlates on."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.pop("order_id", None)


class ExplodingTask(ExecutorTask[str, Any]):
    """Raises ``RuntimeError('boom')``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        raise RuntimeError("boom")


class OrderCommand(KafkaCommandTask[str, Any]):
    """Records the command it would send instead of sending it."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        runtime_parameters.setdefault("commands", []).append(
            {"topic": self.topic, "order_id": runtime_parameters["order_id"]}
        )


class OrderStatusListener(KafkaListenerTask[str, Any]):
    """Completes on ``status == "READY"`` for its ``order_id``.

    Every status seen is appended to ``runtime_parameters['statuses']`` and the last one
    is ``runtime_parameters['status']``; a ``new_order_id`` in the message re-keys the
    listener; status ``EXPLODE`` raises after changing the parameters.
    """

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        payload = args[0]
        status = payload["status"]
        runtime_parameters["status"] = status
        runtime_parameters.setdefault("statuses", []).append(status)
        if status == "EXPLODE":
            raise RuntimeError(f"cannot handle {payload['order_id']}")
        if "new_order_id" in payload:
            runtime_parameters["order_id"] = payload["new_order_id"]
        return bool(status == "READY")


class FirstComerListener(OrderStatusListener):
    """Each message goes to one waiting listener only."""

    match_only_one = True


class PaymentListener(KafkaListenerTask[str, Any]):
    """Waits for ``{"order_id": ..., "paid": true}``."""

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, Any]]:
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["paid"] = bool(args[0].get("paid"))
        return bool(args[0].get("paid"))


def order_template(
    engine: Dagger,
    *,
    status_topic: str,
    command_topic: str | None = None,
    name: str | None = None,
    listener: type[KafkaListenerTask[Any, Any]] = OrderStatusListener,
    allow_skip_to: bool = False,
    reprocess_on_message: bool = False,
    before_listener: Sequence[tuple[str, type[ExecutorTask[Any, Any]]]] = (),
    after_listener: Sequence[tuple[str, type[ExecutorTask[Any, Any]]]] = (("finish", Finish),),
    payment_topic: str | None = None,
    payment_after: str | None = None,
) -> ITemplateDAG:
    """Build the order workflow.

    ``payment_topic`` puts a ``PAYMENT`` process with a :class:`PaymentListener` before
    ``ORDER``, so the order listener is NOT_STARTED while the payment is awaited;
    ``payment_after`` puts it after ``ORDER``, so the instance runs on after the order
    listener completed. ``before_listener``/``after_listener`` are executors around the
    listener.
    """
    helper = DAGBuilderHelper(dagger_app=engine)
    tasks: list[TaskTemplateBuilder] = [
        helper.generic_executor_task_builder(task_type=Prepare, name="prepare"),
        helper.generic_command_task_builder(
            topic=command_topic or unique("commands"), task_type=OrderCommand, process_name=PROCESS
        ),
        *(
            helper.generic_executor_task_builder(task_type=task_type, name=task_name)
            for task_name, task_type in before_listener
        ),
        helper.generic_listener_task_builder(
            topic=status_topic,
            task_type=listener,
            process_name=PROCESS,
            allow_skip_to=allow_skip_to,
            reprocess_on_message=reprocess_on_message,
            value_serializer="json",
        ),
        *(
            helper.generic_executor_task_builder(task_type=task_type, name=task_name)
            for task_name, task_type in after_listener
        ),
    ]

    def payment(topic: str) -> IProcessTemplateDAGBuilder:
        listener_builder = helper.generic_listener_task_builder(
            topic=topic, task_type=PaymentListener, process_name="PAYMENT", value_serializer="json"
        )
        return helper.generic_process_builder(
            process_name="PAYMENT", root_task=helper.build_and_link_tasks([listener_builder])
        )

    processes = [] if payment_topic is None else [payment(payment_topic)]
    processes.append(
        helper.generic_process_builder(
            process_name=PROCESS, root_task=helper.build_and_link_tasks(tasks)
        )
    )
    if payment_after is not None:
        processes.append(payment(payment_after))
    return helper.generic_template(
        template_name=name or unique("orders"),
        root_process=helper.build_and_link_processes(processes),
    )


def index_entries(index: Mapping[bytes, bytes]) -> dict[bytes, list[Any]]:
    """The index records that hold waiting listeners, with their entries.

    A key's head record may hold no entry and only remember the messages it delivered
    (for ``early_message_window``, see ``dagger.runtime._keys_owner``): left out here.
    """
    entries = {key: json.loads(raw)["l"] for key, raw in index.items()}
    return {key: listeners for key, listeners in entries.items() if listeners}
