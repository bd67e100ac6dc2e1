"""A program written for the original engine runs unchanged: the courier app end to end.

The app (:mod:`integration_tests.compat.compat_app`) runs as ``python -m <module> worker``
through ``workflow_engine.main()``, on the session's embedded broker. The test plays the
services around it the way they would talk to a program written for the original: raw
JSON bytes on the listener topics and the input topics, command messages read off their
topics, state read from the worker's ``GET /tasks/instances`` and from the task update
topic with ``ITemplateDAGInstance.from_data(jsonpickle.decode(value))``.

Each workflow is driven once by a module fixture; the tests then check one feature each.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import jsonpickle
import pytest
from aiokafka import AIOKafkaConsumer

from dagger.tasks.task import ITemplateDAGInstance, TaskStatusEnum
from dagger.testing import EmbeddedBroker
from integration_tests._harness import (
    REPO_ROOT,
    free_port,
    read_topic,
    send_messages,
    terminate,
)

pytestmark = pytest.mark.integration

APP_MODULE = "integration_tests.compat.compat_app"
T = TypeVar("T")

# Every topic the app uses, with one partition each (the original's kafka_partitions=1).
TOPICS = (
    "consignments",
    "menu-orders",
    "watch-requests",
    "watch-cancellations",
    "probe",
    "probe-replies",
    "billing-requests",
    "billing-replies",
    "dispatch-notices",
    "crate-scans",
    "customs-clearances",
    "dock-signals",
    "kitchen-tickets",
    "kitchen-ready",
    "bulletins",
    "courier-tasks",
    "courier-updates",
    "courier-bootstrap",
)

Docs = dict[str, dict[str, Any]]
"""Instance documents of ``GET /tasks/instances`` by instance id."""


@dataclass
class CourierWorker:
    """The courier app's worker subprocess and where to reach it."""

    broker: EmbeddedBroker
    suffix: str
    log_path: Path
    datadir: Path
    process: subprocess.Popen[bytes]
    web_url: str

    def topic(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def send(self, base: str, *values: Any) -> None:
        """Send each value as JSON bytes, as a service written for the original does."""
        await send_messages(self.broker, self.topic(base), [(value, None) for value in values])

    async def instances(self, session: aiohttp.ClientSession) -> Docs | None:
        """The worker's instances, or None while it says it is not ready (503)."""
        async with session.get(f"{self.web_url}/tasks/instances") as response:
            if response.status == 503:
                return None
            assert response.status == 200, await response.text()
            return {document["id"]: document for document in await response.json()}

    async def wait_for(
        self,
        session: aiohttp.ClientSession,
        found: Callable[[Docs], T | None],
        what: str,
        timeout: float = 60,
    ) -> T:
        """Poll the instances until ``found`` returns something; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        docs: Docs = {}
        while True:
            answer = await self.instances(session)
            if answer is not None:
                docs = answer
                result = found(docs)
                if result:
                    return result
            if self.process.poll() is not None or time.monotonic() > deadline:
                summary = {doc_id: doc["status"]["code"] for doc_id, doc in docs.items()}
                raise AssertionError(f"timed out waiting for {what}: {summary}\n{self.log_tail()}")
            await asyncio.sleep(0.3)

    def stop(self) -> None:
        terminate(self.process)


class TopicTail:
    """Reads topics from their start, as the services the app commands would."""

    def __init__(self, worker: CourierWorker, *bases: str) -> None:
        self._worker = worker
        self._consumer = AIOKafkaConsumer(
            *(worker.topic(base) for base in bases),
            bootstrap_servers=worker.broker.bootstrap_servers,
            auto_offset_reset="earliest",
        )
        self.values: dict[str, list[bytes]] = {base: [] for base in bases}

    async def __aenter__(self) -> TopicTail:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self, timeout: float = 0.2) -> None:
        """Take what arrives within ``timeout`` seconds."""
        batches = await self._consumer.getmany(timeout_ms=int(timeout * 1000))
        for partition, records in batches.items():
            base = next(b for b in self.values if self._worker.topic(b) == partition.topic)
            self.values[base].extend(record.value for record in records)

    async def wait(self, base: str, count: int, timeout: float = 60) -> list[bytes]:
        """The values of ``base`` once there are ``count``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.values[base]) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.values[base])} of {count} messages on {self._worker.topic(base)}"
                    f"\n{self._worker.log_tail()}"
                )
            await self.poll()
        return self.values[base]


