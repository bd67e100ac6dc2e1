"""Templates and template builders (public façade)."""

from __future__ import annotations

from dagger.templates._process_templates import IProcessTemplateDAG, IProcessTemplateDAGBuilder
from dagger.templates._task_builders import (
    DefaultTaskTemplateBuilder,
    IntervalTaskTemplateBuilder,
    KafkaCommandTaskTemplateBuilder,
    KafkaListenerTaskTemplateBuilder,
    TaskTemplateBuilder,
    TriggerTaskTemplateBuilder,
)
from dagger.templates._task_templates import (
    DefaultIntervalTaskTemplate,
    DefaultKafkaTaskTemplate,
    DefaultTaskTemplate,
    DefaultTriggerTaskTemplate,
    TaskTemplate,
)
from dagger.templates._workflow_templates import ITemplateDAG, ITemplateDAGBuilder

__all__ = [
    "DefaultIntervalTaskTemplate",
    "DefaultKafkaTaskTemplate",
    "DefaultTaskTemplate",
    "DefaultTaskTemplateBuilder",
    "DefaultTriggerTaskTemplate",
    "IProcessTemplateDAG",
    "IProcessTemplateDAGBuilder",
    "ITemplateDAG",
    "ITemplateDAGBuilder",
    "IntervalTaskTemplateBuilder",
    "KafkaCommandTaskTemplateBuilder",
    "KafkaListenerTaskTemplateBuilder",
    "TaskTemplate",
    "TaskTemplateBuilder",
    "TriggerTaskTemplateBuilder",
]
