"""The dashboard's workflow graph: nodes and edges from an instance document, laid out in layers.

:func:`graph_of` turns the ``tasks`` of an instance document (the API's JSON, so an
instance a peer served draws the same) into nodes and edges; :func:`layout` places them
in layers, left to right, for the SVG the page draws. The edges come from a list of
*edge rules* (:data:`EDGE_RULES`), each a function from the tasks to edges: today's are
sequences (``next_dags``), the start of a process or a parallel branch, the join after
it, and the branches of decisions. A kind of edge the engine gains later (a task's
``needs``) is one more rule; the layout and the drawing take any edge kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NODE_WIDTH = 168
NODE_HEIGHT = 46
LAYER_GAP = 56
ROW_GAP = 18
MARGIN = 12

STATUS_COLOURS = {
    "NOT_STARTED": "#e5e7eb",
    "SUBMITTED": "#e0e7ff",
    "EXECUTING": "#93c5fd",
    "COMPLETED": "#86efac",
    "FAILURE": "#fca5a5",
    "SKIPPED": "#fde68a",
    "STOPPED": "#d8b4fe",
}
"""The fill of a node (and a timeline bar) by its status."""


@dataclass
class Node:
    """A process or task of the graph, where it is drawn and what it shows."""

    id: str
    label: str
    kind: str
    """``process``, ``parallel``, ``decision``, ``listener``, ``trigger`` or ``task``."""
    status: str
    detail: str = ""
    """A second line: what a listener waits on, a parallel's join."""
    layer: int = 0
    row: int = 0
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Edge:
    """An arrow from ``source`` to ``target``; ``kind`` says why it is there."""

    source: str
    target: str
    kind: str
    """``sequence``, ``start``, ``branch``, ``join``, ``decision`` (and later ``needs``)."""
    label: str = ""


@dataclass
class Graph:
    """The laid-out graph: nodes with their places, edges, and the drawing's size."""

    nodes: list[Node]
    edges: list[Edge]
    width: int = 0
    height: int = 0
    by_id: dict[str, Node] = field(default_factory=dict)

    def path(self, edge: Edge) -> str:
        """The SVG path of ``edge``: a curve from the right of its source to its target."""
        source, target = self.by_id[edge.source], self.by_id[edge.target]
        x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
        x2, y2 = target.x, target.y + NODE_HEIGHT // 2
        if x2 <= x1:  # a backward edge (none today) loops under the nodes
            low = max(source.y, target.y) + NODE_HEIGHT + ROW_GAP // 2
            return f"M{x1},{y1} C{x1 + 30},{low} {x2 - 30},{low} {x2},{y2}"
        middle = (x1 + x2) // 2
        return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"


Tasks = Mapping[str, Mapping[str, Any]]
EdgeRule = Callable[[Tasks], Iterable[Edge]]


def _kind(task: Mapping[str, Any]) -> str:
    task_type = task.get("task_type")
    if task_type == "SUB_DAG":
        return "process"
    if task_type == "PARALLEL_COMPOSITE":
        return "parallel"
    if "branch_names" in task:
        return "decision"
    if task.get("correlatable_key"):
        return "listener"
    if "time_to_execute" in task:
        return "trigger"
    return "task"


def _heads(task: Mapping[str, Any]) -> list[str]:
    """The first tasks a container runs: a process's first task, a parallel's branches."""
    if task.get("task_type") == "PARALLEL_COMPOSITE":
        return [str(head) for head in task.get("parallel_child_task_list") or []]
    if task.get("task_type") == "SUB_DAG" and task.get("root_dag"):
        return [str(task["root_dag"])]
    return []


def _tails(tasks: Tasks, head: str, seen: set[str] | None = None) -> list[str]:
    """The tasks the flow leaves from once the chain starting at ``head`` is done."""
    seen = set() if seen is None else seen
    found: list[str] = []
    pending = [head]
    while pending:
        current = pending.pop()
        if current in seen or current not in tasks:
            continue
        seen.add(current)
        task = tasks[current]
        following = [str(next_id) for next_id in task.get("next_dags") or []]
        if following:
            pending.extend(following)
            continue
        inner = _heads(task)
        if inner:
            for inner_head in inner:
                found.extend(_tails(tasks, inner_head, seen))
        else:
            found.append(current)
    return found


def sequence_edges(tasks: Tasks) -> Iterable[Edge]:
    """A task to the next one (``next_dags``); a container's last tasks to its next."""
    for task_id, task in tasks.items():
        following = [str(next_id) for next_id in task.get("next_dags") or []]
        if not following or task.get("task_type") == "ROOT":
            continue
        if "branch_names" in task:
            continue  # a decision's next tasks are its branches: decision_edges
        inner = _heads(task)
        sources = [tail for head in inner for tail in _tails(tasks, head)] if inner else [task_id]
        kind = "join" if inner else "sequence"
        for source in sources or [task_id]:
            for target in following:
                yield Edge(source, target, kind)


def container_edges(tasks: Tasks) -> Iterable[Edge]:
    """A process to its first task; a parallel task to the head of each branch."""
    for task_id, task in tasks.items():
        if task.get("task_type") == "ROOT":
            continue
        kind = "branch" if task.get("task_type") == "PARALLEL_COMPOSITE" else "start"
        for head in _heads(task):
            yield Edge(task_id, head, kind)