@asynccontextmanager
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def by_parameter(docs: Docs, name: str) -> Docs:
    """The documents that have the runtime parameter ``name``, by its value."""
    return {
        doc["runtime_parameters"][name]: doc
        for doc in docs.values()
        if name in doc["runtime_parameters"]
    }


def named(doc: dict[str, Any], task_name: str) -> list[dict[str, Any]]:
    """The tasks and processes of an instance document called ``task_name``."""
    return [task for task in doc["tasks"].values() if task["task_name"] == task_name]


def one(doc: dict[str, Any], task_name: str) -> dict[str, Any]:
    tasks = named(doc, task_name)
    assert len(tasks) == 1, (task_name, sorted(t["task_name"] for t in doc["tasks"].values()))
    return tasks[0]


def status(task: dict[str, Any]) -> str:
    return str(task["status"]["code"])


# -- the worker -----------------------------------------------------------------------------
async def _wait_serving(worker: CourierWorker, timeout: float = 90) -> None:
    """Wait for readiness, then for a probe answer: the input consumers have positions."""
    deadline = time.monotonic() + timeout
    async with http() as session:
        while True:
            assert worker.process.poll() is None, f"worker exited\n{worker.log_tail()}"
            assert time.monotonic() < deadline, f"worker not ready\n{worker.log_tail()}"
            try:
                async with session.get(f"{worker.web_url}/service/ready") as response:
                    if response.status == 200 and (await response.json())["is_ready"]:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    async with TopicTail(worker, "probe-replies") as replies:
        attempt = 0
        while not replies.values["probe-replies"]:
            assert time.monotonic() < deadline, f"probes unanswered\n{worker.log_tail()}"
            attempt += 1
            await worker.send("probe", f"probe-{attempt}")
            await replies.poll(timeout=1.0)


@pytest.fixture(scope="module")
def courier(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CourierWorker]:
    """The courier app as a worker subprocess, started through ``workflow_engine.main()``."""
    tmp_path = tmp_path_factory.mktemp("compat")
    suffix = uuid.uuid4().hex[:8]
    broker.create_topics({f"{base}-{suffix}": 1 for base in TOPICS})
    web_port = free_port()
    datadir = tmp_path / "data"
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT),
        DAGGER_TANSU_COMPAT="1",
        COMPAT_BROKER=broker.bootstrap_servers,  # host:port, no scheme, as the original's apps
        COMPAT_SUFFIX=suffix,
        COMPAT_DATADIR=str(datadir),
        COMPAT_WEB_PORT=str(web_port),
        COMPAT_TRIGGER_INTERVAL="2",
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", APP_MODULE, "worker", "-l", "info"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = CourierWorker(
        broker, suffix, log_path, datadir, process, f"http://127.0.0.1:{web_port}"
    )
    try:
        asyncio.run(_wait_serving(worker))
        yield worker
    finally:
        worker.stop()


def test_original_settings_are_accepted(courier: CourierWorker) -> None:
    # The worker serves on web_port (the fixture reached it) with its rocksdb tables in
    # datadir; the settings that do nothing here are named in a warning, not refused.
    assert (courier.datadir / "v1" / "tables" / "dagger_instances-0.db").is_dir()
    log = courier.log_path.read_text(errors="replace")
    for setting in ("aerospike_config", "enable_changelog=False", "serializer='raw'"):
        assert setting in log, setting


# -- the consignments -------------------------------------------------------------------------
CONSIGNMENTS = {
    "c-1": {"consignment_id": "c-1", "amount": 40, "parcels": 4, "bays": 3},
    "c-2": {"consignment_id": "c-2", "amount": 15, "parcels": 2, "bays": 2},
}


