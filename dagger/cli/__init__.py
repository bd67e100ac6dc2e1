"""The ``dagger`` command line: ``dagger worker`` and ``dagger broker``."""

from __future__ import annotations

from dagger.cli._main import main

__all__ = ["main"]
