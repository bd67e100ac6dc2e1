"""The ``dagger`` command line: ``worker``, ``broker``, ``instances`` and ``dlq``."""

from __future__ import annotations

from dagger.cli._main import main

__all__ = ["main"]