@dataclass
class ConsignmentRun:
    billing_requests: list[bytes]
    dispatch_notices: list[bytes]
    billing_wait: Docs
    """Both consignments waiting for their billing reply."""
    scan_wait: Docs
    """Both consignments late and waiting for their crate's scan."""
    before_customs: Docs
    """Both consignments weighed, customs not cleared yet."""
    final: Docs


def _all_consignments(check: Callable[[dict[str, Any]], bool]) -> Callable[[Docs], Docs | None]:
    """A ``wait_for`` condition: every consignment is there and passes ``check``."""

    def found(docs: Docs) -> Docs | None:
        consignments = by_parameter(docs, "consignment_id")
        ok = all(cid in consignments and check(consignments[cid]) for cid in CONSIGNMENTS)
        return consignments if ok else None

    return found


def _listening(doc: dict[str, Any], task_name: str) -> bool:
    task = one(doc, task_name)
    return status(task) == "EXECUTING" and task["correlatable_key_value"] is not None


async def _run_consignments(worker: CourierWorker) -> ConsignmentRun:
    async with http() as session, TopicTail(worker, "billing-requests", "dispatch-notices") as tail:
        await worker.send("consignments", *CONSIGNMENTS.values())
        requests = await tail.wait("billing-requests", len(CONSIGNMENTS))
        billing_wait = await worker.wait_for(
            session,
            _all_consignments(lambda doc: _listening(doc, "invoice_reply")),
            "the billing reply listeners",
        )
        replies = []
        for raw in requests:
            cid = json.loads(raw)["consignment_id"]
            replies.append(
                {"consignment_id": cid, "invoice_no": f"inv-{cid}", "crate_id": f"crate-{cid}"}
            )
        await worker.send("billing-replies", *replies)

        scan_wait = await worker.wait_for(
            session,
            _all_consignments(
                lambda doc: (
                    bool(doc["runtime_parameters"].get("late")) and _listening(doc, "crate_scan")
                )
            ),
            "the dispatch monitors and the crate scan listeners",
        )
        # The carrier collects the crate the notice names: the key the billing reply set.
        notices = await tail.wait("dispatch-notices", len(CONSIGNMENTS))
        scans = [{"crate_id": json.loads(raw)["crate_id"], "dock": "D4"} for raw in notices]
        await worker.send("crate-scans", *scans)

        before_customs = await worker.wait_for(
            session,
            _all_consignments(lambda doc: status(one(doc, "WEIGHING")) == "COMPLETED"),
            "the weighing",
        )
        await worker.send(
            "customs-clearances",
            *({"consignment_id": cid, "verdict": "cleared"} for cid in CONSIGNMENTS),
        )
        final = await worker.wait_for(
            session,
            _all_consignments(lambda doc: status(doc) != "EXECUTING"),
            "the consignments to finish",
        )
    return ConsignmentRun(
        list(requests), list(notices), billing_wait, scan_wait, before_customs, final
    )


@pytest.fixture(scope="module")
def consignments(courier: CourierWorker) -> ConsignmentRun:
    return asyncio.run(_run_consignments(courier))


def test_consignments_complete(consignments: ConsignmentRun) -> None:
    for cid in CONSIGNMENTS:
        doc = consignments.final[cid]
        assert status(doc) == "COMPLETED", (doc.get("error_type"), doc.get("error_message"))
        assert doc["task_type"] == "ROOT"
        unfinished = [t["task_name"] for t in doc["tasks"].values() if status(t) == "EXECUTING"]
        assert unfinished == []


def test_commands_send_the_json_text_as_is(consignments: ConsignmentRun) -> None:
    requests = sorted((json.loads(raw) for raw in consignments.billing_requests), key=str)
    assert requests == [
        {"consignment_id": "c-1", "amount": 40},
        {"consignment_id": "c-2", "amount": 15},
    ], consignments.billing_requests
    notices = sorted((json.loads(raw) for raw in consignments.dispatch_notices), key=str)
    assert notices == [
        {"consignment_id": "c-1", "crate_id": "crate-c-1"},
        {"consignment_id": "c-2", "crate_id": "crate-c-2"},
    ], consignments.dispatch_notices


