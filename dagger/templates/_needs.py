"""Graphs of needs in templates: nodes that declare ``needs`` on their siblings.

A builder's ``set_needs([...])`` and ``set_trigger_rule(...)`` mark what it builds; a
process builder's ``add_task`` and a template builder's ``add_process`` add siblings
beside the root. When a process (or a template) has more than one node, or its one
node declares needs, its nodes become a :class:`NeedsGraphTemplate`, checked when it is
built: unknown names, cycles and nodes only a cycle leads to raise a ``GraphError`` that
names them. Each instance gets a :class:`~dagger.tasks._needs.NeedsGraphTask` holding
the nodes, whose rules (``dagger.core._kinds.needs``) run them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagger.core._needs import GraphError, GraphProblem, check_graph
from dagger.core._registry import task_classes
from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._needs import NeedsGraphTask, TriggerRule
from dagger.templates._ids import new_id
from dagger.templates._process_templates import IProcessTemplateDAG
from dagger.templates._task_templates import TaskTemplate

if TYPE_CHECKING:
    from dagger.service._dagger import Dagger


def followers(template: TaskTemplate) -> list[TaskTemplate]:
    """The templates that follow ``template`` in its chain (``set_next`` / ``set_next_process``)."""
    found: list[TaskTemplate] = []
    pending: list[TaskTemplate] = [template]
    while pending:
        current = pending.pop()
        after = list(getattr(current, "task_dag_template", ()))
        after.extend(getattr(current, "next_process_dag", ()))
        found.extend(after)
        pending.extend(after)
    return found


def check_not_chained(where: str, nodes: Sequence[TaskTemplate]) -> None:
    """Raise when a template that follows another in a chain declares needs.

    Needs are between the nodes of one process (or template): a task linked after
    another with ``set_next`` runs when that one ends, so needs of its own would mean
    nothing.
    """
    problems = [
        GraphProblem(
            follower.name,
            "declares needs but follows another in a chain; add it as a node "
            "(add_task / add_process) instead of linking it with set_next",
        )
        for node in nodes
        for follower in followers(node)
        if follower.needs
    ]
    if problems:
        raise GraphError(where, problems)


def needs_graph(
    app: Dagger, name: str, nodes: Sequence[TaskTemplate], noun: str
) -> TaskTemplate | None:
    """The root ``nodes`` make: the one node itself, a checked graph, or None (no node)."""
    check_not_chained(f"{noun}s of {name!r}", nodes)
    if not nodes:
        return None
    if len(nodes) == 1 and not nodes[0].needs:
        return nodes[0]
    return NeedsGraphTemplate(app, name, list(nodes), noun)


class NeedsGraphTemplate(IProcessTemplateDAG):
    """The nodes of a process or a template that run by their needs and trigger rules.

    A node is a task template (inside a process) or a process template (in a template),
    with the chain that follows it; its ``needs`` name sibling nodes.
    """

    def __init__(self, app: Dagger, name: str, nodes: list[TaskTemplate], noun: str) -> None:
        problems = check_graph([(node.name, node.needs) for node in nodes], noun)
        if problems:
            raise GraphError(f"the {noun}s of {name!r}", problems)
        # Named apart from the process (or template) it belongs to.
        super().__init__([], app, f"{name}_needs", NeedsGraphTask, None, 0)
        self.nodes = list(nodes)
        self.noun = noun
        # Named processes of a template are found through this attribute too.
        self.child_process_task_templates = [
            node for node in nodes if isinstance(node, IProcessTemplateDAG)
        ]
        task_classes.register(NeedsGraphTask)

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
        """Create the graph and every node (each with the chain that follows it)."""
        if workflow_instance is None:
            raise TypeError("a graph of needs is created inside a workflow_instance")
        graph: NeedsGraphTask[Any, Any] = NeedsGraphTask(
            id=str(id),
            task_name=self.name,
            parent_id=str(parent_id),
            root_id=workflow_instance.id,
            time_created=time.time(),
            process_name=parent_name,
        )
        workflow_instance.add_task(graph)
        ids: dict[str, str] = {}
        for node in self.nodes:
            created = await node.create_instance(
                new_id(seed),
                graph.id,
                parent_name,
                partition_key_lookup,
                repartition=repartition,
                seed=seed,
                workflow_instance=workflow_instance,
                **kwargs,
            )
            ids[node.name] = created.id
            graph.graph_nodes.append(created.id)
        for node in self.nodes:
            if node.needs:
                graph.graph_needs[ids[node.name]] = [ids[need] for need in node.needs]
            if node.trigger_rule is not TriggerRule.ALL_SUCCESS:
                graph.graph_rules[ids[node.name]] = node.trigger_rule.value
        return graph
