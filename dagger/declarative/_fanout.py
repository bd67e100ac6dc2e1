"""Bounded fan-out: the same stages once per item, at most ``max-parallel`` at a time.

A ``foreach`` stage (an item per value of its list) and a job with a ``strategy.matrix``
(an item per combination) are both built here. Their items are worked out when the
instance is created, from its params (the outputs of other stages do not exist yet),
and each item gets its own branch of tasks, each task knowing its item (``stage_item``).
The branches are the nodes of a graph of needs: without a window every branch starts at
once; with ``max-parallel`` = n, branch ``i`` needs branch ``i - n`` (``all_done``), so
no more than n run at any time. ``fail-fast`` makes the first failure stop the running
branches and skip the others; otherwise every branch runs and the fan-out fails after
all have ended if one failed.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from dagger.core._registry import task_classes
from dagger.declarative._runs import Item
from dagger.tasks._needs import NeedsGraphTask, TriggerRule
from dagger.tasks._status import TaskType
from dagger.tasks.task import ITask, ITemplateDAGInstance
from dagger.templates._ids import new_id
from dagger.templates._task_templates import TaskTemplate

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger

_ITEM: ContextVar[Item | None] = ContextVar("dagger_fanout_item", default=None)


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


class FanOutTemplate(TaskTemplate):
    """Creates a branch of ``body`` per item under one container, then ``then``.

    Subclasses say what the items are (:meth:`items`) and may give the container a class
    of their own (``node_class``) and fields (:meth:`node_fields`).
    """

    node_class: type[NeedsGraphTask[Any, Any]] = NeedsGraphTask

    def __init__(
        self,
        app: Dagger,
        name: str,
        body: TaskTemplate,
        then: TaskTemplate | None,
        *,
        window: int | None,
        fail_fast: bool,
    ) -> None:
        self.app = app
        self.name = name
        self.body = body
        self.then = then
        self.window = window
        self.fail_fast = fail_fast
        task_classes.register(self.node_class)

    def items(self, workflow_instance: ITemplateDAGInstance[Any, Any]) -> list[Item]:
        """The items of ``workflow_instance``, in order (each kind's class overrides it)."""
        raise NotImplementedError(type(self).__name__)

    def node_fields(self) -> dict[str, Any]:
        """Fields of the container besides the graph's own."""
        return {}

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
        """Create the container, one branch per item, and what follows."""
        if workflow_instance is None:
            raise TypeError(f"{self.name!r} is created inside a workflow_instance")
        items = self.items(workflow_instance)
        node = self.node_class(
            id=str(id),
            task_name=self.name,
            parent_id=str(parent_id),
            root_id=workflow_instance.id,
            time_created=time.time(),
            task_type=TaskType.PARALLEL_COMPOSITE.name,
            process_name=parent_name,
            graph_fail_fast=self.fail_fast,
            **self.node_fields(),
        )
        workflow_instance.add_task(node)
        heads: list[str] = []
        for item in items:
            with _creating(item):
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
