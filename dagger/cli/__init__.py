"""The ``dagger`` command line: ``dagger worker``, ``dagger broker``, ``dagger instances``."""

from __future__ import annotations

from dagger.cli._main import main

__all__ = ["main"]
