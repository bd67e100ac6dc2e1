"""Dependencies between nodes: trigger rules and the graph container that holds them.

A process of a workflow, or a task of a process, may declare ``needs`` on its siblings.
Such siblings are the nodes of a :class:`NeedsGraphTask`, the container that starts each
node once its trigger rule is met, side by side with every other node whose rule is met.
The rules themselves live in the core (``dagger.core._needs``, ``dagger.core._kinds.needs``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from dagger.tasks._base import ITask, ITemplateDAGInstance
from dagger.tasks._status import KT, VT, TaskType


class TriggerRule(str, Enum):
    """When a node with ``needs`` runs, judged on how its needs ended.

    A need *succeeded* when it COMPLETED, *failed* when it ended FAILURE or STOPPED, and
    was *skipped* when it ended SKIPPED. A rule that can no longer be met makes the node
    SKIPPED, which its own dependents see in turn (the skip propagates).
    """

    ALL_SUCCESS = "all_success"
    """Every need succeeded (the default)."""
    ALL_DONE = "all_done"
    """Every need ended, however."""
    ONE_SUCCESS = "one_success"
    """As soon as one need succeeded."""
    ALL_FAILED = "all_failed"
    """Every need failed."""
    ONE_FAILED = "one_failed"
    """As soon as one need failed."""
    NONE_FAILED = "none_failed"
    """Every need ended and none failed (succeeded or skipped)."""
    NONE_SKIPPED = "none_skipped"
    """Every need ended and none was skipped."""

    @classmethod
    def of(cls, value: Any) -> TriggerRule:
        """The rule ``value`` names (a member or its text); a ValueError lists the rules."""
        if isinstance(value, TriggerRule):
            return value
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(rule.value for rule in cls)
            raise ValueError(f"unknown trigger rule {value!r}; use one of: {names}") from None


NEEDS_NOT_MET = "NeedsNotMet"
"""The error type recorded on a node SKIPPED because its trigger rule can no longer be met."""


class NeedsGraphTask(ITask[KT, VT]):
    """The nodes of a process (or of a workflow) that declare needs on one another.

    ``graph_nodes`` are the ids of the nodes' first tasks (or processes), in declaration
    order; ``graph_needs`` maps a node to the nodes it needs and ``graph_rules`` a node to
    its trigger rule (absent: ``all_success``). A node is the chain that starts at its id.
    The container ends when every node has ended: FAILURE if one failed, else STOPPED if
    one stopped, else COMPLETED.
    """

    graph_nodes: list[str] = []
    graph_needs: dict[str, list[str]] = {}
    graph_rules: dict[str, str] = {}
    graph_fail_fast: bool = False
    """True: the first node that fails stops the running nodes and skips the others."""
    task_type: str = TaskType.PARALLEL_COMPOSITE.name

    def __post_init__(self) -> None:
        """Give each instance its own copy of the mutable defaults."""
        super().__post_init__()
        self.graph_nodes = list(self.graph_nodes)
        self.graph_needs = {node: list(needs) for node, needs in self.graph_needs.items()}
        self.graph_rules = dict(self.graph_rules)

    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """A graph has no work of its own: the engine runs its nodes."""

    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        """A graph takes no messages."""
        raise NotImplementedError("a NeedsGraphTask does not take messages")

    async def evaluate(self, **kwargs: Any) -> str | None:
        """A graph does not choose branches: its nodes' trigger rules do."""
        raise NotImplementedError("a NeedsGraphTask does not evaluate")

    def trigger_rule(self, node: str) -> TriggerRule:
        """The trigger rule of ``node``."""
        return TriggerRule(self.graph_rules.get(node, TriggerRule.ALL_SUCCESS.value))
