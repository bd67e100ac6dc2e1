"""Task kinds: the rules each kind of task follows, and the registry that finds them.

Every task kind (executor, listener, decision, trigger, interval, monitoring, process,
parallel composite, graph of needs) has one module under :mod:`dagger.core._kinds` with a
:class:`KindRules` subclass registered for its task class. The generic flow
(:mod:`dagger.core._flow`) asks the rules of a task how it starts, what its timer does,
what is under it and what a child chain's end does to it; nothing else in the core
branches on a task's class. A new kind is one new module there plus its builder.
"""

from __future__ import annotations

from typing import Any

from dagger.core._effects import Effect, RunContainerHook, RunTask
from dagger.exceptions.exceptions import InvalidTaskType
from dagger.tasks._base import ITask, ITemplateDAGInstance

Instance = ITemplateDAGInstance[Any, Any]
Task = ITask[Any, Any]


class KindRules:
    """The rules of one task kind; the defaults are those of a leaf task."""

    container = False
    """True for kinds with tasks under them (processes, parallel composites)."""
    moves_on = True
    """False for kinds whose end never moves the workflow on (a monitoring task)."""
    names_errors = True
    """False for kinds whose failure passes on the error of the node that failed as it is,
    without its own name before it (a graph of needs, which is only a way to run nodes)."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        """``task`` just became EXECUTING: what it does first."""
        raise InvalidTaskType(
            f"task {task.task_name!r} is a {type(task).__name__}, which this engine cannot run"
        )

    def fire_timer(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        """The timer ``task`` set is due (its ``timer_due`` is already cleared)."""
        return [RunTask(task.id)]

    def heads(self, task: Task) -> list[str]:
        """The first task of each chain directly under ``task``."""
        return []

    def on_finish(self, instance: Instance, task: Task, status: str, now: float) -> list[Effect]:
        """``task`` just got the final ``status``: what it releases."""
        return []

    def release(self, task: Task) -> list[Effect]:
        """Let go of what ``task`` holds besides its timer (a listener's index entry)."""
        return []

    def ended_unrun(
        self, instance: Instance, task: Task, status: str, now: float
    ) -> list[Effect] | None:
        """``task`` ended with ``status`` and the workflow moves on from it.

        None lets the flow go on to the next task of the chain as usual; a kind that must
        do more (a decision that never chose skips every branch) returns what it does.
        """
        return None

    def chain_ended(
        self, instance: Instance, container: Task, last: Task, status: str, now: float
    ) -> list[Effect]:
        """A chain directly under ``container`` ended with ``last``, whose status is ``status``."""
        raise InvalidTaskType(f"task {container.task_name!r} ({container.id}) has no chains")

    def next_in_chain(self, instance: Instance, task: Task) -> Task | None:
        """The task the chain went on to after ``task``, a COMPLETED or SKIPPED one."""
        return instance.get_task(task.next_dags[0]) if task.next_dags else None

    def retry_resets(self, instance: Instance, task: Task) -> list[Task]:
        """What else becomes NOT_STARTED when the failed ``task`` runs again."""
        return []

    def retry_chains(self, instance: Instance, task: Task) -> tuple[list[str], list[Task]]:
        """A retried container: the chains under it to resume, and what becomes NOT_STARTED.

        Each resumed chain goes on from where it stood (its first task that did not end
        well starts again); the reset tasks wait to be started by the container's rules.
        """
        return self.heads(task), []


def container_hook(task: Task, base: type[Task]) -> list[Effect]:
    """Run a container's ``execute`` first when its class defines one of its own."""
    if type(task).execute is base.execute:
        return []
    return [RunContainerHook(task.id)]


_RULES: dict[type[Any], KindRules] = {}
_BY_CLASS: dict[type[Any], KindRules] = {}


def register(task_class: type[Any], rules: KindRules) -> None:
    """Make ``rules`` the rules of ``task_class`` and of its subclasses without their own."""
    _RULES[task_class] = rules
    _BY_CLASS.clear()


def rules_for(task: Task) -> KindRules:
    """The rules of the nearest registered class of ``task``."""
    cls = type(task)
    found = _BY_CLASS.get(cls)
    if found is None:
        found = next((_RULES[base] for base in cls.__mro__ if base in _RULES), _UNKNOWN)
        _BY_CLASS[cls] = found
    return found


_UNKNOWN = KindRules()
"""The rules of a class no kind is registered for: it cannot start."""
