"""The task model: every template, process and task instance is an :class:`ITask`.

Tasks are faust records. The engine never decodes them from untrusted bytes by class
path: stored instances are decoded by :mod:`dagger.core._codec`, which only builds classes
that registered templates use.
"""

from __future__ import annotations

import abc
import inspect
import logging
from typing import Any, ClassVar, Generic, cast

from faust import Record

from dagger.tasks._engine_link import bound_engine
from dagger.tasks._hook_context import hook_instance
from dagger.tasks._intents import FinishTask, Intent, StartTask, StopTask
from dagger.tasks._status import (
    KT,
    TERMINAL_STATUSES,
    VT,
    TaskLookupKey,
    TaskOperator,
    TaskStatus,
    TaskStatusEnum,
    TaskType,
)

logger = logging.getLogger(__name__)

COMPLETE_BY_KEY = "complete_by_time"
"""The runtime parameter a monitored process must finish by (epoch seconds)."""


_COMPLETED = TaskStatus.of(TaskStatusEnum.COMPLETED)


class ITask(Record, Generic[KT, VT], abc.ABC, serializer="json"):
    """Base of every template, process and task instance.

    User code overrides the hooks (``execute``, ``on_message``, ``evaluate``, ``stop``);
    the engine drives the status transitions.
    """

    id: str
    task_name: str
    parent_id: str | None = None
    root_id: str | None = None
    status: TaskStatus = TaskStatus()
    time_created: float = 0.0
    time_submitted: float = 0.0
    time_completed: float = 0.0
    lastupdated: float = 0.0
    next_dags: list[str] = []
    task_type: str = TaskType.LEAF.name
    process_name: str | None = None
    allow_skip_to: bool = False
    reprocess_on_message: bool = False
    correlatable_key: str | None = None
    topic: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    message: str | None = None
    correlatable_key_value: str | None = None
    timer_due: float | None = None
    error_traceback: str | None = None
    retry_policy: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = []
    parameter_changes: dict[str, dict[str, Any]] = {}
    """The runtime parameters this task's hooks changed: for each key, the value it saw
    (``before``, absent for a key it added) and the value it left (``after``, absent for a
    key it removed). Keys it did not change are not kept (``dagger.runtime._parameter_changes``)."""

    def __post_init__(self) -> None:
        """Give each instance its own copy of the mutable defaults."""
        self.next_dags = list(self.next_dags)
        self.attempts = list(self.attempts)
        self.parameter_changes = dict(self.parameter_changes)

    # -- hooks users override ------------------------------------------------------------
    @abc.abstractmethod
    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Run the task's work; ``runtime_parameters`` may be updated for later tasks."""

    @abc.abstractmethod
    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        """Handle a correlated message; return True to complete the task."""

    @abc.abstractmethod
    async def evaluate(self, **kwargs: Any) -> str | None:
        """Return the id of the next task to run (decision tasks)."""

    async def stop(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Release what the task holds when the engine stops it while it is EXECUTING.

        The engine calls this hook when it stops a task that is running: the workflow was
        stopped, failed, or the task's parallel branch lost under ``ATLEAST_ONE``. The
        default holds nothing. Processes, parallel composites and workflow instances
        override it to ask the engine to stop them.
        """

    def get_correlatable_key(self, payload: Any) -> TaskLookupKey[Any, Any]:
        """Return the correlation key of ``payload`` (deprecated: see the plural form)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement get_correlatable_keys_from_payload(payload)"
        )

    async def get_correlatable_key_from_payload(self, payload: Any) -> TaskLookupKey[Any, Any]:
        """Return the correlation key of ``payload`` (deprecated: see the plural form)."""
        return self.get_correlatable_key(payload)

    async def get_correlatable_keys_from_payload(
        self, payload: Any
    ) -> list[TaskLookupKey[Any, Any]]:
        """Return every correlation key carried by ``payload``."""
        return [await self.get_correlatable_key_from_payload(payload)]

    # -- engine-driven transitions, callable from hooks ------------------------------------
    async def start(self, workflow_instance: ITemplateDAGInstance[KT, VT] | None) -> None:
        """Ask the engine to start this task once the running hook returns."""
        _require_instance(workflow_instance, "start").record_intent(StartTask(self.id))

    async def on_complete(
        self,
        workflow_instance: ITemplateDAGInstance[KT, VT] | None,
        status: TaskStatus = _COMPLETED,
        *,
        iterate: bool = True,
    ) -> None:
        """Set this task's final status once the running hook returns; ``iterate`` moves the
        workflow on from it."""
        if status.code not in TERMINAL_STATUSES:
            raise ValueError(
                f"a task finishes with one of {sorted(TERMINAL_STATUSES)}, not {status.code!r}"
            )
        instance = _require_instance(workflow_instance, "on_complete")
        instance.record_intent(FinishTask(self.id, status.code, iterate))

    async def notify(
        self, status: TaskStatus, workflow_instance: ITemplateDAGInstance[KT, VT] | None
    ) -> None:
        """Complete the task with ``status`` unless it already finished."""
        if self.status.code not in TERMINAL_STATUSES:
            await self.on_complete(workflow_instance, status)

    async def get_remaining_tasks(
        self,
        next_dag_id: str,
        workflow_instance: ITemplateDAGInstance[KT, VT],
        tasks: list[ITask[Any, Any]] | None = None,
        end_task_id: str | None = None,
    ) -> list[ITask[Any, Any]] | None:
        """Return the chain of tasks from ``next_dag_id`` up to ``end_task_id`` (or the end)."""
        remaining = [] if tasks is None else tasks
        current: str | None = next_dag_id
        while current is not None and current != end_task_id:
            task = workflow_instance.get_task(current)
            remaining.append(task)
            current = task.next_dags[0] if task.next_dags else None
        return remaining

    def is_terminal(self) -> bool:
        """Return True when the task reached a final status."""
        return self.status.code in TERMINAL_STATUSES

    def record_transition(self, previous: str, status: str) -> None:
        """Remember a status change for telemetry; kept in memory only, never stored."""
        self.__dict__.setdefault("_transitions", []).append((previous, status))

    def take_transitions(self) -> list[tuple[str, str]]:
        """Return and forget the status changes recorded since the task was decoded."""
        transitions: list[tuple[str, str]] = self.__dict__.pop("_transitions", [])
        return transitions


