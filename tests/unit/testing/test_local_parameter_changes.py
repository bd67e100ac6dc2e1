"""A task's parameters before and after, recorded by the owner and stored with the task."""

from __future__ import annotations

import uuid

from dagger.core import _codec as codec
from dagger.testing import LocalEngine
from dagger.web._documents import instance_document
from tests.unit._listener_workflows import new_engine
from tests.unit._workflows import task_named
from tests.unit.testing.test_local_rerun import _template


async def test_each_task_keeps_what_it_changed_and_a_rerun_records_its_new_run() -> None:
    async with LocalEngine(new_engine()) as local:
        instance = await _template(local.engine).create_instance(
            uuid.uuid4(), "order_id", submit_task=True, order_id="o-1", limit=5
        )
        failed = local.get_instance(instance.id)
        assert failed is not None
        charge = task_named(failed, "charge")
        assert task_named(failed, "reserve").parameter_changes == {
            "runs": {"after": {"reserve": 1}}
        }
        # It raised after counting its run: what it changed is kept all the same.
        assert charge.parameter_changes == {
            "runs": {"before": {"reserve": 1}, "after": {"reserve": 1, "charge": 1}}
        }

        await local.engine.rerun_instance(instance.id, "charge", {"limit": 20})
        stored = local.get_instance(instance.id)

    assert stored is not None and stored.status.code == "COMPLETED"
    # The rerun forgot the first run's record: this one saw the first run's count.
    assert task_named(stored, "charge").parameter_changes == {
        "runs": {"before": {"reserve": 1, "charge": 1}, "after": {"reserve": 1, "charge": 2}}
    }
    document = instance_document(stored)
    shown = next(t for t in document["tasks"].values() if t["task_name"] == "charge")
    assert shown["parameter_changes"]["runs"]["after"] == {"reserve": 1, "charge": 2}


async def test_a_document_stored_without_the_record_decodes_with_an_empty_one() -> None:
    async with LocalEngine(new_engine()) as local:
        instance = await _template(local.engine).create_instance(
            uuid.uuid4(), "order_id", submit_task=True, order_id="o-1", limit=50
        )
        stored = local.get_instance(instance.id)
    assert stored is not None
    document = codec.to_document(stored)
    removed = [fields.pop("parameter_changes", None) for _, fields in document["t"]]
    assert sum(change is not None for change in removed) == 2  # the two tasks changed ``runs``
    decoded = codec.from_document(document)
    assert {t.task_name: t.parameter_changes for t in decoded.tasks.values()} == {
        "order": {},
        "reserve": {},
        "charge": {},
    }
