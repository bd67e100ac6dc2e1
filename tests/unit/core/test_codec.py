"""Instance <-> JSON document: lossless, compact, and never importing by name."""

from __future__ import annotations

import json
import random
import re
import sys
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core._events import InstanceSubmitted, TaskFailed, TaskSucceeded
from dagger.core._registry import TaskClassRegistry, class_key, task_classes
from dagger.core._step import step as core_step
from dagger.exceptions.exceptions import UnknownTaskClass
from dagger.service.services import Dagger
from dagger.tasks.task import DefaultTemplateDAGInstance, ITemplateDAGInstance
from tests.unit._workflows import (
    FailingTask,
    OrderInstance,
    RecordingTask,
    build_template,
    task_named,
)


async def _failed_order(engine: Dagger) -> ITemplateDAGInstance[Any, Any]:
    """An OrderInstance that ran one task and failed on the second."""
    template = build_template(
        engine,
        [
            ("payment", [("reserve", RecordingTask), ("charge", FailingTask)]),
            ("shipping", [("ship", RecordingTask)]),
        ],
        template_type=OrderInstance,
    )
    instance = await template.create_instance(
        "order-1",
        "order_id",
        seed=random.Random(3),
        order_id="o-1",
        lines=[{"sku": "A", "qty": 2}],
        note=None,
    )
    assert isinstance(instance, OrderInstance)
    instance.customer = "ada"
    instance.priority = 2
    instance.tags = ["vip"]
    [run] = core_step(instance, InstanceSubmitted("e-1", instance.id), now=1.0).effects
    instance.runtime_parameters["paid"] = 12.5
    core_step(instance, TaskSucceeded(run.task_id), now=2.0)
    charge = task_named(instance, "charge")
    core_step(instance, TaskFailed(charge.id, "ValueError", "card declined"), now=3.0)
    return instance


def _fields(task: Any) -> dict[str, Any]:
    return {name: getattr(task, name) for name in type(task)._options.fields if name != "tasks"}


async def test_round_trip_preserves_every_field(engine: Dagger) -> None:
    instance = await _failed_order(engine)

    decoded = codec.decode(codec.encode(instance))

    assert type(decoded) is OrderInstance
    assert _fields(decoded) == _fields(instance)
    assert list(decoded.tasks) == list(instance.tasks)
    for task_id, task in instance.tasks.items():
        copy = decoded.tasks[task_id]
        assert type(copy) is type(task)
        assert _fields(copy) == _fields(task)


async def test_round_trip_keeps_links_statuses_and_errors(engine: Dagger) -> None:
    decoded = codec.decode(codec.encode(await _failed_order(engine)))
    payment = task_named(decoded, "payment")
    shipping = task_named(decoded, "shipping")
    reserve = task_named(decoded, "reserve")
    charge = task_named(decoded, "charge")

    assert decoded.root_dag == payment.id
    assert payment.next_dags == [shipping.id]
    assert payment.root_dag == reserve.id
    assert reserve.next_dags == [charge.id]
    assert reserve.parent_id == payment.id
    assert payment.parent_id == decoded.id
    assert {task.root_id for task in decoded.tasks.values()} == {decoded.id}
    assert (reserve.status.code, charge.status.code) == ("COMPLETED", "FAILURE")
    assert (charge.error_type, charge.error_message) == ("ValueError", "card declined")
    assert decoded.status.code == "FAILURE"
    assert decoded.status.value == "FAILURE"
    assert decoded.applied_events == ["e-1"]


async def test_round_trip_keeps_runtime_parameters_and_custom_fields(engine: Dagger) -> None:
    decoded = codec.decode(codec.encode(await _failed_order(engine)))

    assert isinstance(decoded, OrderInstance)
    assert decoded.runtime_parameters == {
        "order_id": "o-1",
        "lines": [{"sku": "A", "qty": 2}],
        "note": None,
        "paid": 12.5,
    }
    assert (decoded.customer, decoded.priority, decoded.tags) == ("ada", 2, ["vip"])
    assert decoded.partition_key == "o-1"


async def test_encoding_is_stable(engine: Dagger) -> None:
    raw = codec.encode(await _failed_order(engine))

    assert codec.encode(codec.decode(raw)) == raw


async def test_decoded_copies_share_no_mutable_state(engine: Dagger) -> None:
    raw = codec.encode(await _failed_order(engine))
    first, second = codec.decode(raw), codec.decode(raw)

    first.runtime_parameters["lines"].append("x")
    task_named(first, "reserve").next_dags.append("x")
    first.applied_events.append("x")

    assert second.runtime_parameters["lines"] == [{"sku": "A", "qty": 2}]
    assert task_named(second, "reserve").next_dags == [task_named(second, "charge").id]
    assert second.applied_events == ["e-1"]


def test_defaults_are_left_out_of_the_document() -> None:
    instance = DefaultTemplateDAGInstance(id="i", task_name="n")

    document = codec.to_document(instance)

    assert document == {
        "v": codec.FORMAT_VERSION,
        "c": 0,
        "f": {"id": "i", "task_name": "n", "runtime_parameters": {}, "applied_events": []},
        "t": [],
        "classes": [class_key(DefaultTemplateDAGInstance)],
    }


async def test_a_fresh_task_stores_only_what_differs(engine: Dagger) -> None:
    template = build_template(engine, [("p", [("t", RecordingTask)])])
    instance = await template.create_instance("i", "k", k="v")
    task = task_named(instance, "t")

    entries = codec.to_document(instance)["t"]
    [fields] = [fields for _, fields in entries if fields["id"] == task.id]

    assert set(fields) == {
        "id",
        "task_name",
        "parent_id",
        "root_id",
        "time_created",
        "process_name",
    }