def _require_instance(
    workflow_instance: ITemplateDAGInstance[Any, Any] | None, method: str
) -> ITemplateDAGInstance[Any, Any]:
    if workflow_instance is None:
        raise TypeError(f"{method}() needs the workflow_instance the task belongs to")
    return workflow_instance


class ExecutorTask(ITask[KT, VT], abc.ABC):
    """A task that runs domain code in ``execute`` and completes when it returns."""

    async def evaluate(self, **kwargs: Any) -> str | None:
        """Not used by executor tasks."""
        raise NotImplementedError("ExecutorTask does not evaluate; use a DecisionTask")

    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        """Not used by executor tasks."""
        raise NotImplementedError("ExecutorTask does not take messages; use a KafkaListenerTask")


class KafkaCommandTask(ExecutorTask[KT, VT], abc.ABC):
    """Sends a command on its template's topic from ``execute``.

    The template's topic name is ``self.topic``; send with
    ``await engine.topics[self.topic].send(value=...)``. The engine completes the task
    when ``execute`` returns. A send may be repeated after a crash (at-least-once): give
    commands an id receivers can drop duplicates by.
    """


class SensorTask(ITask[KT, VT], abc.ABC):
    """Halts the workflow until a correlated message makes ``on_message`` return True.

    ``correlatable_key`` (a class attribute) names the runtime parameter whose value a
    message must carry, as returned by ``get_correlatable_keys_from_payload``.
    ``match_only_one = True`` delivers each message to one waiting listener only.
    """

    match_only_one: ClassVar[bool] = False

    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Sensors do not execute: they wait for messages."""
        raise NotImplementedError("a SensorTask does not execute; it handles on_message")

    async def evaluate(self, **kwargs: Any) -> str | None:
        """Sensors do not choose branches."""
        raise NotImplementedError("a SensorTask does not evaluate")


class KafkaListenerTask(SensorTask[KT, VT], abc.ABC):
    """Waits for a message on its template's topic whose correlation key matches.

    Examples:
        >>> class PizzaReady(KafkaListenerTask[str, str]):  # doctest: +SKIP
        ...     correlatable_key = "order_id"
        ...
        ...     async def get_correlatable_keys_from_payload(self, payload):
        ...         return [("order_id", payload["order_id"])]
        ...
        ...     async def on_message(self, runtime_parameters, *args, **kwargs):
        ...         return args[0]["status"] == "READY"
    """

    def get_correlatable_key(self, payload: Any) -> TaskLookupKey[Any, Any]:
        """Return ``payload`` itself as the key, as the original did."""
        return cast("TaskLookupKey[Any, Any]", payload)


class TriggerTask(ExecutorTask[KT, VT], abc.ABC):
    """Runs ``execute`` once the time reaches ``time_to_execute`` (epoch seconds).

    The time comes from the runtime parameter named by the template's
    ``time_to_execute_key``. The engine keeps the due time in its timer index and fires
    it when it falls due (within ``trigger_interval`` seconds at worst).
    """

    time_to_execute: float | None = None


class IntervalTask(TriggerTask[KT, VT], abc.ABC):
    """From ``time_to_execute``, calls ``interval_execute`` every ``interval_execute_period``.

    When ``interval_execute`` returns True, or ``time_to_force_complete`` has passed, the
    engine runs ``execute`` and the task completes. Without a ``time_to_execute`` it starts
    at once.
    """

    time_to_force_complete: float | None = None
    interval_execute_period: float | None = None

    async def interval_execute(self, runtime_parameters: dict[str, VT]) -> bool:
        """Try once; return True when the task may finish. The default is done at once."""
        return True


class MonitoringTask(TriggerTask[KT, VT], abc.ABC):
    """Checks another task at a time: ``process_monitored_task`` runs if it is still going."""

    monitored_task_id: str | None = None

    @abc.abstractmethod
    async def process_monitored_task(
        self,
        monitored_task: ITask[Any, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None,
    ) -> None:
        """Handle a monitored task that did not finish in time."""

    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Call ``process_monitored_task`` when the monitored task is not finished."""
        if workflow_instance is None or self.monitored_task_id is None:
            return
        monitored = workflow_instance.get_task(self.monitored_task_id)
        if not monitored.is_terminal():
            await self.process_monitored_task(monitored, workflow_instance)


