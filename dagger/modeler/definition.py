"""Process and workflow templates and their builders (public façade)."""

from __future__ import annotations

from dagger.templates._dynamic import DynamicProcessTemplateDAG, DynamicProcessTemplateDagBuilder
from dagger.templates._parallel import (
    ParallelCompositeProcessTemplateDAG,
    ParallelCompositeProcessTemplateDagBuilder,
)
from dagger.templates._process_builder import ProcessTemplateDagBuilder
from dagger.templates._process_templates import ProcessTemplateDAG
from dagger.templates._workflow_templates import DefaultTemplateBuilder, TemplateDAG

__all__ = [
    "DefaultTemplateBuilder",
    "DynamicProcessTemplateDAG",
    "DynamicProcessTemplateDagBuilder",
    "ParallelCompositeProcessTemplateDAG",
    "ParallelCompositeProcessTemplateDagBuilder",
    "ProcessTemplateDAG",
    "ProcessTemplateDagBuilder",
    "TemplateDAG",
]
