"""Listener (sensor) tasks: wait in the correlation index for a message, handle it in
``on_message``, and complete when it says so."""

from __future__ import annotations

from typing import Any

from dagger.core import _flow as flow
from dagger.core import _graph as graph
from dagger.core._effects import Effect, Register, Unregister
from dagger.core._keys import index_key
from dagger.core._kinds.process import watch_process
from dagger.core._rules import Instance, KindRules, Task, register
from dagger.tasks._base import DecisionTask, ParallelCompositeTask, SensorTask
from dagger.tasks._status import TaskStatusEnum as Status


class ListenerRules(KindRules):
    """A listener registers under its correlation parameter as it starts."""

    def start(self, instance: Instance, task: Task, now: float) -> list[Effect]:
        effects = listen(instance, task)
        if task.correlatable_key_value is None:
            return effects + flow.finish_task(
                instance, task.id, Status.FAILURE, now, error=_missing_key_error(task)
            )
        return effects

    def on_finish(self, instance: Instance, task: Task, status: str, now: float) -> list[Effect]:
        if status == Status.COMPLETED and task.reprocess_on_message:
            return []  # it handles the next message again
        return stop_listening(task)

    def release(self, task: Task) -> list[Effect]:
        return stop_listening(task)


def listen(instance: Instance, task: Task) -> list[Effect]:
    """Register the listener ``task`` under the current value of its correlation parameter."""
    if not isinstance(task, SensorTask):
        return []
    wanted = _parameter_key(instance, task)
    if wanted is None:
        return stop_listening(task)
    key, value_text = wanted
    if task.correlatable_key_value == value_text:
        return []
    effects = stop_listening(task)
    task.correlatable_key_value = value_text
    return [*effects, Register(task.id, key)]


def stop_listening(task: Task) -> list[Effect]:
    """Remove the listener ``task`` from the index, if it is registered."""
    key = _registered_key(task)
    if key is None:
        return []
    task.correlatable_key_value = None
    return [Unregister(task.id, key)]


def listen_early(instance: Instance) -> list[Effect]:
    """Register every not-started listener that may be skipped to.

    It waits from the start, so an early message for it finds it in the index.
    """
    effects: list[Effect] = []
    for task in instance.tasks.values():
        if (
            isinstance(task, SensorTask)
            and task.allow_skip_to
            and task.status.code == Status.NOT_STARTED
        ):
            effects.extend(listen(instance, task))
    return effects


def registered_index_keys(instance: Instance) -> list[tuple[str, str]]:
    """The (task id, index key) of each listener of ``instance`` registered in the index."""
    registered = ((task.id, _registered_key(task)) for task in instance.tasks.values())
    return [(task_id, key) for task_id, key in registered if key is not None]


def released_index_keys(instance: Instance) -> list[tuple[str, str]]:
    """The (task id, index key) of each listener of ``instance`` that waits no more.

    The key is the one its correlation parameter names now, where the listener waited
    last unless a hook changed the parameter since.
    """
    released: list[tuple[str, str]] = []
    for task in instance.tasks.values():
        if not isinstance(task, SensorTask) or task.correlatable_key_value is not None:
            continue
        wanted = _parameter_key(instance, task)
        if wanted is not None:
            released.append((task.id, wanted[0]))
    return released


def accept_message(instance: Instance, task_id: str, now: float) -> tuple[bool, list[Effect]]:
    """Decide whether the listener ``task_id`` handles a message now.

    An EXECUTING listener does; a NOT_STARTED one with ``allow_skip_to`` does after its
    unfinished predecessors are SKIPPED; a COMPLETED one with ``reprocess_on_message``
    does again. Returns whether to run ``on_message`` and the effects of the skip.
    """
    task = instance.tasks.get(task_id)
    if not isinstance(task, SensorTask) or instance.is_terminal():
        return False, []
    code = task.status.code
    if code == Status.EXECUTING:
        return True, []
    if code == Status.COMPLETED and task.reprocess_on_message:
        return True, []
    if code == Status.NOT_STARTED and task.allow_skip_to:
        return True, _skip_to(instance, task, now)
    return False, []