class DefaultMonitoringTask(MonitoringTask[str, str]):
    """Records that the monitored task was late: ``runtime_parameters['late_tasks']``."""

    async def process_monitored_task(
        self,
        monitored_task: ITask[Any, Any],
        workflow_instance: ITemplateDAGInstance[Any, Any] | None,
    ) -> None:
        """Add the monitored task's name to ``late_tasks`` and log it."""
        logger.warning("task %s (%s) is late", monitored_task.task_name, monitored_task.id)
        if workflow_instance is not None:
            late = workflow_instance.runtime_parameters.setdefault("late_tasks", [])
            late.append(monitored_task.task_name)


class IMonitoredTask:
    """A task that is checked by a monitoring task at ``runtime_parameters['complete_by_time']``."""

    @abc.abstractmethod
    def get_monitoring_task_type(self) -> type[MonitoringTask[Any, Any]]:
        """Return the monitoring task class to run."""

    async def setup_monitoring_task(self, workflow_instance: Any = None) -> None:
        """Kept for the original's code that calls it: the engine sets the monitor up.

        The monitoring task is created, and its timer set, when the monitored process
        starts and the instance has a ``complete_by_time``; calling this changes nothing.
        """


class SystemTask(ExecutorTask[str, str]):
    """An internal task for the engine's own bookkeeping."""


class SystemTimerTask(SystemTask):
    """Fires the running engine's due timers, as the worker's timer tick does."""

    async def execute(
        self,
        runtime_parameters: dict[str, str],
        workflow_instance: ITemplateDAGInstance[str, str] | None = None,
    ) -> None:
        """Fire the due timers of the running engine."""
        await bound_engine("SystemTimerTask.execute").fire_due_timers()


