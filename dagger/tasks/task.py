"""Task types, task status and the records of the task model (public façade)."""

from __future__ import annotations

from dagger.tasks._base import (
    DefaultProcessTemplateDAGInstance,
    DefaultTemplateDAGInstance,
    ExecutorTask,
    INonLeafNodeTask,
    IProcessTemplateDAGInstance,
    ITask,
    ITemplateDAGInstance,
)
from dagger.tasks._status import (
    KT,
    VT,
    CorrelatableMapValue,
    TaskLookupKey,
    TaskOperator,
    TaskStatus,
    TaskStatusEnum,
    TaskType,
    Trigger,
)

__all__ = [
    "KT",
    "VT",
    "CorrelatableMapValue",
    "DefaultProcessTemplateDAGInstance",
    "DefaultTemplateDAGInstance",
    "ExecutorTask",
    "INonLeafNodeTask",
    "IProcessTemplateDAGInstance",
    "ITask",
    "ITemplateDAGInstance",
    "TaskLookupKey",
    "TaskOperator",
    "TaskStatus",
    "TaskStatusEnum",
    "TaskType",
    "Trigger",
]
