"""Templates and template builders (public façade)."""

from __future__ import annotations

from dagger.templates._process_templates import IProcessTemplateDAG, IProcessTemplateDAGBuilder
from dagger.templates._task_builders import DefaultTaskTemplateBuilder, TaskTemplateBuilder
from dagger.templates._task_templates import DefaultTaskTemplate, TaskTemplate
from dagger.templates._workflow_templates import ITemplateDAG, ITemplateDAGBuilder

__all__ = [
    "DefaultTaskTemplate",
    "DefaultTaskTemplateBuilder",
    "IProcessTemplateDAG",
    "IProcessTemplateDAGBuilder",
    "ITemplateDAG",
    "ITemplateDAGBuilder",
    "TaskTemplate",
    "TaskTemplateBuilder",
]