async def test_the_class_table_names_each_class_once(engine: Dagger) -> None:
    template = build_template(engine, [("p", [("a", RecordingTask), ("b", RecordingTask)])])
    instance = await template.create_instance("i", "k", k="v")

    document = codec.to_document(instance)

    assert sorted(document["classes"]) == sorted(
        {class_key(type(instance)), *(class_key(type(t)) for t in instance.tasks.values())}
    )
    assert len(document["classes"]) == len(set(document["classes"])) == 3


def test_the_document_is_plain_json() -> None:
    instance = DefaultTemplateDAGInstance(id="i", task_name="n", runtime_parameters={"a": 1})

    assert json.loads(codec.encode(instance)) == codec.to_document(instance)


class NeverRegistered(DefaultTemplateDAGInstance):
    """Importable, but used by no template."""


@pytest.mark.parametrize(
    "key",
    ["tests.unit.core._canary:Canary", "os:system", class_key(NeverRegistered)],
)
def test_an_unknown_class_key_is_refused_without_importing(key: str) -> None:
    document = codec.to_document(DefaultTemplateDAGInstance(id="i", task_name="n"))
    document["classes"] = [key]

    with pytest.raises(UnknownTaskClass, match=re.escape(key)):
        codec.from_document(document)
    assert "tests.unit.core._canary" not in sys.modules


def test_decoding_uses_only_the_given_registry() -> None:
    raw = codec.encode(DefaultTemplateDAGInstance(id="i", task_name="n"))
    empty = TaskClassRegistry()

    with pytest.raises(UnknownTaskClass):
        codec.decode(raw, empty)
    empty.register(DefaultTemplateDAGInstance)
    assert codec.decode(raw, empty).id == "i"


def test_the_registry_refuses_classes_that_are_not_tasks() -> None:
    with pytest.raises(TypeError, match="not an ITask subclass"):
        TaskClassRegistry().register(dict)  # type: ignore[arg-type]


def test_templates_register_the_classes_they_use(engine: Dagger) -> None:
    build_template(engine, [("p", [("a", RecordingTask)])], template_type=OrderInstance)

    assert class_key(RecordingTask) in task_classes
    assert class_key(OrderInstance) in task_classes


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_another_document_version_is_refused(version: Any) -> None:
    document = codec.to_document(DefaultTemplateDAGInstance(id="i", task_name="n"))
    if version is None:
        del document["v"]
    else:
        document["v"] = version

    with pytest.raises(ValueError, match="version"):
        codec.from_document(document)


def test_a_document_whose_root_is_not_a_workflow_is_refused() -> None:
    document = codec.to_document(DefaultTemplateDAGInstance(id="i", task_name="n"))
    task_classes.register(RecordingTask)
    document["classes"] = [class_key(RecordingTask)]

    with pytest.raises(TypeError, match="not a workflow instance"):
        codec.from_document(document)


def test_stored_fields_a_class_no_longer_has_are_ignored() -> None:
    document = codec.to_document(DefaultTemplateDAGInstance(id="i", task_name="n"))
    document["f"]["removed_field"] = 1
    registry = TaskClassRegistry()
    registry.register(DefaultTemplateDAGInstance)

    decoded = codec.from_document(document, registry)

    assert decoded.id == "i"
    assert not hasattr(decoded, "removed_field")


async def test_root_fields_reads_stored_and_default_fields_without_building(
    engine: Dagger,
) -> None:
    failed = await _failed_order(engine)
    failed.owner_partition = 3
    fresh = await build_template(
        engine, [("p", [("a", RecordingTask)])], name="fresh"
    ).create_instance("order-2", "order_id", order_id="o-2")
    names = ("status", "template_name", "owner_partition", "customer")

    assert codec.root_fields(codec.encode(failed), names) == {
        "status": "FAILURE",
        "template_name": "orders",
        "owner_partition": 3,
        "customer": "ada",
    }
    # Fields left at their defaults are not stored; their defaults are given.
    assert codec.root_fields(codec.encode(fresh), ("status", "owner_partition")) == {
        "status": "NOT_STARTED",
        "owner_partition": -1,
    }


async def test_decoding_builds_the_engine_classes_without_their_init_as_init_would(
    engine: Dagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decoding runs for every engine event; faust's generated __init__ calls a field
    # descriptor per field. Fields whose descriptors store values as given are set
    # directly, and the result must be what __init__ builds.
    instance = await _failed_order(engine)
    raw = codec.encode(instance)
    for cls in {type(instance), *(type(task) for task in instance.tasks.values())}:
        assert codec._direct_build_of(cls).plain.issuperset(cls._options.fields), cls

    direct = codec.decode(raw)
    monkeypatch.setattr(codec, "_direct_build_of", lambda cls: None)
    through_init = codec.decode(raw)

    assert _fields(direct) == _fields(through_init)
    for task_id, task in through_init.tasks.items():
        assert _fields(direct.tasks[task_id]) == _fields(task)


def test_an_optional_field_stored_as_none_decodes_to_its_default_as_with_init() -> None:
    document = codec.to_document(DefaultTemplateDAGInstance(id="i-1", task_name="t"))
    document["f"]["allow_skip_to"] = None  # optional, default False
    document["f"]["lastupdated"] = None

    decoded = codec.from_document(document)

    built = DefaultTemplateDAGInstance(
        id="i-1", task_name="t", allow_skip_to=None, lastupdated=None
    )
    assert (decoded.allow_skip_to, decoded.lastupdated) == (False, 0.0)
    assert (built.allow_skip_to, built.lastupdated) == (False, 0.0)
