"""Templates and template builders (public façade)."""

from __future__ import annotations

from dagger.templates._process_templates import IProcessTemplateDAG, IProcessTemplateDAGBuilder
from dagger.templates._task_builders import (
    DefaultTaskTemplateBuilder,
    KafkaCommandTaskTemplateBuilder,
    KafkaListenerTaskTemplateBuilder,
    TaskTemplateBuilder,
)
from dagger.templates._task_templates import (
    DefaultKafkaTaskTemplate,
    DefaultTaskTemplate,
    TaskTemplate,
)
from dagger.templates._workflow_templates import ITemplateDAG, ITemplateDAGBuilder

__all__ = [
    "DefaultKafkaTaskTemplate",
    "DefaultTaskTemplate",
    "DefaultTaskTemplateBuilder",
    "IProcessTemplateDAG",
    "IProcessTemplateDAGBuilder",
    "ITemplateDAG",
    "ITemplateDAGBuilder",
    "KafkaCommandTaskTemplateBuilder",
    "KafkaListenerTaskTemplateBuilder",
    "TaskTemplate",
    "TaskTemplateBuilder",
]