def test_decision_leads_to_the_billing_reply(consignments: ConsignmentRun) -> None:
    for cid, doc in consignments.final.items():
        assert status(one(doc, "billing_path")) == "COMPLETED"
        assert status(one(doc, "invoice_reply")) == "COMPLETED"
        assert doc["runtime_parameters"]["invoice_no"] == f"inv-{cid}"


def test_listener_keys_follow_the_rekeyed_parameter(consignments: ConsignmentRun) -> None:
    for cid in CONSIGNMENTS:
        reply = one(consignments.billing_wait[cid], "invoice_reply")
        assert (reply["correlatable_key"], reply["correlatable_key_value"]) == (
            "consignment_id",
            cid,
        )
        assert consignments.billing_wait[cid]["runtime_parameters"]["crate_id"] == (
            f"unassigned-{cid}"
        )
        # The billing reply's on_message set crate_id: the scan listener waits on the new key.
        scan = one(consignments.scan_wait[cid], "crate_scan")
        assert (scan["correlatable_key"], scan["correlatable_key_value"]) == (
            "crate_id",
            f"crate-{cid}",
        )
        done = consignments.final[cid]
        assert status(one(done, "crate_scan")) == "COMPLETED"
        assert done["runtime_parameters"]["crate_id"] == f"crate-{cid}"
        assert done["runtime_parameters"]["scanned_at"] == "D4"


def test_dynamic_process_runs_the_builders_chosen_at_runtime(consignments: ConsignmentRun) -> None:
    for doc in consignments.final.values():
        assert doc["runtime_parameters"]["prepared"] == ["PACK", "LABEL"]
        assert status(one(doc, "PACK")) == "COMPLETED"
        assert status(one(doc, "LABEL")) == "COMPLETED"


def test_interval_task_runs_until_interval_execute_returns_true(
    consignments: ConsignmentRun,
) -> None:
    for doc in consignments.final.values():
        parameters = doc["runtime_parameters"]
        slot = one(doc, "carrier_slot")
        assert parameters["slot_checks"] == 2
        assert parameters["slot_booked"] is True
        assert status(slot) == "COMPLETED"
        assert slot["time_to_force_complete"] == parameters["give_up_at"]
        assert slot["interval_execute_period"] == parameters["poll_every"]


def test_trigger_task_runs_at_its_lookup_time(consignments: ConsignmentRun) -> None:
    for doc in consignments.final.values():
        release = one(doc, "release_crate")
        assert status(release) == "COMPLETED"
        assert release["time_to_execute"] == doc["runtime_parameters"]["release_after"]
        assert (
            doc["runtime_parameters"]["released_at"] >= doc["runtime_parameters"]["release_after"]
        )


def test_monitoring_task_flags_the_late_dispatch_process(consignments: ConsignmentRun) -> None:
    for doc in consignments.final.values():
        dispatch = one(doc, "DISPATCH")
        assert status(dispatch) == "COMPLETED"
        assert doc["runtime_parameters"]["late"] == [
            {"process": "DISPATCH", "monitored": dispatch["id"]}
        ]
        monitors = [
            t for t in doc["tasks"].values() if t.get("monitored_task_id") == dispatch["id"]
        ]
        assert len(monitors) == 1
        # The trigger task found it with Dagger.get_monitoring_task(process, instance).
        assert doc["runtime_parameters"]["dispatch_monitor"] == monitors[0]["id"]


def test_process_execute_hook_runs_when_the_process_starts(consignments: ConsignmentRun) -> None:
    for doc in consignments.final.values():
        assert doc["runtime_parameters"].get("dispatch_opened") == one(doc, "DISPATCH")["id"]


