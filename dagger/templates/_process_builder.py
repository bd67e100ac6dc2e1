"""The process builder: a named process of tasks, chained or run by their needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagger.tasks._base import DefaultProcessTemplateDAGInstance, IProcessTemplateDAGInstance, ITask
from dagger.templates._needs import needs_graph
from dagger.templates._process_templates import (
    IProcessTemplateDAG,
    NamedProcessBuilder,
    ProcessTemplateDAG,
    check_max_run_duration,
)
from dagger.templates._task_templates import TaskTemplate, check_task_class

if TYPE_CHECKING:
    from typing_extensions import Self

    from dagger.service._dagger import Dagger


class ProcessTemplateDagBuilder(NamedProcessBuilder):
    """Builds a process template.

    Examples:
        >>> process = (
        ...     ProcessTemplateDagBuilder(engine)
        ...     .set_name("payment")
        ...     .set_root_task(first_task_template)
        ...     .set_type(DefaultProcessTemplateDAGInstance)
        ...     .build()
        ... )  # doctest: +SKIP
    """

    def __init__(self, app: Dagger) -> None:
        super().__init__(app)
        self._root_task: TaskTemplate | None = None
        self._added: list[TaskTemplate] = []
        self._type: type[ITask[Any, Any]] = DefaultProcessTemplateDAGInstance
        self._max_run_duration = 0

    def set_root_task(self, task: TaskTemplate) -> Self:
        """Set the first task of the process."""
        if not isinstance(task, TaskTemplate):
            raise TypeError(
                f"set_root_task takes a built TaskTemplate, got {type(task).__name__}; "
                "call .build() on the task builder first"
            )
        self._root_task = task
        return self

    def add_task(self, task: TaskTemplate) -> Self:
        """Add a task beside the root task; it runs by its needs (``set_needs``).

        With more than one task added this way (the root task counts), or a root task
        that declares needs, the process's tasks run as a graph: each starts when its
        trigger rule is met, every ready one at the same time, and the process ends when
        all have ended. Each added task may still have tasks after it (``set_next``).
        """
        if not isinstance(task, TaskTemplate):
            raise TypeError(
                f"add_task takes a built TaskTemplate, got {type(task).__name__}; "
                "call .build() on the task builder first"
            )
        self._added.append(task)
        return self

    def set_type(self, process_type: type[ITask[Any, Any]]) -> Self:
        """Set the class instantiated for this process."""
        check_task_class(process_type, IProcessTemplateDAGInstance, "process")
        self._type = process_type
        return self

    def set_max_run_duration(self, max_run_duration: int) -> Self:
        """Set how long the process may run, in seconds (0: no limit)."""
        self._max_run_duration = check_max_run_duration(max_run_duration)
        return self

    def _build(self) -> IProcessTemplateDAG:
        """Build the process template; a graph of its tasks is checked here."""
        if self._name is None:
            raise ValueError("a process needs set_name() before build()")
        nodes = [self._root_task] if self._root_task is not None else []
        root = needs_graph(self.app, self._name, [*nodes, *self._added], "task")
        return ProcessTemplateDAG(
            next_process_dag=self._next,
            app=self.app,
            name=self._name,
            process_type=self._type,
            root_task_dag=root,
            max_run_duration=self._max_run_duration,
        )
