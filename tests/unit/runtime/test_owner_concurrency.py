"""The owner under turns: a hook that awaits holds back its own instance's events only.

A real :class:`InstanceOwner` over dict stores (the harness of ``test_owner``), with each
event started as the engine topic's agent starts it (:meth:`Turns.start`).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from dagger.core import _codec as codec
from dagger.core._events import InstanceCreated, StopRequested
from dagger.service.services import Dagger
from dagger.tasks.task import ExecutorTask, ITemplateDAGInstance
from tests.unit._control_flow_workflows import chain, one_process
from tests.unit.runtime.test_owner import PARTITION, Harness

GATES: dict[str, asyncio.Event] = {}
"""order_id -> the gate its tasks wait at (no gate: they run through)."""


class GatedTask(ExecutorTask[str, Any]):
    """Waits at its order's gate, then appends its name to ``runtime_parameters['ran']``."""

    async def execute(
        self,
        runtime_parameters: dict[str, Any],
        workflow_instance: ITemplateDAGInstance[str, Any] | None = None,
    ) -> None:
        gate = GATES.get(runtime_parameters["order_id"])
        if gate is not None:
            await gate.wait()
        runtime_parameters.setdefault("ran", []).append(
            self.task_name.removesuffix("_executor_task")
        )


async def test_an_awaiting_hook_holds_back_its_own_instance_and_no_other(engine: Dagger) -> None:
    harness = Harness()
    owner = harness.owner
    template = one_process(engine, chain(engine, "a", "b", task_type=GatedTask))

    async def created(instance_id: str, order_id: str) -> InstanceCreated:
        instance = await template.create_instance(
            instance_id, "order_id", seed=random.Random(0), order_id=order_id
        )
        return InstanceCreated(f"c-{instance_id}", instance_id, codec.to_document(instance), True)

    GATES["A"] = asyncio.Event()
    try:
        create_a = await owner.turns.start(owner.handle(await created("i-a", "A"), PARTITION))
        stop_a = await owner.turns.start(owner.handle(StopRequested("s-a", "i-a"), PARTITION))
        create_b = await owner.turns.start(owner.handle(await created("i-b", "B"), PARTITION))
        assert create_b is None  # it waited for nothing: applied while A's hook awaits

        b = owner.load("i-b")
        assert b is not None and b.status.code == "COMPLETED"
        assert owner.load("i-a") is None  # its first event is not done: nothing stored
        assert not stop_a.done()  # it waits for the create, not reads a state before it

        assert create_a is not None and stop_a is not None
        GATES["A"].set()
        await asyncio.wait_for(asyncio.gather(create_a, stop_a), 10)
    finally:
        GATES.clear()
    a = owner.load("i-a")
    assert a is not None
    assert (a.status.code, a.runtime_parameters["ran"]) == ("COMPLETED", ["a", "b"])
    assert owner.turns.waiting_instances() == 0
