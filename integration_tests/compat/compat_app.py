"""A courier company's workflows, written against the original engine's API and style.

Everything here uses only what a program for wf-dagger 0.2.6 could use: a module-level
``Dagger(...)`` with the original's arguments, templates registered with decorators,
builders called step by step, faust agents on input topics that create and submit
instances, and ``workflow_engine.main()`` to run the worker. The test sets the
environment: broker (``host:port``, no scheme), web port, data directory and a suffix
that keeps this run's topics and consumer group apart from other tests'.

Three workflows:

- ``ConsignmentWorkflow``: billing (command, decision, listener that re-keys the
  consignment to its crate), a dynamic preparation process, a monitored dispatch process
  (command, interval, listener on the new key, trigger), parallel inspections, loading
  bays chosen per consignment, and a parallel departure task.
- ``CateringWorkflow``: the original README's pizza shape, built with DAGBuilderHelper.
- ``AdHocWatch``: built at runtime on a registered process template; one bulletin may
  close several watches, and a cancellation stops one.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from typing import Any

from faust import Topic

from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.modeler.definition import (
    DefaultTemplateBuilder,
    DynamicProcessTemplateDagBuilder,
    ParallelCompositeProcessTemplateDagBuilder,
    ProcessTemplateDagBuilder,
)
from dagger.service.engineconfig import AerospikeConfig
from dagger.service.services import Dagger
from dagger.tasks.task import (
    VT,
    DecisionTask,
    DefaultMonitoringTask,
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    ExecutorTask,
    IntervalTask,
    ITask,
    ITemplateDAGInstance,
    KafkaCommandTask,
    KafkaListenerTask,
    MonitoredProcessTemplateDAGInstance,
    MonitoringTask,
    ParallelCompositeTask,
    TaskLookupKey,
    TaskOperator,
    TriggerTask,
)
from dagger.templates.template import (
    DecisionTaskTemplateBuilder,
    DefaultTaskTemplateBuilder,
    IntervalTaskTemplateBuilder,
    IProcessTemplateDAG,
    IProcessTemplateDAGBuilder,
    ITemplateDAG,
    KafkaCommandTaskTemplateBuilder,
    KafkaListenerTaskTemplateBuilder,
    ParallelCompositeTaskTemplate,
    ParallelCompositeTaskTemplateBuilder,
    TriggerTaskTemplateBuilder,
)

logger = logging.getLogger(__name__)

SUFFIX = os.environ.get("COMPAT_SUFFIX", "local")


def topic_name(base: str) -> str:
    """This run's name for the topic ``base``."""
    return f"{base}-{SUFFIX}"


CONSIGNMENTS_TOPIC = topic_name("consignments")
MENU_ORDERS_TOPIC = topic_name("menu-orders")
WATCH_REQUESTS_TOPIC = topic_name("watch-requests")
WATCH_CANCELLATIONS_TOPIC = topic_name("watch-cancellations")
PROBE_TOPIC = topic_name("probe")
PROBE_REPLIES_TOPIC = topic_name("probe-replies")
BILLING_REQUESTS_TOPIC = topic_name("billing-requests")
BILLING_REPLIES_TOPIC = topic_name("billing-replies")
DISPATCH_NOTICES_TOPIC = topic_name("dispatch-notices")
CRATE_SCANS_TOPIC = topic_name("crate-scans")
CUSTOMS_TOPIC = topic_name("customs-clearances")
DOCK_SIGNALS_TOPIC = topic_name("dock-signals")
KITCHEN_TICKETS_TOPIC = topic_name("kitchen-tickets")
KITCHEN_READY_TOPIC = topic_name("kitchen-ready")
BULLETINS_TOPIC = topic_name("bulletins")
TASKS_TOPIC = topic_name("courier-tasks")
UPDATES_TOPIC = topic_name("courier-updates")

# Ignored by the rocksdb store, but a program written for the original passes it anyway.
aerospike_config = AerospikeConfig(
    HOSTS=[(os.environ.get("AEROSPIKE_HOST", "127.0.0.1"), 3000)],
    POLICIES={"key": 1},  # aerospike.POLICY_KEY_SEND
    NAMESPACE="courier",
    USERNAME="",
    PASSWORD="",
    TTL=-1,
    KWARGS=None,
)

