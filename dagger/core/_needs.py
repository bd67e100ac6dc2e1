"""The rules of ``needs``: whether a node runs, waits or is skipped, and graph checks.

Pure functions of names and statuses. :func:`verdict` judges one node from the outcomes
of its needs; :func:`check_graph` finds what makes a set of nodes unrunnable (unknown
names, cycles, nodes that only a cycle leads to) before any instance exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from dagger.tasks._needs import TriggerRule
from dagger.tasks._status import TaskStatusEnum as Status


class Verdict(Enum):
    """What becomes of a node that has not started."""

    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"


_FAILED = frozenset({Status.FAILURE, Status.STOPPED})


def verdict(rule: TriggerRule, outcomes: Sequence[str | None]) -> Verdict:
    """Judge a node by ``rule`` from the outcomes of its needs (None: not ended yet).

    A node with no needs runs at once, whatever its rule.
    """
    if not outcomes:
        return Verdict.RUN
    pending = any(outcome is None for outcome in outcomes)
    succeeded = any(outcome == Status.COMPLETED for outcome in outcomes)
    failed = any(outcome in _FAILED for outcome in outcomes)
    skipped = any(outcome == Status.SKIPPED for outcome in outcomes)
    ended = Verdict.WAIT if pending else Verdict.RUN
    if rule is TriggerRule.ALL_SUCCESS:
        return Verdict.SKIP if failed or skipped else ended
    if rule is TriggerRule.ALL_DONE:
        return ended
    if rule is TriggerRule.ONE_SUCCESS:
        return Verdict.RUN if succeeded else (Verdict.WAIT if pending else Verdict.SKIP)
    if rule is TriggerRule.ALL_FAILED:
        return Verdict.SKIP if succeeded or skipped else ended
    if rule is TriggerRule.ONE_FAILED:
        return Verdict.RUN if failed else (Verdict.WAIT if pending else Verdict.SKIP)
    if rule is TriggerRule.NONE_FAILED:
        return Verdict.SKIP if failed else ended
    assert rule is TriggerRule.NONE_SKIPPED
    return Verdict.SKIP if skipped else ended


@dataclass(frozen=True)
class GraphProblem:
    """One thing wrong with a graph: the node, the index of the need at fault, the text."""

    node: str
    message: str
    need_index: int | None = None


class GraphError(ValueError):
    """A graph of needs that cannot run; ``problems`` names every node at fault."""

    def __init__(self, where: str, problems: Sequence[GraphProblem]) -> None:
        self.problems = list(problems)
        lines = "; ".join(_describe(problem) for problem in self.problems)
        super().__init__(f"{where}: {lines}")


def _describe(problem: GraphProblem) -> str:
    if problem.need_index is None:
        return f"{problem.node!r} {problem.message}"
    return f"{problem.node!r} needs[{problem.need_index}]: {problem.message}"


def check_graph(
    needs: Sequence[tuple[str, Sequence[str]]], noun: str = "node"
) -> list[GraphProblem]:
    """Every problem of the graph whose nodes are ``needs`` (name, names it needs), in order.

    ``noun`` names the nodes in the messages ("process", "task", "job").
    """
    problems: list[GraphProblem] = []
    names: dict[str, Sequence[str]] = {}
    for name, wanted in needs:
        if name in names:
            problems.append(GraphProblem(name, f"is the name of two {noun}s: rename one"))
        names[name] = wanted
    known: dict[str, list[str]] = {}
    for name, wanted in names.items():
        kept: list[str] = []
        for index, need in enumerate(wanted):
            if need not in names:
                problems.append(GraphProblem(name, f"unknown {noun} {need!r}", index))
            elif need in kept:
                problems.append(GraphProblem(name, f"names {need!r} twice", index))
            else:
                kept.append(need)
        known[name] = kept
    problems.extend(_cycles(known, noun))
    return problems


def _cycles(needs: Mapping[str, list[str]], noun: str) -> list[GraphProblem]:
    """The cycles of ``needs``, and the nodes that could only run after a cycle."""
    order = set(topological_order(needs))
    left = {name: wanted for name, wanted in needs.items() if name not in order}
    on_cycle: set[str] = set()
    problems: list[GraphProblem] = []
    for name in left:
        if name in on_cycle:
            continue
        cycle = _shortest_cycle(name, left)
        if cycle is None:
            continue
        on_cycle.update(cycle)
        path = " -> ".join(repr(node) for node in [*cycle, cycle[0]])
        problems.append(GraphProblem(name, f"is on a cycle of needs: {path}"))
    for name, wanted in left.items():
        if name not in on_cycle:
            blocked = ", ".join(repr(need) for need in wanted if need in left)
            problems.append(
                GraphProblem(
                    name,
                    f"is unreachable: it needs {blocked}, which can only run after a "
                    f"cycle, so no {noun} can start it",
                )
            )
    return problems


def _shortest_cycle(start: str, needs: Mapping[str, list[str]]) -> list[str] | None:
    """The shortest path of needs from ``start`` back to itself, or None (no cycle)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for need in needs[node]:
                if need not in needs:
                    continue
                if need == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return list(reversed(path))
                if need not in came_from:
                    came_from[need] = node
                    following.append(need)
        frontier = following
    return None


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """The nodes in an order where each comes after its needs; nodes on cycles are left out.

    Among nodes ready at the same time the declaration order is kept.
    """
    waiting = {name: {need for need in wanted if need in needs} for name, wanted in needs.items()}
    order: list[str] = []
    ready = [name for name, wanted in waiting.items() if not wanted]
    while ready:
        name = ready.pop(0)
        order.append(name)
        for other, wanted in waiting.items():
            if name in wanted:
                wanted.discard(name)
                if not wanted:
                    ready.append(other)
    return order