def message_handled(instance: Instance, task_id: str, completed: bool, now: float) -> list[Effect]:
    """Move the workflow on after the listener's ``on_message`` returned ``completed``."""
    task = instance.get_task(task_id)
    if not isinstance(task, SensorTask):
        return []
    if completed and task.status.code == Status.EXECUTING:
        return flow.finish_task(instance, task_id, Status.COMPLETED, now)
    if task.correlatable_key_value is None:
        return []
    # on_message may have changed (or removed) the parameter the listener is keyed on.
    effects = listen(instance, task)
    if task.correlatable_key_value is None and task.status.code == Status.EXECUTING:
        effects += flow.finish_task(
            instance, task_id, Status.FAILURE, now, error=_missing_key_error(task)
        )
    return effects


def _skip_to(instance: Instance, target: SensorTask[Any, Any], now: float) -> list[Effect]:
    """Skip what comes before ``target`` on its way, then start it and what runs beside it.

    Tasks before it are SKIPPED, except the other branches of the parallel composites it
    is in: those start, as the composite does. A decision skipped on the way skips the
    branches that do not lead to ``target``.
    """
    ancestors = graph.ancestors(instance, target)
    on_the_way = ancestors | {target.id}
    composites = [
        task
        for task in map(instance.get_task, ancestors)
        if isinstance(task, ParallelCompositeTask)
    ]
    beside = {
        head: graph.ids(graph.chain_and_below(instance, head))
        for composite in composites
        for head in composite.parallel_child_task_list
    }
    beside = {head: ids for head, ids in beside.items() if not ids & on_the_way}
    runs_beside = set().union(*beside.values()) if beside else set()
    effects: list[Effect] = []
    ordered = graph.in_order(instance)
    for task in ordered:
        if task is target:
            break
        if task.id in on_the_way or task.id in runs_beside or task.is_terminal():
            continue
        effects.extend(flow.finish_task(instance, task.id, Status.SKIPPED, now, iterate=False))
    for task in ordered:
        if isinstance(task, DecisionTask) and task.status.code == Status.SKIPPED:
            for head in task.next_dags:
                if not graph.ids(graph.chain_and_below(instance, head)) & on_the_way:
                    effects.extend(flow.finish_chain(instance, head, Status.SKIPPED, now))
    for ancestor_id in ancestors:
        ancestor = instance.get_task(ancestor_id)
        if ancestor.status.code in (Status.NOT_STARTED, Status.SUBMITTED):
            flow.set_status(ancestor, Status.EXECUTING, now)
            ancestor.time_submitted = ancestor.time_submitted or now
            if ancestor is not instance:
                effects.extend(watch_process(instance, ancestor, now))
    flow.set_status(target, Status.EXECUTING, now)
    target.time_submitted = now
    for head in beside:
        effects.extend(flow.start_next(instance, head, now))
    return effects


def _parameter_key(instance: Instance, task: SensorTask[Any, Any]) -> tuple[str, str] | None:
    """The index key (and value) the listener's correlation parameter names now, if any."""
    name = task.correlatable_key
    value = instance.runtime_parameters.get(name) if name else None
    if value is None or task.topic is None:
        return None
    value_text = str(value)
    return index_key(task.topic, str(name), value_text), value_text


def _registered_key(task: Task) -> str | None:
    """The index key the listener ``task`` is registered under, if it is."""
    if not isinstance(task, SensorTask) or task.correlatable_key_value is None:
        return None
    return index_key(str(task.topic), str(task.correlatable_key), task.correlatable_key_value)


def _missing_key_error(task: Task) -> tuple[str, str]:
    return (
        "MissingCorrelationKey",
        f"runtime parameter {task.correlatable_key!r} is not set, so the listener cannot wait",
    )


register(SensorTask, ListenerRules())