async def _request_stop(
    node: ITask[Any, Any], workflow_instance: ITemplateDAGInstance[Any, Any] | None
) -> None:
    """Stop ``node`` and everything under it: when the running hook returns, or through
    the engine when no hook of its instance is running."""
    running = hook_instance()
    if (
        running is not None
        and (node.id == running.id or node.id in running.tasks)
        and (workflow_instance is None or workflow_instance.id == running.id)
    ):
        running.record_intent(StopTask(node.id))
        return
    instance = workflow_instance
    if instance is None and isinstance(node, ITemplateDAGInstance):
        instance = node
    if instance is None:
        raise TypeError(f"stop() of {node.task_name!r} needs the workflow_instance it belongs to")
    await bound_engine("stop").stop_instance(
        instance, task_id=None if node.id == instance.id else node.id
    )


class DecisionTask(ITask[KT, VT], abc.ABC):
    """Chooses which of its branches runs next, like a ``switch`` statement.

    ``evaluate(**runtime_parameters)`` returns the id of the first task of the branch to
    run (one of ``next_dags``), or None to run none. The other branches are SKIPPED. Use
    :meth:`branch` to find a branch's id by the name of its first task.

    Examples:
        >>> class Route(DecisionTask[str, str]):  # doctest: +SKIP
        ...     async def evaluate(self, **runtime_parameters):
        ...         name = "express" if runtime_parameters["priority"] else "standard"
        ...         return self.branch(name)
    """

    branch_names: dict[str, str] = {}

    def __post_init__(self) -> None:
        """Give each instance its own copy of the mutable defaults."""
        super().__post_init__()
        self.branch_names = dict(self.branch_names)

    def branch(self, name: str) -> str:
        """Return the id of the branch whose first task is named ``name``."""
        try:
            return self.branch_names[name]
        except KeyError:
            raise KeyError(
                f"decision {self.task_name!r} has no branch named {name!r}; "
                f"its branches are {sorted(self.branch_names)}"
            ) from None

    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Decisions do not execute: the engine calls ``evaluate``."""
        raise NotImplementedError("a DecisionTask does not execute; it evaluates")

    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        """Decisions take no messages."""
        raise NotImplementedError("a DecisionTask does not take messages")


class ParallelCompositeTask(ITask[KT, VT], abc.ABC):
    """Runs its branches side by side and joins them with ``operator_type``.

    Each entry of ``parallel_child_task_list`` is the first task (or process) of a
    branch. Under ``JOIN_ALL`` the composite completes when every branch completed and
    fails (or stops) as soon as one branch does; under ``ATLEAST_ONE`` it completes when
    the first branch completes and fails only when every branch failed. Branches still
    running when the composite ends are STOPPED.
    """

    parallel_child_task_list: list[str] = []
    operator_type: str = TaskOperator.JOIN_ALL.name

    def __post_init__(self) -> None:
        """Give each instance its own copy of the mutable defaults."""
        super().__post_init__()
        self.parallel_child_task_list = list(self.parallel_child_task_list)

    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Composites have no work of their own: the engine runs their branches."""

    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        """Composites take no messages."""
        raise NotImplementedError("a ParallelCompositeTask does not take messages")

    async def evaluate(self, **kwargs: Any) -> str | None:
        """Composites do not choose branches: they run them all."""
        raise NotImplementedError("a ParallelCompositeTask does not evaluate")

    async def stop(
        self,
        runtime_parameters: dict[str, VT] | None = None,
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Stop this composite and its branches (see :meth:`INonLeafNodeTask.stop`)."""
        await _request_stop(self, workflow_instance)


class INonLeafNodeTask(ITask[KT, VT], abc.ABC):
    """A task that contains other tasks: a process or a workflow instance."""

    root_dag: str | None = None

    async def stop(
        self,
        runtime_parameters: dict[str, VT] | None = None,
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Stop this process (or workflow) and every unfinished task in it.

        ``workflow_instance.stop()`` with no arguments (the original's docs) stops a
        workflow instance too.

        Unfinished tasks become STOPPED, the ``stop`` hook of each one that is executing
        runs, and their timers and correlation entries are removed. A stopped process
        stops its workflow, unless it is a branch of a parallel composite. Called from a
        hook of the instance, the stop happens when the hook returns; called elsewhere,
        it is sent to the worker that owns the instance. A finished instance is left as
        it is.
        """
        await _request_stop(self, workflow_instance)

    async def execute(
        self,
        runtime_parameters: dict[str, VT],
        workflow_instance: ITemplateDAGInstance[KT, VT] | None = None,
    ) -> None:
        """Containers have no work of their own: the engine runs their children."""

    async def on_message(
        self, runtime_parameters: dict[str, VT], *args: Any, **kwargs: Any
    ) -> bool:
        """Containers take no messages."""
        raise NotImplementedError("process and workflow instances do not take messages")

    async def evaluate(self, **kwargs: Any) -> str | None:
        """Containers do not choose branches."""
        raise NotImplementedError("process and workflow instances do not evaluate")


class IProcessTemplateDAGInstance(INonLeafNodeTask[KT, VT], abc.ABC):
    """A process: a chain of tasks inside a workflow."""

    max_run_duration: int = 0


class ITemplateDAGInstance(INonLeafNodeTask[KT, VT], abc.ABC):
    """A workflow instance: the root that holds the runtime parameters and every task."""

    runtime_parameters: dict[str, Any] = {}
    tasks: dict[str, ITask[Any, Any]] = {}
    partition_key_lookup: str = ""
    template_name: str = ""
    owner_partition: int = -1
    applied_events: list[str] = []
    traceparent: str | None = None
    """The W3C trace context of the instance's trace: every span of the instance joins it."""
    update_count: int = 0
    """How many events have changed this instance (the original counted its stores)."""

    def __post_init__(self) -> None:
        """Give each instance its own copies of the mutable defaults."""
        super().__post_init__()
        self.runtime_parameters = dict(self.runtime_parameters)
        self.tasks = dict(self.tasks)
        self.applied_events = list(self.applied_events)

    @classmethod
    def from_data(cls, data: Any, *, preferred_type: Any = None) -> Any:
        """Build an instance from ``data``; an update document gives its workflow fields.

        A consumer written for the original decodes the task update topic with
        ``ITemplateDAGInstance.from_data(jsonpickle.decode(value))``: from one of our
        plain-JSON documents this returns a ``DefaultTemplateDAGInstance`` (or ``cls``,
        when concrete) with its ``id``, ``status``, ``update_count``, times, error and
        runtime parameters.
        """
        from dagger.tasks._update_view import from_update_document, is_update_document

        if is_update_document(data):
            generic = cls is ITemplateDAGInstance or inspect.isabstract(cls)
            target = DefaultTemplateDAGInstance if generic else cls
            return from_update_document(target, data)
        return super().from_data(data, preferred_type=preferred_type)

    def get_task(self, id: str) -> ITask[Any, Any]:
        """Return the task (or process) with ``id``; the instance itself for its own id."""
        if id == self.id:
            return self
        return self.tasks[id]

    def add_task(self, task: ITask[Any, Any]) -> None:
        """Add a task or process to this instance."""
        self.tasks[task.id] = task

    @property
    def partition_key(self) -> str:
        """The value of the runtime parameter named by ``partition_key_lookup`` (or the id)."""
        if not self.partition_key_lookup:
            return self.id
        return str(self.runtime_parameters[self.partition_key_lookup])

    def record_intent(self, intent: Intent) -> None:
        """Queue what a hook asks of the engine; the core applies it when the hook returns."""
        self.__dict__.setdefault("_intents", []).append(intent)

    def take_intents(self) -> list[Intent]:
        """Return and forget the intents recorded by :meth:`record_intent`, oldest first."""
        intents: list[Intent] = self.__dict__.pop("_intents", [])
        return intents


class DefaultProcessTemplateDAGInstance(IProcessTemplateDAGInstance[str, str]):
    """The default process type."""


class MonitoredProcessTemplateDAGInstance(DefaultProcessTemplateDAGInstance, IMonitoredTask):
    """A process watched by a monitoring task at ``runtime_parameters['complete_by_time']``."""

    def get_monitoring_task_type(self) -> type[MonitoringTask[Any, Any]]:
        """Return :class:`DefaultMonitoringTask`; override to handle late processes."""
        return DefaultMonitoringTask


class DefaultTemplateDAGInstance(ITemplateDAGInstance[str, str]):
    """The default workflow instance type."""
