"""A module no test imports: decoding a document that names it must not import it."""

from __future__ import annotations

from dagger.tasks.task import DefaultTemplateDAGInstance


class Canary(DefaultTemplateDAGInstance):
    """A valid workflow instance class that no template registers."""
