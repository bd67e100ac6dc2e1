"""One module per task kind, each registering its :class:`~dagger.core._rules.KindRules`.

Importing this package registers every kind; :mod:`dagger.core._step` does.
"""

from dagger.core._kinds import (
    decision,
    delay,
    executor,
    interval,
    listener,
    monitoring,
    needs,
    parallel,
    process,
    trigger,
)

__all__ = [
    "decision",
    "delay",
    "executor",
    "interval",
    "listener",
    "monitoring",
    "needs",
    "parallel",
    "process",
    "trigger",
]
