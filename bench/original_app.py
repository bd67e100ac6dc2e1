"""The original engine's own workload, as a program written for wf-dagger 0.2.6.

Used by ``bench.original_workload``, which runs this same file unchanged on both engines:
with the original installed in a virtual environment of its own (``dagger`` there is
wf-dagger 0.2.6) and with ours. It uses only what a program for the original could use,
written the way its users wrote them:

- a module-level ``Dagger(...)`` with the original's arguments and the faust settings its
  users pass (``consumer_auto_offset_reset``, ``topic_partitions``, ``web_port``, ...);
- a template registered with ``@Dagger.register_template``, built with the builders;
- an app agent on an input topic that calls ``create_instance(uuid1(),
  partition_key_lookup="order_id", repartition=False, submit_task=True, order_id=...)``
  for each input message;
- three tasks: a command sends ``{"order_id"}`` to the orders topic; a listener on the
  ready topic correlates on ``order_id`` (``json.loads`` of the raw payload); an executor
  sends ``{"order_id"}`` to the done topic;
- ``workflow_engine.main()`` runs the worker: ``python bench/original_app.py worker``.

The driver passes names, the broker, the partition count and the data directory in the
environment (``ORIGINAL_BENCH_*``), so each run has its own topics, group and store.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from dagger.modeler.definition import DefaultTemplateBuilder, ProcessTemplateDagBuilder
from dagger.service.services import Dagger
from dagger.tasks.task import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    ExecutorTask,
    ITemplateDAGInstance,
    KafkaCommandTask,
    KafkaListenerTask,
    TaskLookupKey,
)
from dagger.templates.template import (
    DefaultTaskTemplateBuilder,
    ITemplateDAG,
    KafkaCommandTaskTemplateBuilder,
    KafkaListenerTaskTemplateBuilder,
)

logger = logging.getLogger(__name__)

RUN = os.environ.get("ORIGINAL_BENCH_RUN", "local")
PARTITIONS = int(os.environ.get("ORIGINAL_BENCH_PARTITIONS", "1"))
INPUT_TOPIC = f"{RUN}_input"
ORDERS_TOPIC = f"{RUN}_orders"
READY_TOPIC = f"{RUN}_ready"
DONE_TOPIC = f"{RUN}_done"

workflow_engine = Dagger(
    broker=os.environ.get("ORIGINAL_BENCH_BROKER", "kafka://127.0.0.1:9092"),
    datadir=os.environ.get("ORIGINAL_BENCH_DATADIR", "/tmp/original-bench-data/"),
    store="rocksdb://",
    application_name=f"orders-{RUN}",
    kafka_partitions=PARTITIONS,
    task_update_topic=None,
    tasks_topic=f"{RUN}_tasks",
    bootstrap_topic=f"{RUN}_bootstrap",
    consumer_auto_offset_reset="earliest",
    topic_partitions=PARTITIONS,
    web_port=int(os.environ.get("ORIGINAL_BENCH_WEB_PORT", "6066")),
    web_bind="127.0.0.1",
)

order_requests = workflow_engine.faust_app.topic(INPUT_TOPIC, value_type=str)


class SendOrder(KafkaCommandTask[str, str]):
    """Asks the order service to prepare the order."""

    async def execute(
        self, runtime_parameters: dict[str, str], workflow_instance: ITemplateDAGInstance = None
    ) -> None:
        order_id = runtime_parameters["order_id"]
        await workflow_engine.topics[self.topic].send(
            key=order_id, value=json.dumps({"order_id": order_id})
        )


class AwaitReady(KafkaListenerTask[str, str]):
    """Waits for the order service's READY reply about the same order."""

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[TaskLookupKey]:
        return [(self.correlatable_key, json.loads(payload)[self.correlatable_key])]

    async def on_message(
        self, runtime_parameters: dict[str, str], *args: Any, **kwargs: Any
    ) -> bool:
        return bool(json.loads(args[0])["status"] == "READY")


class ReportDone(ExecutorTask[str, str]):
    """Tells the world the order is done."""

    async def execute(
        self, runtime_parameters: dict[str, str], workflow_instance: ITemplateDAGInstance = None
    ) -> None:
        order_id = runtime_parameters["order_id"]
        await workflow_engine.topics[DONE_TOPIC].send(
            key=order_id, value=json.dumps({"order_id": order_id})
        )


@Dagger.register_template("OrderWorkflow")
def order_workflow(template_name: str) -> ITemplateDAG:
    done_builder = DefaultTaskTemplateBuilder(Dagger.app)
    done_builder.set_name("REPORT_DONE")
    done_builder.set_type(ReportDone)

    ready_builder = KafkaListenerTaskTemplateBuilder(Dagger.app)
    ready_builder.set_name("AWAIT_READY")
    ready_builder.set_type(AwaitReady)
    ready_builder.set_topic(Dagger.create_topic(READY_TOPIC, key_type=bytes, value_type=bytes))
    ready_builder.set_next(done_builder.build())

    order_builder = KafkaCommandTaskTemplateBuilder(Dagger.app)
    order_builder.set_name("SEND_ORDER")
    order_builder.set_type(SendOrder)
    order_builder.set_topic(Dagger.create_topic(ORDERS_TOPIC, key_type=str, value_type=str))
    order_builder.set_next(ready_builder.build())

    process_builder = ProcessTemplateDagBuilder(Dagger.app)
    process_builder.set_name("ORDER")
    process_builder.set_root_task(order_builder.build())
    process_builder.set_type(DefaultProcessTemplateDAGInstance)

    template_builder = DefaultTemplateBuilder(Dagger.app)
    template_builder.set_name(template_name)
    template_builder.set_type(DefaultTemplateDAGInstance)
    template_builder.set_root(process_builder.build())
    return template_builder.build()


# The done topic, declared the way the original's users declared the topics they send to.
done_topic = Dagger.create_topic(DONE_TOPIC, key_type=str, value_type=str)


@workflow_engine.faust_app.agent(order_requests)
async def take_orders(stream: Any) -> None:
    async for value in stream:
        order_id = json.loads(value)["order_id"]
        template = workflow_engine.template_dags["OrderWorkflow"]
        await template.create_instance(
            uuid.uuid1(),
            partition_key_lookup="order_id",
            repartition=False,
            submit_task=True,
            order_id=order_id,
        )


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s - %(message)s"
    )
    workflow_engine.main()
