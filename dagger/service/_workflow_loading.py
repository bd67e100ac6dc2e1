"""``Dagger(workflows=[...])``: the seam through which declarative workflows are loaded.

The engine (this layer) cannot import ``dagger.declarative``, which builds templates on
top of it; that package puts its loader here when it is imported, and a program that
loads YAML imports it anyway to register the functions its ``call`` stages run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError

WorkflowLoader = Callable[[Any, Sequence[str]], Any]

_loader: list[WorkflowLoader] = []


def set_workflow_loader(loader: WorkflowLoader) -> None:
    """Make ``loader(engine, patterns)`` the one ``Dagger(workflows=...)`` calls."""
    _loader[:] = [loader]


def load_workflows(engine: Any, patterns: Sequence[str]) -> None:
    """Load the workflow files ``patterns`` names onto ``engine``."""
    if not _loader:
        raise ConfigurationError(
            "Dagger(workflows=...) needs dagger.declarative: import dagger.declarative "
            "(and register the functions your call stages run) before creating the engine"
        )
    _loader[0](engine, list(patterns))