def test_parallel_processes_join_all_wait_for_customs(consignments: ConsignmentRun) -> None:
    for cid in CONSIGNMENTS:
        waiting = consignments.before_customs[cid]
        assert status(one(waiting, "INSPECTIONS")) == "EXECUTING"
        assert status(one(waiting, "CUSTOMS")) == "EXECUTING"
        assert status(one(waiting, "LOADING")) == "NOT_STARTED"
        done = consignments.final[cid]
        assert status(one(done, "INSPECTIONS")) == "COMPLETED"
        assert done["runtime_parameters"]["customs"] == "cleared"
        assert done["runtime_parameters"]["weight_kg"] == CONSIGNMENTS[cid]["parcels"] * 2.5


def test_loading_runs_the_bays_each_consignment_chose(consignments: ConsignmentRun) -> None:
    for cid, doc in consignments.final.items():
        bays = CONSIGNMENTS[cid]["bays"]
        loading = one(doc, "LOADING")
        assert status(loading) == "COMPLETED"
        assert len(loading["parallel_child_task_list"]) == bays
        assert [status(p) for p in named(doc, "LOAD_BAY")] == ["COMPLETED"] * bays
        assert doc["runtime_parameters"]["bays_loaded"] == bays


def test_parallel_task_at_least_one_needs_no_dock_signal(consignments: ConsignmentRun) -> None:
    for doc in consignments.final.values():
        departure = [t for t in named(doc, "DEPARTURE") if t["task_type"] == "PARALLEL_COMPOSITE"]
        assert len(departure) == 1 and status(departure[0]) == "COMPLETED"
        assert len(departure[0]["parallel_child_task_list"]) == 4
        assert len(named(doc, "sign_off")) == 3
        assert doc["runtime_parameters"]["sign_offs"] >= 1
        # No dock signal was sent: the first sign-off was enough, the listener was let go.
        assert "dock_signal" not in doc["runtime_parameters"]
        assert status(one(doc, "dock_signal")) in ("STOPPED", "SKIPPED")


# -- the catering order (README shape) -------------------------------------------------------
@dataclass
class CateringRun:
    tickets: list[bytes]
    final: dict[str, Any]


async def _run_catering(worker: CourierWorker) -> CateringRun:
    order = {"order_ref": "m-1", "guest": "ada", "dish": "margherita"}
    async with http() as session, TopicTail(worker, "kitchen-tickets") as tail:
        await worker.send("menu-orders", order)
        tickets = await tail.wait("kitchen-tickets", 1)
        await worker.send("kitchen-ready", {"order_ref": "m-1", "status": "READY"})

        def finished(docs: Docs) -> dict[str, Any] | None:
            doc = by_parameter(docs, "order_ref").get("m-1")
            return doc if doc and status(doc) != "EXECUTING" else None

        final = await worker.wait_for(session, finished, "the catering order to finish")
    return CateringRun(list(tickets), final)


@pytest.fixture(scope="module")
def catering(courier: CourierWorker) -> CateringRun:
    return asyncio.run(_run_catering(courier))


def test_readme_shaped_workflow_completes(catering: CateringRun) -> None:
    assert [json.loads(raw) for raw in catering.tickets] == [
        {"order_ref": "m-1", "guest": "ada", "dish": "margherita"}
    ], catering.tickets
    doc = catering.final
    assert status(doc) == "COMPLETED"
    assert doc["runtime_parameters"]["kitchen_status"] == "READY"
    assert doc["runtime_parameters"]["courier"] == "bike-for-ada"
    for name in ("Kitchen", "Courier", "Kitchen_command_task", "Kitchen_listener_task"):
        assert status(one(doc, name)) == "COMPLETED"
    assert status(one(doc, "Courier_executor_task")) == "COMPLETED"
    # Created without a partition_key_lookup: the instance is keyed by its id.
    assert doc["partition_key_lookup"] == ""


# -- the watches: one message for several instances, and a stop -------------------------------
@dataclass
class WatchRun:
    listening: Docs
    after_bulletin: Docs
    final: Docs


