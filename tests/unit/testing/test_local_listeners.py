"""Command and listener tasks run end to end in a LocalEngine: correlation without Kafka.

Each test builds its own engine and template (listener topics register on the engine)
and uses topic names of its own.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from dagger.core._keys import index_key
from dagger.modeler.builder_helper import DAGBuilderHelper
from dagger.runtime._owner import TOMBSTONE
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance, KafkaCommandTask
from dagger.templates.template import ITemplateDAG
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import (
    COMMAND,
    FINISH,
    LISTENER,
    PREPARE,
    PROCESS,
    ExplodingTask,
    FirstComerListener,
    ForgetOrderId,
    OrderStatusListener,
    index_entries,
    new_engine,
    order_template,
    unique,
)
from tests.unit._workflows import task_named


async def _create(
    template: ITemplateDAG, order_id: Any = "o-1", **params: Any
) -> ITemplateDAGInstance[Any, Any]:
    return await template.create_instance(
        uuid.uuid4(), "order_id", order_id=order_id, submit_task=True, **params
    )


def _stored(local: LocalEngine, instance: ITemplateDAGInstance[Any, Any]) -> Any:
    stored = local.get_instance(instance.id)
    assert stored is not None
    return stored


def _status(local: LocalEngine, instance: ITemplateDAGInstance[Any, Any], name: str) -> str:
    stored = _stored(local, instance)
    task = stored if name == "instance" else task_named(stored, name)
    return str(task.status.code)


def _statuses(local: LocalEngine, instance: ITemplateDAGInstance[Any, Any]) -> dict[str, str]:
    stored = _stored(local, instance)
    return {task.task_name: task.status.code for task in stored.tasks.values()}


def _ready(order_id: Any = "o-1", status: str = "READY", **extra: Any) -> dict[str, Any]:
    return {"order_id": order_id, "status": status, **extra}


# -- the happy path ----------------------------------------------------------------------


async def test_a_listener_waits_for_its_message_then_the_workflow_completes() -> None:
    engine = new_engine()
    status_topic, command_topic = unique("status"), unique("commands")
    template = order_template(engine, status_topic=status_topic, command_topic=command_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        assert _statuses(local, instance) == {
            PROCESS: "EXECUTING",
            PREPARE: "COMPLETED",
            COMMAND: "COMPLETED",
            LISTENER: "EXECUTING",
            FINISH: "NOT_STARTED",
        }
        waiting = _stored(local, instance)
        assert waiting.runtime_parameters["commands"] == [
            {"topic": command_topic, "order_id": "o-1"}
        ]
        assert task_named(waiting, LISTENER).topic == status_topic
        key = index_key(status_topic, "order_id", "o-1")
        assert [lookup.workflow_id for lookup in local.keys.lookups(key)] == [instance.id]

        await local.send_message(status_topic, _ready())

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert set(_statuses(local, instance).values()) == {"COMPLETED"}
    assert stored.runtime_parameters["status"] == "READY"
    assert stored.runtime_parameters["finished"] is True
    assert local.updates[-1]["status"] == "COMPLETED"
    assert local.dead_letters == []
    assert index_entries(local.index) == {}


async def test_a_message_for_another_key_changes_nothing() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template, "o-1")
        before = local.store[instance.id.encode()]
        updates = len(local.updates)

        await local.send_message(status_topic, _ready("o-2"))

        assert local.store[instance.id.encode()] == before
        assert len(local.updates) == updates
        assert _status(local, instance, LISTENER) == "EXECUTING"
        assert local.dead_letters == []
        # Nobody waits for o-2: the message is held for a listener that may come.
        assert local.keys.held_keys() == [index_key(status_topic, "order_id", "o-2")]

        await local.send_message(status_topic, _ready("o-1"))

    assert _status(local, instance, "instance") == "COMPLETED"


async def test_a_message_that_does_not_complete_keeps_waiting_and_persists_parameters() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        await local.send_message(status_topic, _ready(status="COOKING"))

        stored = _stored(local, instance)
        assert stored.status.code == "EXECUTING"
        assert task_named(stored, LISTENER).status.code == "EXECUTING"
        assert stored.runtime_parameters["status"] == "COOKING"
        assert stored.runtime_parameters["statuses"] == ["COOKING"]
        assert local.updates[-1]["runtime_parameters"]["status"] == "COOKING"
        assert len(local.keys.lookups(index_key(status_topic, "order_id", "o-1"))) == 1

        await local.send_message(status_topic, _ready(status="BAKED"))
        await local.send_message(status_topic, _ready())

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["statuses"] == ["COOKING", "BAKED", "READY"]


async def test_a_message_after_completion_is_ignored() -> None:
    engine = new_engine(early_message_window=0)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(status_topic, _ready())
        completed = local.store[instance.id.encode()]

        await local.send_message(status_topic, _ready(status="LATE"))

    assert local.store[instance.id.encode()] == completed
    assert _stored(local, instance).runtime_parameters["statuses"] == ["READY"]


async def test_a_numeric_key_matches_its_parameter() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template, 42)
        assert local.keys.lookups(index_key(status_topic, "order_id", "42"))

        await local.send_message(status_topic, _ready(42))

    assert _status(local, instance, "instance") == "COMPLETED"


async def test_the_command_task_can_send_to_its_topic_and_the_send_is_recorded() -> None:
    engine = new_engine()
    status_topic, command_topic = unique("status"), unique("commands")

    class SendingCommand(KafkaCommandTask[str, Any]):
        async def execute(
            self,
            runtime_parameters: dict[str, Any],
            workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
        ) -> None:
            await engine.topics[str(self.topic)].send(
                key=runtime_parameters["order_id"],
                value={"order_id": runtime_parameters["order_id"], "pizza": "margherita"},
            )

    helper = DAGBuilderHelper(dagger_app=engine)
    process = helper.generic_process_builder(
        process_name=PROCESS,
        root_task=helper.build_and_link_tasks(
            [
                helper.generic_command_task_builder(
                    topic=command_topic, task_type=SendingCommand, process_name=PROCESS
                ),
                helper.generic_listener_task_builder(
                    topic=status_topic,
                    task_type=OrderStatusListener,
                    process_name=PROCESS,
                    value_serializer="json",
                ),
            ]
        ),
    )
    template = helper.generic_template(
        template_name=unique("orders"), root_process=helper.build_and_link_processes([process])
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template, "o-9")
        [sent] = local.sent
        assert (sent.topic, sent.key, sent.value) == (
            command_topic,
            "o-9",
            {"order_id": "o-9", "pizza": "margherita"},
        )
        await local.send_message(status_topic, _ready("o-9"))

    assert _status(local, instance, "instance") == "COMPLETED"
    assert len(local.sent) == 1


async def test_sending_to_a_topic_no_listener_waits_on_is_refused() -> None:
    engine = new_engine()
    order_template(engine, status_topic=unique("status"))
    async with LocalEngine(engine) as local:
        with pytest.raises(ValueError, match="no listener task waits on topic"):
            await local.send_message("nobody-listens-here", _ready())


# -- early messages ----------------------------------------------------------------------


async def test_a_message_before_the_listener_registers_is_held_then_completes_it() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await local.send_message(status_topic, _ready("o-early"))
        key = index_key(status_topic, "order_id", "o-early")
        assert local.keys.held_keys() == [key]
        [(message_id, _expires)] = local.keys.held_ids(key)
        held = json.loads(local.held[f"{key}\x1e{message_id}".encode()])
        assert held["topic"] == status_topic
        assert json.loads(base64.b64decode(held["payload"])) == _ready("o-early")

        instance = await _create(template, "o-early")

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["statuses"] == ["READY"]
    assert local.held == {}
    assert index_entries(local.index) == {}


async def test_an_early_message_is_dropped_when_the_window_is_zero() -> None:
    engine = new_engine(early_message_window=0)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await local.send_message(status_topic, _ready("o-early"))
        assert local.held == {}

        instance = await _create(template, "o-early")

        assert _status(local, instance, LISTENER) == "EXECUTING"
        assert "statuses" not in _stored(local, instance).runtime_parameters
        await local.send_message(status_topic, _ready("o-early"))

    assert _status(local, instance, "instance") == "COMPLETED"


async def test_an_expired_early_message_is_not_delivered() -> None:
    engine = new_engine(early_message_window=30)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await local.send_message(status_topic, _ready("o-late"))
        assert len(local.keys.held_keys()) == 1
        await local.advance(31)  # the sweep drops it

        instance = await _create(template, "o-late")

        assert _status(local, instance, LISTENER) == "EXECUTING"
        assert local.held == {}


async def test_an_early_message_goes_to_the_first_listener_that_registers_only() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        await local.send_message(status_topic, _ready("shared"))

        first = await _create(template, "shared")
        second = await _create(template, "shared")

        assert _status(local, first, "instance") == "COMPLETED"
        assert _status(local, second, LISTENER) == "EXECUTING"


# -- duplicates --------------------------------------------------------------------------


async def test_a_duplicated_message_runs_on_message_once() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        for _ in range(3):
            await local.send_message(
                status_topic, _ready(status="COOKING"), headers={"message-id": b"m-1"}
            )

        assert _stored(local, instance).runtime_parameters["statuses"] == ["COOKING"]
        await local.send_message(status_topic, _ready(), headers={"message-id": b"m-2"})

    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["statuses"] == ["COOKING", "READY"]


async def test_messages_without_an_id_header_are_told_apart_by_offset() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        await local.send_message(status_topic, _ready(status="COOKING"))
        await local.send_message(status_topic, _ready(status="COOKING"))

    assert _stored(local, instance).runtime_parameters["statuses"] == ["COOKING", "COOKING"]


async def test_the_message_id_header_is_configurable() -> None:
    engine = new_engine(message_id_header="x-request-id")
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        for _ in range(2):
            await local.send_message(
                status_topic, _ready(status="COOKING"), headers={"x-request-id": b"r-1"}
            )
        for _ in range(2):
            # Not the configured header: each copy is a message of its own.
            await local.send_message(
                status_topic, _ready(status="BAKED"), headers={"message-id": b"m-1"}
            )

    assert _stored(local, instance).runtime_parameters["statuses"] == [
        "COOKING",
        "BAKED",
        "BAKED",
    ]


async def test_without_a_message_id_header_headers_are_ignored() -> None:
    engine = new_engine(message_id_header=None)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        for _ in range(2):
            await local.send_message(
                status_topic, _ready(status="COOKING"), headers={"message-id": b"m-1"}
            )

    assert _stored(local, instance).runtime_parameters["statuses"] == ["COOKING", "COOKING"]


# -- many listeners on one key -----------------------------------------------------------


async def test_one_message_completes_a_hundred_waiting_instances() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instances = [await _create(template, "batch-7") for _ in range(100)]
        key = index_key(status_topic, "order_id", "batch-7")
        assert len(local.keys.lookups(key)) == 100

        await local.send_message(status_topic, _ready("batch-7"))

    assert [_status(local, instance, "instance") for instance in instances] == ["COMPLETED"] * 100
    assert index_entries(local.index) == {}


async def test_match_only_one_completes_one_instance_per_message() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic, listener=FirstComerListener)
    async with LocalEngine(engine) as local:
        instances = [await _create(template, "pool") for _ in range(3)]

        await local.send_message(status_topic, _ready("pool"))

        assert [_status(local, instance, "instance") for instance in instances] == [
            "COMPLETED",
            "EXECUTING",
            "EXECUTING",
        ]
        await local.send_message(status_topic, _ready("pool"))
        await local.send_message(status_topic, _ready("pool"))

    assert [_status(local, instance, "instance") for instance in instances] == ["COMPLETED"] * 3
    assert index_entries(local.index) == {}


async def test_instances_on_other_keys_are_not_disturbed_by_a_shared_topic() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        a, b = await _create(template, "a"), await _create(template, "b")

        await local.send_message(status_topic, _ready("b"))

        assert (_status(local, a, "instance"), _status(local, b, "instance")) == (
            "EXECUTING",
            "COMPLETED",
        )
        assert list(index_entries(local.index)) == [
            index_key(status_topic, "order_id", "a").encode()
        ]


async def test_the_index_is_chunked_and_every_instance_still_completes() -> None:
    engine = new_engine(max_correletable_keys_in_values=3)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instances = [await _create(template, "o-1") for _ in range(10)]
        key = index_key(status_topic, "order_id", "o-1")

        chunks = local.keys.chunks(key)
        assert [len(chunk.lookup_keys) for chunk in chunks] == [3, 3, 3, 1]
        assert len(index_entries(local.index)) == 4
        assert [lookup.workflow_id for lookup in local.keys.lookups(key)] == [
            instance.id for instance in instances
        ]

        await local.send_message(status_topic, _ready("o-1"))

    assert [_status(local, instance, "instance") for instance in instances] == ["COMPLETED"] * 10
    assert index_entries(local.index) == {}


# -- re-keying ---------------------------------------------------------------------------


async def test_on_message_changing_the_key_parameter_re_routes_the_next_message() -> None:
    engine = new_engine(early_message_window=0)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template, "o-1")

        await local.send_message(status_topic, _ready("o-1", "SPLIT", new_order_id="o-1b"))

        stored = _stored(local, instance)
        assert stored.runtime_parameters["order_id"] == "o-1b"
        assert task_named(stored, LISTENER).correlatable_key_value == "o-1b"
        assert list(index_entries(local.index)) == [
            index_key(status_topic, "order_id", "o-1b").encode()
        ]

        await local.send_message(status_topic, _ready("o-1"))
        assert _status(local, instance, "instance") == "EXECUTING"
        assert _stored(local, instance).runtime_parameters["statuses"] == ["SPLIT"]

        await local.send_message(status_topic, _ready("o-1b"))

    assert _status(local, instance, "instance") == "COMPLETED"
    assert _stored(local, instance).runtime_parameters["statuses"] == ["SPLIT", "READY"]
    assert index_entries(local.index) == {}


# -- allow_skip_to and reprocess_on_message ----------------------------------------------


async def test_a_message_for_a_not_started_skip_to_listener_skips_its_predecessors() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    template = order_template(
        engine, status_topic=status_topic, payment_topic=payment_topic, allow_skip_to=True
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        assert _statuses(local, instance) == {
            "PAYMENT": "EXECUTING",
            "PAYMENT_listener_task": "EXECUTING",
            PROCESS: "NOT_STARTED",
            PREPARE: "NOT_STARTED",
            COMMAND: "NOT_STARTED",
            LISTENER: "NOT_STARTED",
            FINISH: "NOT_STARTED",
        }
        # The skip-to listener waits from the start, next to the running one.
        assert sorted(index_entries(local.index)) == sorted(
            [
                index_key(payment_topic, "order_id", "o-1").encode(),
                index_key(status_topic, "order_id", "o-1").encode(),
            ]
        )

        await local.send_message(status_topic, _ready())

    assert _statuses(local, instance) == {
        "PAYMENT": "SKIPPED",
        "PAYMENT_listener_task": "SKIPPED",
        PROCESS: "COMPLETED",
        PREPARE: "SKIPPED",
        COMMAND: "SKIPPED",
        LISTENER: "COMPLETED",
        FINISH: "COMPLETED",
    }
    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert "commands" not in stored.runtime_parameters
    assert "prepared" not in stored.runtime_parameters
    assert stored.runtime_parameters["finished"] is True
    assert index_entries(local.index) == {}


async def test_a_skip_to_listener_that_is_not_satisfied_keeps_the_skip_and_waits() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    template = order_template(
        engine, status_topic=status_topic, payment_topic=payment_topic, allow_skip_to=True
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)

        await local.send_message(status_topic, _ready(status="COOKING"))

        statuses = _statuses(local, instance)
        assert (statuses["PAYMENT"], statuses[LISTENER], statuses[FINISH]) == (
            "SKIPPED",
            "EXECUTING",
            "NOT_STARTED",
        )
        assert list(index_entries(local.index)) == [
            index_key(status_topic, "order_id", "o-1").encode()
        ]
        await local.send_message(status_topic, _ready())

    assert _status(local, instance, "instance") == "COMPLETED"


async def test_without_allow_skip_to_a_message_for_a_not_started_listener_is_ignored() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    template = order_template(engine, status_topic=status_topic, payment_topic=payment_topic)
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        before = local.store[instance.id.encode()]

        await local.send_message(status_topic, _ready())

        assert local.store[instance.id.encode()] == before
        await local.send_message(payment_topic, {"order_id": "o-1", "paid": True})

    # The early status message was held and reaches the listener once it registers.
    stored = _stored(local, instance)
    assert stored.status.code == "COMPLETED"
    assert stored.runtime_parameters["paid"] is True
    assert stored.runtime_parameters["statuses"] == ["READY"]


async def test_a_completed_listener_with_reprocess_on_message_handles_later_messages() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    # The PAYMENT process after ORDER keeps the instance running once ORDER completed.
    template = order_template(
        engine, status_topic=status_topic, reprocess_on_message=True, payment_after=payment_topic
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(status_topic, _ready())

        assert _status(local, instance, LISTENER) == "COMPLETED"
        assert _status(local, instance, "PAYMENT_listener_task") == "EXECUTING"
        # Still in the index: it takes messages after it completed.
        assert index_key(status_topic, "order_id", "o-1").encode() in index_entries(local.index)

        await local.send_message(status_topic, _ready(status="DELIVERED"))

        stored = _stored(local, instance)
        assert task_named(stored, LISTENER).status.code == "COMPLETED"
        assert stored.runtime_parameters["status"] == "DELIVERED"
        assert stored.runtime_parameters["statuses"] == ["READY", "DELIVERED"]
        assert local.updates[-1]["runtime_parameters"]["status"] == "DELIVERED"

        await local.send_message(payment_topic, {"order_id": "o-1", "paid": True})

    assert _status(local, instance, "instance") == "COMPLETED"
    assert index_entries(local.index) == {}


# -- poison input ------------------------------------------------------------------------


def _waiting(
    **settings: Any,
) -> tuple[Dagger, str, ITemplateDAG]:
    engine = new_engine(**settings)
    status_topic = unique("status")
    return engine, status_topic, order_template(engine, status_topic=status_topic)


async def test_undecodable_input_is_a_dead_letter_and_changes_nothing() -> None:
    engine, status_topic, template = _waiting()
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(status_topic, _ready(status="COOKING"))
        before, updates = local.store[instance.id.encode()], len(local.updates)

        await local.send_message(status_topic, b"{not json")

        assert local.store[instance.id.encode()] == before
        assert len(local.updates) == updates
    [letter] = local.dead_letters
    assert letter["reason"] == "undecodable"
    assert letter["error_type"] and letter["error_message"]
    assert letter["origin"] == {"topic": status_topic, "partition": 0, "offset": 1}
    assert base64.b64decode(letter["value"]) == b"{not json"
    assert local.held == {}


async def test_key_extraction_raising_is_a_dead_letter_and_changes_nothing() -> None:
    engine, status_topic, template = _waiting()
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        before = local.store[instance.id.encode()]

        await local.send_message(status_topic, {"status": "READY"})

        assert local.store[instance.id.encode()] == before
    [letter] = local.dead_letters
    assert letter["reason"] == "key_extraction_failed"
    assert (letter["error_type"], letter["error_message"]) == ("KeyError", "'order_id'")
    assert letter["origin"] == {"topic": status_topic, "partition": 0, "offset": 0}
    assert json.loads(base64.b64decode(letter["value"])) == {"status": "READY"}


async def test_on_message_raising_is_a_dead_letter_and_the_instance_is_unchanged() -> None:
    engine, status_topic, template = _waiting()
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        await local.send_message(status_topic, _ready(status="COOKING"))
        before, updates = local.store[instance.id.encode()], len(local.updates)

        await local.send_message(status_topic, _ready(status="EXPLODE"))

        # on_message changed the parameters before it raised: the change is dropped.
        assert local.store[instance.id.encode()] == before
        assert len(local.updates) == updates
        assert _stored(local, instance).runtime_parameters["statuses"] == ["COOKING"]
        [letter] = local.dead_letters
        assert letter["reason"] == "on_message_raised"
        assert (letter["error_type"], letter["error_message"]) == (
            "RuntimeError",
            "cannot handle o-1",
        )
        assert letter["origin"] == {"topic": status_topic, "partition": 0, "offset": 1}
        assert json.loads(base64.b64decode(letter["value"])) == _ready(status="EXPLODE")

        # The listener still waits.
        await local.send_message(status_topic, _ready())

    assert _status(local, instance, "instance") == "COMPLETED"
    assert _stored(local, instance).runtime_parameters["statuses"] == ["COOKING", "READY"]


async def test_a_raising_on_message_of_a_skip_to_listener_skips_nothing() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    template = order_template(
        engine, status_topic=status_topic, payment_topic=payment_topic, allow_skip_to=True
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        before = local.store[instance.id.encode()]

        await local.send_message(status_topic, _ready(status="EXPLODE"))

        assert local.store[instance.id.encode()] == before
        assert _status(local, instance, "PAYMENT_listener_task") == "EXECUTING"
    assert [letter["reason"] for letter in local.dead_letters] == ["on_message_raised"]


# -- the index after instances finish ----------------------------------------------------


async def test_no_index_entry_is_left_after_a_failed_instance() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    template = order_template(
        engine,
        status_topic=status_topic,
        payment_topic=payment_topic,
        allow_skip_to=True,
        after_listener=(("explode", ExplodingTask),),
    )
    async with LocalEngine(engine) as local:
        instance = await _create(template)
        assert len(index_entries(local.index)) == 2

        await local.send_message(status_topic, _ready())

    stored = _stored(local, instance)
    assert stored.status.code == "FAILURE"
    assert task_named(stored, "explode").error_type == "RuntimeError"
    assert index_entries(local.index) == {}


async def test_no_index_entry_is_left_when_finished_instances_are_deleted() -> None:
    engine = new_engine(delete_workflow_on_complete=True)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instances = [await _create(template, f"o-{n}") for n in range(3)]
        assert len(index_entries(local.index)) == 3

        for n in range(3):
            await local.send_message(status_topic, _ready(f"o-{n}"))

    assert index_entries(local.index) == {}
    assert all(local.store[instance.id.encode()] == TOMBSTONE for instance in instances)
    assert [update["status"] for update in local.updates[-3:]] == ["COMPLETED"] * 3


# -- the correlation parameter -----------------------------------------------------------


async def test_creating_an_instance_without_the_listener_parameter_raises() -> None:
    engine = new_engine()
    template = order_template(engine, status_topic=unique("status"))
    async with LocalEngine(engine) as local:
        with pytest.raises(ValueError, match="order_id"):
            await template.create_instance(
                uuid.uuid4(), "customer", customer="c-1", submit_task=True
            )
    assert local.store == {}
    assert local.updates == []
    assert index_entries(local.index) == {}


async def test_a_listener_whose_parameter_disappeared_fails_with_missing_correlation_key() -> None:
    engine = new_engine()
    status_topic = unique("status")
    template = order_template(
        engine, status_topic=status_topic, before_listener=(("forget", ForgetOrderId),)
    )
    async with LocalEngine(engine) as local:
        instance = await template.create_instance(
            uuid.uuid4(), "customer", customer="c-1", order_id="o-1", submit_task=True
        )

    stored = _stored(local, instance)
    listener = task_named(stored, LISTENER)
    assert listener.status.code == "FAILURE"
    assert listener.error_type == "MissingCorrelationKey"
    assert "order_id" in (listener.error_message or "")
    assert stored.status.code == "FAILURE"
    assert stored.error_type == "MissingCorrelationKey"
    assert index_entries(local.index) == {}


# -- more routing ------------------------------------------------------------------------


async def test_an_early_message_for_a_skip_to_listener_skips_ahead_once_submitted() -> None:
    engine = new_engine()
    status_topic, payment_topic = unique("status"), unique("payments")
    template = order_template(
        engine, status_topic=status_topic, payment_topic=payment_topic, allow_skip_to=True
    )
    async with LocalEngine(engine) as local:
        await local.send_message(status_topic, _ready())

        instance = await _create(template)

    statuses = _statuses(local, instance)
    assert (statuses["PAYMENT"], statuses[PREPARE], statuses[LISTENER]) == (
        "SKIPPED",
        "SKIPPED",
        "COMPLETED",
    )
    assert _status(local, instance, "instance") == "COMPLETED"
    assert index_entries(local.index) == {} and local.held == {}


async def test_listeners_work_across_many_engine_partitions() -> None:
    engine = new_engine(kafka_partitions=8)
    status_topic = unique("status")
    template = order_template(engine, status_topic=status_topic)
    async with LocalEngine(engine) as local:
        instances = [await _create(template, f"o-{n}") for n in range(12)]
        assert len({_stored(local, instance).owner_partition for instance in instances}) > 1
        lookups = [
            lookup
            for n in range(12)
            for lookup in local.keys.lookups(index_key(status_topic, "order_id", f"o-{n}"))
        ]
        assert [lookup.owner_partition for lookup in lookups] == [
            _stored(local, instance).owner_partition for instance in instances
        ]

        for n in reversed(range(12)):
            await local.send_message(status_topic, _ready(f"o-{n}"))

    assert {_status(local, instance, "instance") for instance in instances} == {"COMPLETED"}
    assert index_entries(local.index) == {}


class CustomerListener(OrderStatusListener):
    """Correlates on ``customer_id`` instead."""

    correlatable_key = "customer_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[Any]:
        return [("customer_id", payload["customer_id"])] if "customer_id" in payload else []


async def test_two_listener_types_on_one_topic_each_find_their_key() -> None:
    engine = new_engine()
    status_topic = unique("status")
    by_order = order_template(engine, status_topic=status_topic)
    by_customer = order_template(engine, status_topic=status_topic, listener=CustomerListener)
    async with LocalEngine(engine) as local:
        order = await _create(by_order, "o-1")
        customer = await _create(by_customer, "o-other", customer_id="c-1")

        await local.send_message(status_topic, _ready("o-unrelated", customer_id="c-1"))

        assert _status(local, order, "instance") == "EXECUTING"
        assert _status(local, customer, "instance") == "COMPLETED"

        await local.send_message(status_topic, _ready("o-1", customer_id="c-unknown"))

    assert _status(local, order, "instance") == "COMPLETED"
    assert index_entries(local.index) == {}
