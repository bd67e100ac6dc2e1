"""Declarative workflows: YAML definitions compiled into ordinary templates.

A file maps workflow names to workflows (``type: Workflow``, ``desc``, typed ``params``,
``jobs`` with ``needs``, ``trigger-rule``, ``if`` and ``stages``); see
docs/declarative.md. ``call`` stages run Python functions registered with :func:`task`.

Examples:
    >>> import dagger.declarative
    >>> @dagger.declarative.task("load-table")  # doctest: +SKIP
    ... def load_table(table: str) -> dict[str, int]:
    ...     return {"rows": 42}
    >>> engine = Dagger(workflows=["workflows/*.yaml"])  # doctest: +SKIP
"""

from __future__ import annotations

from dagger.declarative._bash import allow_bash
from dagger.declarative._describe import describe, job_order
from dagger.declarative._errors import DeclarativeError, ParamsError, Problem, StageFailed
from dagger.declarative._functions import task
from dagger.declarative._loader import check_files, load
from dagger.declarative._schema import SCHEMA_PATH, schema
from dagger.declarative._template import DeclarativeTemplate, validate_params
from dagger.service._workflow_loading import set_workflow_loader

set_workflow_loader(load)

__all__ = [
    "SCHEMA_PATH",
    "DeclarativeError",
    "DeclarativeTemplate",
    "ParamsError",
    "Problem",
    "StageFailed",
    "allow_bash",
    "check_files",
    "describe",
    "job_order",
    "load",
    "schema",
    "task",
    "validate_params",
]
