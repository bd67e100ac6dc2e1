"""The ``dagger`` command line: ``dagger worker``, ``dagger broker`` and ``dagger dlq``."""

from __future__ import annotations

from dagger.cli._main import main

__all__ = ["main"]
