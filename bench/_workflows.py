"""The benchmark workflows, built on any engine (the worker's or a client's).

``three_step``: ``SendOrder`` (a command task) sends the order to the order topic; the
simulated service replies READY on the ready topic; ``AwaitReady`` (a listener task)
correlates on ``order_id``; ``Complete`` (an executor task) completes the instance.
``one_step``: the ``Complete`` executor task alone.

For the chaos suite the hooks leave evidence: ``AwaitReady`` counts the replies applied to
its instance in the runtime parameter ``ready_applied`` (a replayed event, run again from
the stored state, does not add one), and with ``BENCH_HOOK_LOG`` set each ``on_message``
and ``Complete.execute`` run appends a line ``<hook> <instance id> <pid>`` to that file
(at-least-once effects: a run repeated after a crash shows as a second line).
With ``BENCH_COMPLETE_SECONDS`` set, ``Complete.execute`` first awaits that long, as a
task calling a remote service does (``bench.io_hooks``).
"""

from __future__ import annotations

import asyncio
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

THREE_STEP = "three_step"
ONE_STEP = "one_step"
HOOK_LOG_ENV = "BENCH_HOOK_LOG"
"""Names the file each hook run is appended to (unset: none is written)."""
COMPLETE_SECONDS_ENV = "BENCH_COMPLETE_SECONDS"
"""How long ``Complete.execute`` awaits before it returns (unset: not at all)."""
APPLIED = "ready_applied"
"""The runtime parameter counting the READY replies applied to an instance."""


def log_hook(hook: str, instance_id: object) -> None:
    """Append ``<hook> <instance id> <pid>`` to the hook log, if one is named."""
    path = os.environ.get(HOOK_LOG_ENV)
    if path:
        # One O_APPEND write per line: whole lines even from processes killed mid-run.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, f"{hook} {instance_id} {os.getpid()}\n".encode())
        finally:
            os.close(descriptor)


class SendOrder(KafkaCommandTask[str, str]):
    """Sends the order to the simulated service."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        order_id = runtime_parameters["order_id"]
        await Dagger.app.topics[str(self.topic)].send(
            key=order_id,
            value={"order_id": order_id},
            headers={"message-id": f"order-{order_id}".encode()},
        )


class AwaitReady(KafkaListenerTask[str, str]):
    """Waits for the service's READY reply about the same ``order_id``."""

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[str, str]]:
        return [("order_id", payload["order_id"])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        log_hook("on_message", runtime_parameters.get("order_id"))
        runtime_parameters[APPLIED] = runtime_parameters.get(APPLIED, 0) + 1
        return bool(args[0]["status"] == "READY")


class Complete(ExecutorTask[str, str]):
    """Marks the order done."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
    ) -> None:
        log_hook("complete", runtime_parameters.get("order_id"))
        seconds = float(os.environ.get(COMPLETE_SECONDS_ENV) or 0)
        if seconds:
            await asyncio.sleep(seconds)
        runtime_parameters["done"] = True


def build_templates(app: Dagger, orders_topic: str, ready_topic: str) -> dict[str, ITemplateDAG]:
    """Build both benchmark templates on ``app``, by name (not registered)."""
    helper = DAGBuilderHelper(dagger_app=app)
    order = helper.generic_process_builder(
        process_name="order",
        root_task=helper.build_and_link_tasks(
            [
                helper.generic_command_task_builder(
                    topic=orders_topic, task_type=SendOrder, process_name="order"
                ),
                helper.generic_listener_task_builder(
                    topic=ready_topic,
                    task_type=AwaitReady,
                    process_name="order",
                    value_serializer="json",
                ),
                helper.generic_executor_task_builder(task_type=Complete, name="complete"),
            ]
        ),
    )
    single = helper.generic_process_builder(
        process_name="single",
        root_task=helper.build_and_link_tasks(
            [helper.generic_executor_task_builder(task_type=Complete, name="complete")]
        ),
    )
    return {
        THREE_STEP: helper.generic_template(
            template_name=THREE_STEP, root_process=helper.build_and_link_processes([order])
        ),
        ONE_STEP: helper.generic_template(
            template_name=ONE_STEP, root_process=helper.build_and_link_processes([single])
        ),
    }