workflow_engine = Dagger(
    broker=os.environ.get("COMPAT_BROKER", "127.0.0.1:9092"),
    datadir=os.environ.get("COMPAT_DATADIR", "/tmp/courier-data/"),
    store="rocksdb://",
    application_name=f"courier-{SUFFIX}",
    tasks_topic=TASKS_TOPIC,
    bootstrap_topic=topic_name("courier-bootstrap"),
    consumer_auto_offset_reset="latest",
    task_update_topic=UPDATES_TOPIC,
    trigger_interval=int(os.environ.get("COMPAT_TRIGGER_INTERVAL", "5")),
    aerospike_config=aerospike_config,
    enable_changelog=False,
    web_port=int(os.environ.get("COMPAT_WEB_PORT", "6066")),
    serializer="raw",
)

consignment_requests = workflow_engine.faust_app.topic(CONSIGNMENTS_TOPIC, value_type=str)
menu_orders = workflow_engine.faust_app.topic(MENU_ORDERS_TOPIC, value_type=str)
watch_requests = workflow_engine.faust_app.topic(WATCH_REQUESTS_TOPIC, value_type=str)
watch_cancellations = workflow_engine.faust_app.topic(WATCH_CANCELLATIONS_TOPIC, value_type=str)
probes = workflow_engine.faust_app.topic(PROBE_TOPIC, value_type=str)
probe_replies = workflow_engine.faust_app.topic(PROBE_REPLIES_TOPIC, value_type=str)

# watch id -> workflow instance id, kept by the agent that opens watches.
open_watches: dict[str, str] = {}


# -- consignment: billing ------------------------------------------------------------------
class RequestInvoice(KafkaCommandTask[str, str]):
    """Asks the billing service for an invoice, as a JSON text."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        request = {
            "consignment_id": runtime_parameters["consignment_id"],
            "amount": runtime_parameters["amount"],
        }
        await workflow_engine.topics[self.topic].send(value=json.dumps(request))


class ChooseBillingPath(DecisionTask[str, str]):
    """Waits for the billing reply when there is something to pay."""

    async def evaluate(self, **kwargs: Any) -> Any:
        if kwargs["amount"] > 0:
            for task_id in self.next_dags:
                return task_id
        return None


class InvoiceReplyListener(KafkaListenerTask[str, str]):
    """The billing reply; it names the crate the consignment travels in from now on.

    It implements only the older single-key hook, ``get_correlatable_key``.
    """

    correlatable_key = "consignment_id"

    def get_correlatable_key(self, payload: Any) -> TaskLookupKey:
        reply = json.loads(payload)
        return self.correlatable_key, reply[self.correlatable_key]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        reply = json.loads(args[0])
        runtime_parameters["invoice_no"] = reply["invoice_no"]
        # The dispatch listener correlates on crate_id: this re-keys the consignment.
        runtime_parameters["crate_id"] = reply["crate_id"]
        return True

    async def stop(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        logger.info("billing wait of %s stopped", runtime_parameters.get("consignment_id"))


# -- consignment: preparation (dynamic) ----------------------------------------------------
class StampPreparation(ExecutorTask[str, str]):
    """Records which preparation process ran, in order."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters.setdefault("prepared", []).append(self.process_name)


