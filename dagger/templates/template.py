"""Templates and template builders (public façade)."""

from __future__ import annotations

from dagger.templates._dynamic import IDynamicProcessTemplateDAG
from dagger.templates._parallel import (
    ParallelCompositeTaskTemplate,
    ParallelCompositeTaskTemplateBuilder,
)
from dagger.templates._process_templates import IProcessTemplateDAG, IProcessTemplateDAGBuilder
from dagger.templates._task_builders import (
    DecisionTaskTemplateBuilder,
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
    "DecisionTaskTemplateBuilder",
    "DefaultIntervalTaskTemplate",
    "DefaultKafkaTaskTemplate",
    "DefaultTaskTemplate",
    "DefaultTaskTemplateBuilder",
    "DefaultTriggerTaskTemplate",
    "IDynamicProcessTemplateDAG",
    "IProcessTemplateDAG",
    "IProcessTemplateDAGBuilder",
    "ITemplateDAG",
    "ITemplateDAGBuilder",
    "IntervalTaskTemplateBuilder",
    "KafkaCommandTaskTemplateBuilder",
    "KafkaListenerTaskTemplateBuilder",
    "ParallelCompositeTaskTemplate",
    "ParallelCompositeTaskTemplateBuilder",
    "TaskTemplate",
    "TaskTemplateBuilder",
    "TriggerTaskTemplateBuilder",
]
