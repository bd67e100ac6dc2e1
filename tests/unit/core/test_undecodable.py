"""Renamed and missing task classes: aliases in the registry, and what the codec says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dagger.core import _codec as codec
from dagger.core import _undecodable as undecodable
from dagger.core._registry import TaskClassRegistry, class_key
from dagger.exceptions.exceptions import UndecodableInstanceError, UnknownTaskClass
from dagger.tasks._aliases import TaskClassAliases
from dagger.tasks.task import DefaultTemplateDAGInstance, ExecutorTask, TaskStatus, TaskStatusEnum

OLD = "billing.tasks:ChargeCard"
"""Where the task class was before it was renamed."""


class ChargePayment(ExecutorTask[str, Any]):
    """The renamed class."""

    amount: int = 0

    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: Any = None
    ) -> None:
        """Nothing to do."""


def _stored(task_key: str = OLD, root_key: str | None = None) -> bytes:
    """A stored instance whose task is named ``task_key``, as an older version stored it."""
    root = DefaultTemplateDAGInstance(
        id="order-7",
        task_name="orders",
        template_name="orders",
        owner_partition=3,
        status=TaskStatus.of(TaskStatusEnum.EXECUTING),
        runtime_parameters={"order_id": "o-7"},
    )
    task = ChargePayment(id="t-1", task_name="charge", amount=12, parent_id="order-7")
    root.tasks[task.id] = task
    document = codec.to_document(root)
    document["classes"] = [
        root_key or key if key == class_key(DefaultTemplateDAGInstance) else task_key
        for key in document["classes"]
    ]
    return json.dumps(document).encode()


def _registry(aliases: TaskClassAliases) -> TaskClassRegistry:
    registry = TaskClassRegistry(aliases)
    registry.register(DefaultTemplateDAGInstance)
    registry.register(ChargePayment)
    return registry


def test_an_old_path_decodes_to_the_class_aliased_to_it() -> None:
    aliases = TaskClassAliases()
    aliases.add("billing.tasks.ChargeCard", ChargePayment)

    instance = codec.decode(_stored(), _registry(aliases))

    task = instance.tasks["t-1"]
    assert type(task) is ChargePayment
    assert (task.amount, task.task_name) == (12, "charge")  # type: ignore[attr-defined]
    # Stored again, it names the new class: the alias is needed until each has changed.
    assert json.loads(codec.encode(instance))["classes"][1] == class_key(ChargePayment)


def test_without_the_alias_the_error_names_the_class_and_the_fix() -> None:
    with pytest.raises(UnknownTaskClass, match="register_alias") as raised:
        codec.decode(_stored(), _registry(TaskClassAliases()))

    assert raised.value.class_path == OLD
    assert "'billing.tasks.ChargeCard'" in str(raised.value)


def test_an_alias_leads_only_to_a_class_a_template_uses() -> None:
    aliases = TaskClassAliases()
    aliases.add(OLD, ChargePayment)
    registry = TaskClassRegistry(aliases)
    registry.register(DefaultTemplateDAGInstance)  # ChargePayment is not

    with pytest.raises(UnknownTaskClass, match=r"an alias of .*ChargePayment"):
        codec.decode(_stored(), registry)


def test_a_registered_class_wins_over_an_alias_of_its_path() -> None:
    aliases = TaskClassAliases()
    aliases.add(class_key(DefaultTemplateDAGInstance).replace("Default", "Old"), ChargePayment)
    registry = _registry(aliases)

    assert registry.resolve(class_key(ChargePayment)) is ChargePayment
    assert registry.resolve(class_key(DefaultTemplateDAGInstance)) is DefaultTemplateDAGInstance


def test_decode_stored_says_which_instance_and_which_class() -> None:
    with pytest.raises(UndecodableInstanceError) as raised:
        undecodable.decode_stored(_stored(), _registry(TaskClassAliases()))

    error = raised.value
    assert (error.instance_id, error.missing_class, error.error_type) == (
        "order-7",
        OLD,
        "UnknownTaskClass",
    )
    assert str(error).startswith("instance order-7 cannot be decoded: UnknownTaskClass: ")


def test_fields_that_no_longer_fit_are_undecodable_too() -> None:
    document = json.loads(_stored(class_key(ChargePayment)))
    document["t"][0][1]["status"] = "NO_SUCH_STATUS"

    with pytest.raises(UndecodableInstanceError) as raised:
        undecodable.decode_stored(json.dumps(document), _registry(TaskClassAliases()))
    assert (raised.value.instance_id, raised.value.missing_class) == ("order-7", None)


def test_the_root_fields_read_even_when_the_root_class_is_gone() -> None:
    raw = _stored(root_key="orders.model:OrderInstance")

    fields = undecodable.readable_fields(raw, _registry(TaskClassAliases()))

    assert fields["id"] == "order-7"
    assert fields["template_name"] == "orders"
    assert (fields["status"], fields["owner_partition"]) == ("EXECUTING", 3)
    assert fields["runtime_parameters"] == {"order_id": "o-7"}
