"""The worker's HTTP API on faust's web server (see docs/operations.md).

:class:`DeadLetterAdmin` is the interface the dead-letter endpoints call.
"""

from __future__ import annotations

from dagger.web._dead_letter_endpoints import DeadLetterAdmin

__all__ = ["DeadLetterAdmin"]
