"""``foreach`` stages: the same stages once per item, at most ``max-parallel`` at a time.

The items are worked out when the instance is created, from its params (the outputs of
other stages do not exist yet), and each item gets its own branch of tasks, each task
knowing its item (``stage_item``). The branches are the nodes of a graph of needs:
without ``max-parallel`` every branch starts at once; with it, branch ``i`` needs branch
``i - max-parallel`` (``all_done``), so no more than that many run at any time.
``fail-fast`` makes the first failure stop the running branches and skip the others;
otherwise every branch runs and the stage fails after all have ended if one failed.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.declarative._runs import Item, Run
from dagger.declarative._templating import render
from dagger.tasks._needs import NeedsGraphTask, TriggerRule
from dagger.tasks._status import TaskType
from dagger.tasks.task import ITask, ITemplateDAGInstance
from dagger.templates._ids import new_id
from dagger.templates._task_templates import TaskTemplate

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger

_ITEM: ContextVar[Item | None] = ContextVar("dagger_foreach_item", default=None)


def current_item() -> Item | None:
    """The item whose branch is being created, if any."""
    return _ITEM.get()


@contextlib.contextmanager
def _creating(item: Item) -> Iterator[None]:
    token = _ITEM.set(item)
    try:
        yield
    finally:
        _ITEM.reset(token)


class ForeachTemplate(TaskTemplate):
    """Creates a branch of ``body`` per item under one container, then ``then``."""

    def __init__(
        self, app: Dagger, run: Run, body: TaskTemplate, then: TaskTemplate | None
    ) -> None:
        assert run.stage is not None
        self.app = app
        self.run = run
        self.name = run.stage.id
        self.body = body
        self.then = then
        spec = run.stage.body
        self.window: int | None = spec.get("max-parallel")
        self.fail_fast = bool(spec.get("fail-fast", False))
        task_classes.register(NeedsGraphTask)

    def items(self, runtime_parameters: dict[str, Any]) -> list[Any]:
        """The items, rendered from the params; ValueError when they are not a list."""
        assert self.run.stage is not None
        found = render(self.run.stage.body["foreach"], self.run.context(runtime_parameters))
        if not isinstance(found, list):
            raise ValueError(
                f"foreach {self.name!r} of job {self.run.job!r} needs a list, got {found!r}"
            )
        return found

    async def create_instance(
        self,
        id: str,
        parent_id: str,
        parent_name: str,
        partition_key_lookup: str,
        *,
        repartition: bool = True,
        seed: random.Random | None = None,
        workflow_instance: ITemplateDAGInstance[Any, Any] | None = None,
        **kwargs: Any,
    ) -> ITask[Any, Any]:
        """Create the container, one branch per item, and what follows the stage."""
        if workflow_instance is None:
            raise TypeError("a foreach stage is created inside a workflow_instance")
        items = self.items(workflow_instance.runtime_parameters)
        fields: dict[str, Any] = {
            "id": str(id),
            "task_name": self.name,
            "parent_id": str(parent_id),
            "root_id": workflow_instance.id,
            "time_created": time.time(),
            "task_type": TaskType.PARALLEL_COMPOSITE.name,
            "process_name": parent_name,
        }
        node: NeedsGraphTask[Any, Any] = NeedsGraphTask(**fields, graph_fail_fast=self.fail_fast)
        workflow_instance.add_task(node)
        heads: list[str] = []
        for index, value in enumerate(items):
            with _creating({"foreach": self.name, "index": index, "value": value}):
                branch = await self.body.create_instance(
                    new_id(seed),
                    node.id,
                    parent_name,
                    partition_key_lookup,
                    repartition=repartition,
                    seed=seed,
                    workflow_instance=workflow_instance,
                    **kwargs,
                )
            heads.append(branch.id)
        node.graph_nodes = heads
        if self.window is not None:
            # Branch i starts once branch i - window has ended: at most window at a time.
            for index in range(self.window, len(heads)):
                node.graph_needs[heads[index]] = [heads[index - self.window]]
                node.graph_rules[heads[index]] = TriggerRule.ALL_DONE.value
        if self.then is not None:
            after = await self.then.create_instance(
                new_id(seed),
                parent_id,
                parent_name,
                partition_key_lookup,
                repartition=repartition,
                seed=seed,
                workflow_instance=workflow_instance,
                **kwargs,
            )
            node.next_dags.append(after.id)
        return node