def decision_edges(tasks: Tasks) -> Iterable[Edge]:
    """A decision to the first task of each branch, labelled with the branch's name."""
    for task_id, task in tasks.items():
        if "branch_names" not in task:
            continue
        names = {str(head): str(name) for name, head in (task.get("branch_names") or {}).items()}
        for target in task.get("next_dags") or []:
            yield Edge(task_id, str(target), "decision", names.get(str(target), ""))


EDGE_RULES: list[EdgeRule] = [sequence_edges, container_edges, decision_edges]
"""The edge rules :func:`graph_of` applies; a new kind of edge is one more function here."""


def graph_of(
    tasks: Tasks,
    waiting: Iterable[Mapping[str, Any]] = (),
    rules: Iterable[EdgeRule] = EDGE_RULES,
) -> Graph:
    """The laid-out graph of an instance document's ``tasks`` (the root left out).

    ``waiting`` is the document's ``waiting_for``: a listener waiting for a message shows
    the key and value it waits on.
    """
    waits = {str(wait["task_id"]): wait for wait in waiting if wait.get("kind") == "message"}
    nodes = [
        _node(task_id, task, waits.get(task_id))
        for task_id, task in tasks.items()
        if task.get("task_type") != "ROOT"
    ]
    known = {node.id for node in nodes}
    edges: list[Edge] = []
    for rule in rules:
        for edge in rule(tasks):
            if edge.source in known and edge.target in known and edge not in edges:
                edges.append(edge)
    return layout(nodes, edges)


def _node(task_id: str, task: Mapping[str, Any], wait: Mapping[str, Any] | None) -> Node:
    kind = _kind(task)
    status = task.get("status") or {}
    code = str(status.get("code") if isinstance(status, Mapping) else status)
    detail = ""
    if kind == "listener":
        key = task.get("correlatable_key")
        value = wait.get("value") if wait else task.get("correlatable_key_value")
        detail = f"{key}={value}" if value is not None else f"waits on {key}"
    elif kind == "parallel":
        detail = "all branches" if task.get("operator_type") == "JOIN_ALL" else "first branch"
    label = str(task.get("task_name") or task_id)
    return Node(task_id, label, kind, code, detail)


def layout(nodes: list[Node], edges: list[Edge]) -> Graph:
    """Place ``nodes`` in layers (longest path from a source) and rows, left to right.

    Rows follow the order in which a walk from the sources meets the nodes, then one
    pass sorts each layer by the mean row of its nodes' sources, which keeps the
    branches of a parallel or a decision side by side and the edges mostly straight.
    """
    by_id = {node.id: node for node in nodes}
    incoming: dict[str, list[str]] = {node.id: [] for node in nodes}
    outgoing: dict[str, list[str]] = {node.id: [] for node in nodes}
    for edge in edges:
        incoming[edge.target].append(edge.source)
        outgoing[edge.source].append(edge.target)
    order = _walk_order(nodes, incoming, outgoing)
    for node_id in order:
        node = by_id[node_id]
        node.layer = max((by_id[source].layer + 1 for source in incoming[node_id]), default=0)
    layers: dict[int, list[Node]] = {}
    for node_id in order:
        layers.setdefault(by_id[node_id].layer, []).append(by_id[node_id])
    for number in sorted(layers):
        placed = layers[number]
        if number:
            placed.sort(key=lambda node: _mean_source_row(node, incoming, by_id))
        for row, node in enumerate(placed):
            node.row = row
    tallest = max((len(placed) for placed in layers.values()), default=0)
    for node in nodes:
        column = layers[node.layer]
        offset = (tallest - len(column)) * (NODE_HEIGHT + ROW_GAP) // 2
        node.x = MARGIN + node.layer * (NODE_WIDTH + LAYER_GAP)
        node.y = MARGIN + offset + node.row * (NODE_HEIGHT + ROW_GAP)
    width = MARGIN * 2 + len(layers) * (NODE_WIDTH + LAYER_GAP) - LAYER_GAP if layers else 0
    height = MARGIN * 2 + tallest * (NODE_HEIGHT + ROW_GAP) - ROW_GAP if tallest else 0
    return Graph(nodes, edges, max(width, 0), max(height, 0), by_id)


def _walk_order(
    nodes: list[Node], incoming: Mapping[str, list[str]], outgoing: Mapping[str, list[str]]
) -> list[str]:
    """A topological order (Kahn's), sources first in document order; cycles appended."""
    remaining = {node.id: len(incoming[node.id]) for node in nodes}
    ready = [node.id for node in nodes if remaining[node.id] == 0]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for target in outgoing[current]:
            remaining[target] -= 1
            if remaining[target] == 0:
                ready.append(target)
    placed = set(order)
    order.extend(node.id for node in nodes if node.id not in placed)
    return order


def _mean_source_row(
    node: Node, incoming: Mapping[str, list[str]], by_id: Mapping[str, Node]
) -> float:
    rows = [by_id[source].row for source in incoming[node.id] if by_id[source].layer < node.layer]
    return sum(rows) / len(rows) if rows else float(node.row)
