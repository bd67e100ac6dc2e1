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
    KafkaCommandTask,
    KafkaListenerTask,
    SensorTask,
)
from dagger.tasks._status import (
    KT,
    VT,
    CorrelatableMapValue,
    CorreletableKeyTasks,
    CorreletableLookUpKey,
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
    "CorreletableKeyTasks",
    "CorreletableLookUpKey",
    "DefaultProcessTemplateDAGInstance",
    "DefaultTemplateDAGInstance",
    "ExecutorTask",
    "INonLeafNodeTask",
    "IProcessTemplateDAGInstance",
    "ITask",
    "ITemplateDAGInstance",
    "KafkaCommandTask",
    "KafkaListenerTask",
    "SensorTask",
    "TaskLookupKey",
    "TaskOperator",
    "TaskStatus",
    "TaskStatusEnum",
    "TaskType",
    "Trigger",
]