# -- consignment: dispatch (monitored) -----------------------------------------------------
class NotifyCarrier(KafkaCommandTask[str, str]):
    """Tells the carrier which crate to collect."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        notice = {
            "consignment_id": runtime_parameters["consignment_id"],
            "crate_id": runtime_parameters["crate_id"],
        }
        await workflow_engine.topics[self.topic].send(value=json.dumps(notice))


class AwaitCarrierSlot(IntervalTask[str, str]):
    """Checks for a carrier slot every ``poll_every`` seconds: free on the second check."""

    async def interval_execute(self, runtime_parameters: dict[str, Any]) -> bool:
        runtime_parameters["slot_checks"] = runtime_parameters.get("slot_checks", 0) + 1
        return runtime_parameters["slot_checks"] >= 2

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters["slot_booked"] = True


class CrateScanListener(KafkaListenerTask[str, str]):
    """The dock scanner's report, keyed by the crate the billing reply assigned."""

    correlatable_key = "crate_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[TaskLookupKey]:
        scan = json.loads(payload)
        return [(self.correlatable_key, scan[self.correlatable_key])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["scanned_at"] = json.loads(args[0])["dock"]
        return True


class ReleaseCrate(TriggerTask[str, str]):
    """Releases the crate at ``release_after``; notes the dispatch process's monitor."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters["released_at"] = time.time()
        dispatch = workflow_instance.get_task(id=self.parent_id)
        monitor = await workflow_engine.get_monitoring_task(dispatch, workflow_instance)
        runtime_parameters["dispatch_monitor"] = monitor.id if monitor else None


class FlagLateDispatch(DefaultMonitoringTask):
    """Called when the dispatch process is still going at ``complete_by_time``."""

    async def process_monitored_task(self, monitored_task: ITask, workflow_instance: ITask) -> None:
        logger.info("dispatch %s is late", self.monitored_task_id)
        workflow_instance.runtime_parameters.setdefault("late", []).append(
            {"process": monitored_task.process_name, "monitored": self.monitored_task_id}
        )


class WatchedDispatchProcess(MonitoredProcessTemplateDAGInstance):
    """The dispatch process, watched by :class:`FlagLateDispatch`."""

    async def execute(self, runtime_parameters: dict[str, Any], workflow_instance: ITask) -> None:
        # The original calls a process's execute as the process starts.
        logger.info("dispatch process %s starts", self.id)
        runtime_parameters["dispatch_opened"] = self.id
        await super().execute(
            runtime_parameters=runtime_parameters, workflow_instance=workflow_instance
        )

    def get_monitoring_task_type(self) -> type[MonitoringTask]:
        return FlagLateDispatch


# -- consignment: inspections, loading and departure ---------------------------------------
class CustomsListener(KafkaListenerTask[str, str]):
    """Customs' clearance of a consignment."""

    correlatable_key = "consignment_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[TaskLookupKey]:
        clearance = json.loads(payload)
        return [(self.correlatable_key, clearance[self.correlatable_key])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["customs"] = json.loads(args[0])["verdict"]
        return True


class WeighConsignment(ExecutorTask[str, str]):
    """Weighs the consignment (two and a half kilos a parcel)."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters["weight_kg"] = runtime_parameters["parcels"] * 2.5


class LoadBay(ExecutorTask[str, str]):
    """Loads one bay."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters["bays_loaded"] = runtime_parameters.get("bays_loaded", 0) + 1


class SignOffDeparture(ExecutorTask[str, str]):
    """A dock supervisor signs the departure off."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters["sign_offs"] = runtime_parameters.get("sign_offs", 0) + 1


class DockSignalListener(KafkaListenerTask[str, str]):
    """A signal from the dock; the departure needs it or a sign-off, whichever comes first."""

    correlatable_key = "consignment_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[TaskLookupKey]:
        return [(self.correlatable_key, json.loads(payload)[self.correlatable_key])]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["dock_signal"] = True
        return True


stamp_builder = DefaultTaskTemplateBuilder(Dagger.app)
stamp_builder.set_name("stamp_preparation")
stamp_builder.set_type(StampPreparation)
stamp_template = stamp_builder.build()

load_bay_builder = DefaultTaskTemplateBuilder(Dagger.app)
load_bay_builder.set_name("load_bay")
load_bay_builder.set_type(LoadBay)
load_bay_template = load_bay_builder.build()


def preparation_process(name: str) -> ProcessTemplateDagBuilder:
    """A preparation step, chosen per consignment for the dynamic PREPARATION process."""
    builder = ProcessTemplateDagBuilder(Dagger.app)
    builder.set_name(name)
    builder.set_root_task(stamp_template)
    builder.set_type(DefaultProcessTemplateDAGInstance)
    return builder


def loading_bay_process() -> ProcessTemplateDagBuilder:
    """One loading bay; a consignment runs as many side by side as it asks for."""
    builder = ProcessTemplateDagBuilder(Dagger.app)
    builder.set_name("LOAD_BAY")
    builder.set_root_task(load_bay_template)
    builder.set_type(DefaultProcessTemplateDAGInstance)
    return builder


def departure_template() -> ParallelCompositeTaskTemplate:
    """Three sign-offs and the dock signal side by side; the first one done suffices."""
    sign_off_builder = DefaultTaskTemplateBuilder(Dagger.app)
    sign_off_builder.set_name("sign_off")
    sign_off_builder.set_type(SignOffDeparture)
    sign_off = sign_off_builder.build()

    dock_builder = KafkaListenerTaskTemplateBuilder(Dagger.app)
    dock_builder.set_topic(
        Dagger.create_topic(DOCK_SIGNALS_TOPIC, key_type=bytes, value_type=bytes)
    )
    dock_builder.set_type(DockSignalListener)
    dock_builder.set_name("dock_signal")
    dock_signal = dock_builder.build()

    departure = ParallelCompositeTaskTemplateBuilder(Dagger.app, 2, sign_off)
    departure.set_name("DEPARTURE")
    departure.add_parallel_task(sign_off)
    departure.add_parallel_task(dock_signal)
    departure.set_type(ParallelCompositeTask)
    departure.set_task_operator(TaskOperator.ATLEAST_ONE)
    return departure.build()


def inspection_processes() -> ParallelCompositeProcessTemplateDagBuilder:
    """Customs and weighing side by side; both must finish."""
    customs_builder = KafkaListenerTaskTemplateBuilder(Dagger.app)
    customs_builder.set_topic(Dagger.create_topic(CUSTOMS_TOPIC, key_type=bytes, value_type=bytes))
    customs_builder.set_type(CustomsListener)
    customs_builder.set_name("customs_clearance")
    customs_process = ProcessTemplateDagBuilder(Dagger.app)
    customs_process.set_name("CUSTOMS")
    customs_process.set_root_task(customs_builder.build())
    customs_process.set_type(DefaultProcessTemplateDAGInstance)

    weigh_builder = DefaultTaskTemplateBuilder(Dagger.app)
    weigh_builder.set_name("weigh")
    weigh_builder.set_type(WeighConsignment)
    weighing_process = ProcessTemplateDagBuilder(Dagger.app)
    weighing_process.set_name("WEIGHING")
    weighing_process.set_root_task(weigh_builder.build())
    weighing_process.set_type(DefaultProcessTemplateDAGInstance)

    inspections = ParallelCompositeProcessTemplateDagBuilder(Dagger.app)
    inspections.set_name("INSPECTIONS")
    inspections.set_parallel_operator_type(TaskOperator.JOIN_ALL)
    inspections.set_type(ParallelCompositeTask)
    # The original adds one parallel process per call.
    inspections.set_parallel_process_templates(customs_process.build())
    inspections.set_parallel_process_templates(weighing_process.build())
    return inspections


def dispatch_process() -> ProcessTemplateDagBuilder:
    """Notify the carrier, wait for a slot, wait for the crate's scan, release it."""
    release_builder = TriggerTaskTemplateBuilder(Dagger.app)
    release_builder.set_time_to_execute_lookup_key("release_after")
    release_builder.set_type(ReleaseCrate)
    release_builder.set_name("release_crate")
    release = release_builder.build()

    scan_builder = KafkaListenerTaskTemplateBuilder(Dagger.app)
    scan_builder.set_topic(Dagger.create_topic(CRATE_SCANS_TOPIC, key_type=bytes, value_type=bytes))
    scan_builder.set_type(CrateScanListener)
    scan_builder.set_name("crate_scan")
    scan_builder.set_next(release)
    scan = scan_builder.build()

    slot_builder = IntervalTaskTemplateBuilder(Dagger.app)
    slot_builder.set_time_to_force_complete_lookup_key("give_up_at")
    slot_builder.set_interval_execute_period_lookup_key("poll_every")
    slot_builder.set_next(scan)
    slot_builder.set_type(AwaitCarrierSlot)
    slot_builder.set_name("carrier_slot")
    slot = slot_builder.build()

    notify_builder = KafkaCommandTaskTemplateBuilder(Dagger.app)
    notify_builder.set_topic(
        Dagger.create_topic(DISPATCH_NOTICES_TOPIC, key_type=bytes, value_type=str)
    )
    notify_builder.set_next(slot)
    notify_builder.set_type(NotifyCarrier)
    notify_builder.set_name("notify_carrier")

    dispatch = ProcessTemplateDagBuilder(Dagger.app)
    dispatch.set_name("DISPATCH")
    dispatch.set_root_task(notify_builder.build())
    dispatch.set_type(WatchedDispatchProcess)
    return dispatch


def billing_process() -> ProcessTemplateDagBuilder:
    """Request an invoice, decide to wait for it, wait for the reply."""
    reply_builder = KafkaListenerTaskTemplateBuilder(Dagger.app)
    reply_builder.set_topic(
        Dagger.create_topic(BILLING_REPLIES_TOPIC, key_type=bytes, value_type=bytes)
    )
    reply_builder.set_type(InvoiceReplyListener)
    reply_builder.set_name("invoice_reply")
    reply = reply_builder.build()

    decision_builder = DecisionTaskTemplateBuilder(Dagger.app)
    decision_builder.set_type(ChooseBillingPath)
    decision_builder.set_name("billing_path")
    decision_builder.set_next(reply)
    decision = decision_builder.build()

    request_builder = KafkaCommandTaskTemplateBuilder(Dagger.app)
    request_builder.set_topic(
        Dagger.create_topic(BILLING_REQUESTS_TOPIC, key_type=bytes, value_type=str)
    )
    request_builder.set_type(RequestInvoice)
    request_builder.set_name("request_invoice")
    request_builder.set_next(decision)

    billing = ProcessTemplateDagBuilder(Dagger.app)
    billing.set_name("BILLING")
    billing.set_root_task(request_builder.build())
    billing.set_type(DefaultProcessTemplateDAGInstance)
    return billing


@Dagger.register_template("ConsignmentWorkflow")
def register_consignment_workflow(template_name: str) -> ITemplateDAG:
    # Built back to front: each process is built after the one that follows it.
    loading = ParallelCompositeProcessTemplateDagBuilder(Dagger.app)
    loading.set_name("LOADING")
    loading.set_parallel_operator_type(TaskOperator.JOIN_ALL)
    loading.set_type(ParallelCompositeTask)
    loading.set_next_process(departure_template())
    loading_template = loading.build()  # no bays yet: each consignment chooses its own

    inspections = inspection_processes()
    inspections.set_next_process(loading_template)

    dispatch = dispatch_process()
    dispatch.set_next_process(inspections.build())

    preparation = DynamicProcessTemplateDagBuilder(Dagger.app)
    preparation.set_name("PREPARATION")
    preparation.set_next_process(dispatch.build())

    billing = billing_process()
    billing.set_next_process(preparation.build())

    template_builder = DefaultTemplateBuilder(Dagger.app)
    template_builder.set_name(template_name)
    template_builder.set_type(DefaultTemplateDAGInstance)
    template_builder.set_root(billing.build())
    return template_builder.build()


# -- catering: the README's shape -----------------------------------------------------------
class KitchenTicketCommand(KafkaCommandTask[str, str]):
    """Sends the dish to the kitchen."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITemplateDAGInstance
    ) -> None:
        ticket = {
            "order_ref": runtime_parameters["order_ref"],
            "guest": runtime_parameters["guest"],
            "dish": runtime_parameters["dish"],
        }
        await workflow_engine.topics[self.topic].send(value=json.dumps(ticket))


class KitchenReadyListener(KafkaListenerTask[str, str]):
    """The kitchen's word that the dish is ready."""

    correlatable_key = "order_ref"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[TaskLookupKey]:
        status = json.loads(payload)
        return [(self.correlatable_key, status[self.correlatable_key])]

    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["kitchen_status"] = json.loads(args[0])["status"]
        return True


class BookCourier(ExecutorTask[str, str]):
    """Books the courier for the guest."""

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        runtime_parameters["courier"] = f"bike-for-{runtime_parameters['guest']}"


def kitchen_process(process_name: str = "Kitchen") -> IProcessTemplateDAGBuilder:
    helper = DAGBuilderHelper(dagger_app=workflow_engine)
    first_task = helper.build_and_link_tasks(
        [
            helper.generic_command_task_builder(
                topic=KITCHEN_TICKETS_TOPIC,
                task_type=KitchenTicketCommand,
                process_name=process_name,
            ),
            helper.generic_listener_task_builder(
                topic=KITCHEN_READY_TOPIC,
                task_type=KitchenReadyListener,
                process_name=process_name,
            ),
        ]
    )
    return helper.generic_process_builder(process_name=process_name, root_task=first_task)


def courier_process(process_name: str = "Courier") -> IProcessTemplateDAGBuilder:
    helper = DAGBuilderHelper(dagger_app=workflow_engine)
    first_task = helper.build_and_link_tasks(
        [helper.generic_executor_task_builder(task_type=BookCourier, name=process_name)]
    )
    return helper.generic_process_builder(process_name=process_name, root_task=first_task)


@Dagger.register_template("CateringWorkflow")
def register_catering_workflow(template_name: str) -> ITemplateDAG:
    helper = DAGBuilderHelper(workflow_engine)
    first_process = helper.build_and_link_processes(
        [kitchen_process(process_name="Kitchen"), courier_process(process_name="Courier")]
    )
    return helper.generic_template(template_name=template_name, root_process=first_process)


# -- watches: a registered process, templates made at runtime -------------------------------
class BulletinListener(KafkaListenerTask[str, str]):
    """A bulletin lists every watch it answers: one message may close several watches."""

    correlatable_key = "watch_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[TaskLookupKey]:
        bulletin = json.loads(payload)
        return [(self.correlatable_key, watch_id) for watch_id in bulletin["watch_ids"]]

    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["headline"] = json.loads(args[0])["headline"]
        return True

    async def stop(
        self, runtime_parameters: dict[str, Any], workflow_instance: ITask = None
    ) -> None:
        logger.info("watch %s cancelled", runtime_parameters.get("watch_id"))
        runtime_parameters["closed_by"] = "cancellation"


@Dagger.register_process_template("BulletinWatch")
def register_bulletin_watch(process_name: str) -> IProcessTemplateDAG:
    bulletins: Topic = Dagger.create_topic(BULLETINS_TOPIC, key_type=bytes, value_type=bytes)
    listener_builder = KafkaListenerTaskTemplateBuilder(Dagger.app)
    listener_builder.set_topic(bulletins)
    listener_builder.set_type(BulletinListener)
    listener_builder.set_name("bulletin")

    process_builder = ProcessTemplateDagBuilder(Dagger.app)
    process_builder.set_name(process_name)
    process_builder.set_root_task(listener_builder.build())
    process_builder.set_type(DefaultProcessTemplateDAGInstance)
    return process_builder.build()


# -- agents on the input topics ----------------------------------------------------------------
@workflow_engine.faust_app.agent(consignment_requests)
async def take_consignments(stream: Any) -> None:
    async for value in stream:
        order = json.loads(value)
        template = workflow_engine.template_dags["ConsignmentWorkflow"]
        template.set_dynamic_builders_for_process_template(
            "PREPARATION", [preparation_process("PACK"), preparation_process("LABEL")]
        )
        template.set_given_num_of_parallel_processes_for_a_composite_process(
            order["bays"], "LOADING", loading_bay_process()
        )
        now = time.time()
        seed = random.Random(order["consignment_id"])
        instance = await template.create_instance(
            uuid.UUID(int=seed.getrandbits(128)),
            partition_key_lookup="consignment_id",
            repartition=False,
            seed=seed,
            consignment_id=order["consignment_id"],
            amount=order["amount"],
            parcels=order["parcels"],
            crate_id="unassigned-" + order["consignment_id"],
            poll_every=1,
            give_up_at=int(now) + 300,
            release_after=int(now) + 2,
            # Due a second after creation; the test sends the crate scan only once the
            # monitor has fired, so the dispatch process is always late.
            complete_by_time=int(now) + 1,
        )
        await workflow_engine.submit(instance, repartition=False)


async def create_and_submit_catering_workflow(order_ref: str, guest: str, dish: str) -> None:
    template = workflow_engine.template_dags["CateringWorkflow"]
    instance = await template.create_instance(
        uuid.uuid1(),
        repartition=False,  # on this worker
        order_ref=order_ref,
        guest=guest,
        dish=dish,
    )
    await workflow_engine.submit(instance, repartition=False)


@workflow_engine.faust_app.agent(menu_orders)
async def take_menu_orders(stream: Any) -> None:
    async for value in stream:
        await create_and_submit_catering_workflow(**json.loads(value))


@workflow_engine.faust_app.agent(watch_requests)
async def open_watch(stream: Any) -> None:
    async for value in stream:
        watch_id = json.loads(value)
        template_builder = DefaultTemplateBuilder(Dagger.app)
        template_builder.set_name("AdHocWatch")
        template_builder.set_type(DefaultTemplateDAGInstance)
        template_builder.set_root(workflow_engine.process_templates["BulletinWatch"])
        template = template_builder.build()
        instance = await template.create_instance(
            uuid.uuid1(),
            partition_key_lookup="watch_id",
            repartition=False,
            submit_task=True,
            watch_id=watch_id,
        )
        open_watches[watch_id] = instance.id


@workflow_engine.faust_app.agent(watch_cancellations)
async def cancel_watch(stream: Any) -> None:
    async for value in stream:
        instance = await workflow_engine.get_instance(open_watches[json.loads(value)])
        await instance.stop(
            runtime_parameters=instance.runtime_parameters, workflow_instance=instance
        )


@workflow_engine.faust_app.agent(probes)
async def answer_probe(stream: Any) -> None:
    # With consumer_auto_offset_reset="latest" an input sent before the consumer has its
    # positions is skipped; an answered probe tells the test the inputs are being read.
    async for value in stream:
        await probe_replies.send(value=value)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s"
    )
    workflow_engine.main()