async def _run_watches(worker: CourierWorker) -> WatchRun:
    watch_ids = ["w-1", "w-2", "w-3"]
    async with http() as session:
        await worker.send("watch-requests", *watch_ids)

        def listening(docs: Docs) -> Docs | None:
            found = by_parameter(docs, "watch_id")
            ready = {w for w, d in found.items() if _listening(d, "bulletin")}
            return found if set(watch_ids) <= ready else None

        listening_docs = await worker.wait_for(session, listening, "the watches to listen")
        await worker.send("bulletins", {"watch_ids": ["w-1", "w-2"], "headline": "storm"})

        def answered(docs: Docs) -> Docs | None:
            found = by_parameter(docs, "watch_id")
            done = {w for w, d in found.items() if status(d) == "COMPLETED"}
            return found if {"w-1", "w-2"} <= done else None

        after_bulletin = await worker.wait_for(session, answered, "the bulletin to close w-1, w-2")
        await worker.send("watch-cancellations", "w-3")

        def cancelled(docs: Docs) -> Docs | None:
            found = by_parameter(docs, "watch_id")
            return found if "w-3" in found and status(found["w-3"]) != "EXECUTING" else None

        final = await worker.wait_for(session, cancelled, "w-3 to stop")
    return WatchRun(listening_docs, after_bulletin, final)


@pytest.fixture(scope="module")
def watches(courier: CourierWorker) -> WatchRun:
    return asyncio.run(_run_watches(courier))


def test_one_bulletin_completes_every_watch_it_names(watches: WatchRun) -> None:
    for watch_id in ("w-1", "w-2", "w-3"):
        bulletin = one(watches.listening[watch_id], "bulletin")
        assert (bulletin["correlatable_key"], bulletin["correlatable_key_value"]) == (
            "watch_id",
            watch_id,
        )
    for watch_id in ("w-1", "w-2"):
        doc = watches.after_bulletin[watch_id]
        assert status(doc) == "COMPLETED"
        assert doc["runtime_parameters"]["headline"] == "storm"
        assert doc["template_name"] == "AdHocWatch"
        assert status(one(doc, "BulletinWatch")) == "COMPLETED"
    assert status(watches.after_bulletin["w-3"]) == "EXECUTING"


def test_stopped_watch_is_stopped(watches: WatchRun) -> None:
    doc = watches.final["w-3"]
    assert status(doc) == "STOPPED"
    assert status(one(doc, "bulletin")) == "STOPPED"
    assert "headline" not in doc["runtime_parameters"]
    # The stop reached the listener that was waiting: its stop hook ran.
    assert doc["runtime_parameters"]["closed_by"] == "cancellation"


# -- the update topic, read as the original's consumers read it -------------------------------
@pytest.mark.filterwarnings("ignore:keys will default to True:DeprecationWarning")
def test_update_documents_decode_with_jsonpickle(
    courier: CourierWorker, consignments: ConsignmentRun, catering: CateringRun, watches: WatchRun
) -> None:
    expected = {doc["id"]: "COMPLETED" for doc in consignments.final.values()}
    expected[catering.final["id"]] = "COMPLETED"
    expected.update({watches.final[w]["id"]: "COMPLETED" for w in ("w-1", "w-2")})
    expected[watches.final["w-3"]["id"]] = "STOPPED"

    records = asyncio.run(read_topic(courier.broker, courier.topic("courier-updates"), settle=1.0))
    seen: dict[str, list[Any]] = {}
    for record in records:
        update = ITemplateDAGInstance.from_data(jsonpickle.decode(record.value))
        seen.setdefault(update.id, []).append(update)

    for instance_id, final_status in expected.items():
        updates = seen.get(instance_id, [])
        codes = [update.status.code for update in updates]
        assert TaskStatusEnum.EXECUTING.name in codes, (instance_id, codes)
        assert codes[-1] == final_status, (instance_id, codes)
        last = updates[-1]
        if final_status == "COMPLETED":
            assert last.update_count > 1, (instance_id, last.update_count)
