"""The dashboard's graph: edges from an instance document's tasks, and the layered layout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dagger.web._ui_graph import EDGE_RULES, Edge, graph_of


def _task(name: str, **fields: Any) -> dict[str, Any]:
    return {"task_name": name, "status": {"code": "NOT_STARTED"}, "task_type": "LEAF", **fields}


TASKS = {
    "root": _task("flow", task_type="ROOT", root_dag="P"),
    "P": _task("P", task_type="SUB_DAG", root_dag="a", next_dags=["Q"]),
    "a": _task("a", next_dags=["par"]),
    "par": _task(
        "par", task_type="PARALLEL_COMPOSITE", parallel_child_task_list=["l", "r"], next_dags=["z"]
    ),
    "l": _task("l"),
    "r": _task("r"),
    "z": _task("z"),
    "Q": _task("Q", task_type="SUB_DAG", root_dag="d"),
    "d": _task("d", branch_names={"yes": "y", "no": "n"}, next_dags=["y", "n"]),
    "y": _task("y"),
    "n": _task("n", correlatable_key="order_id"),
}


def test_the_edges_are_sequences_branches_joins_and_decisions() -> None:
    graph = graph_of(TASKS)

    edges = {(edge.source, edge.target, edge.kind, edge.label) for edge in graph.edges}
    assert edges == {
        ("P", "a", "start", ""),
        ("a", "par", "sequence", ""),
        ("par", "l", "branch", ""),
        ("par", "r", "branch", ""),
        ("l", "z", "join", ""),
        ("r", "z", "join", ""),
        ("z", "Q", "join", ""),  # the last task of P leads to the next process
        ("Q", "d", "start", ""),
        ("d", "y", "decision", "yes"),
        ("d", "n", "decision", "no"),
    }
    assert "root" not in graph.by_id


def test_every_edge_goes_left_to_right_and_parallel_branches_share_a_layer() -> None:
    graph = graph_of(TASKS)
    layer = {node.id: node.layer for node in graph.nodes}

    assert all(layer[edge.source] < layer[edge.target] for edge in graph.edges)
    assert layer["l"] == layer["r"] and graph.by_id["l"].y != graph.by_id["r"].y
    assert graph.width > 0 and graph.height > 0


def test_a_listener_shows_the_key_it_waits_on() -> None:
    waits = [{"kind": "message", "task_id": "n", "key": "order_id", "value": "o-7"}]

    node = graph_of(TASKS, waits).by_id["n"]

    assert (node.kind, node.detail) == ("listener", "order_id=o-7")


def test_a_new_kind_of_edge_is_one_more_rule() -> None:
    def needs_edges(tasks: Mapping[str, Mapping[str, Any]]) -> Iterable[Edge]:
        for task_id, task in tasks.items():
            for needed in task.get("needs") or []:
                yield Edge(needed, task_id, "needs")

    tasks = {**TASKS, "y": _task("y", needs=["z"])}

    graph = graph_of(tasks, rules=[*EDGE_RULES, needs_edges])

    assert Edge("z", "y", "needs") in graph.edges
    assert graph.by_id["y"].layer > graph.by_id["z"].layer
