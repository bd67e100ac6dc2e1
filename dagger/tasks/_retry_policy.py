"""Retry policies: how often, and how long apart, a failing task runs again.

A policy is set per task on its builder (``set_retry_policy``) or for every task on
``Dagger(retry_policy=...)``. It travels with each task instance as a plain document, so
the core applies it without the template; the waits run on the timer index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

NO_RETRY_ATTEMPTS = 1
"""One attempt: a failure is final (the engine's default)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Run a task that raised again, up to ``max_attempts`` attempts in all.

    The wait before attempt ``n + 1`` is ``initial_backoff * multiplier ** (n - 1)``
    seconds, at most ``max_backoff``. An exception whose class (or one of its bases) is
    named in ``non_retryable`` fails the task at once.

    Examples:
        >>> RetryPolicy(max_attempts=4, initial_backoff=2.0, non_retryable=(ValueError,))
        RetryPolicy(max_attempts=4, initial_backoff=2.0, multiplier=2.0, max_backoff=60.0, non_retryable=('ValueError',))
    """  # noqa: E501

    max_attempts: int = NO_RETRY_ATTEMPTS
    initial_backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 60.0
    non_retryable: tuple[Any, ...] = field(default=())

    def __post_init__(self) -> None:
        """Check every field, and keep exception classes by name (tasks are JSON)."""
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"max_attempts must be an int, got {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("initial_backoff", "multiplier", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number of seconds, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")
        if self.max_backoff < self.initial_backoff:
            raise ValueError(
                f"max_backoff ({self.max_backoff}) is below initial_backoff "
                f"({self.initial_backoff})"
            )
        object.__setattr__(self, "non_retryable", tuple(map(_exception_name, self.non_retryable)))

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after the ``failed_attempts``-th failed attempt."""
        wait = self.initial_backoff * self.multiplier ** max(failed_attempts - 1, 0)
        return float(min(wait, self.max_backoff))

    def retries(self, failed_attempts: int, lineage: tuple[str, ...]) -> bool:
        """Whether to run again after ``failed_attempts`` failures, the last of an
        exception whose class and bases are named ``lineage``."""
        if failed_attempts >= self.max_attempts:
            return False
        return not set(lineage).intersection(self.non_retryable)

    def to_document(self) -> dict[str, Any]:
        """The plain document a task instance carries."""
        return {
            "max_attempts": self.max_attempts,
            "initial_backoff": self.initial_backoff,
            "multiplier": self.multiplier,
            "max_backoff": self.max_backoff,
            "non_retryable": list(self.non_retryable),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> RetryPolicy:
        """The policy a task instance carries (see :meth:`to_document`)."""
        return cls(
            max_attempts=int(document.get("max_attempts", NO_RETRY_ATTEMPTS)),
            initial_backoff=float(document.get("initial_backoff", 1.0)),
            multiplier=float(document.get("multiplier", 2.0)),
            max_backoff=float(document.get("max_backoff", 60.0)),
            non_retryable=tuple(document.get("non_retryable", ())),
        )


def _exception_name(kind: Any) -> str:
    if isinstance(kind, str) and kind:
        return kind
    if isinstance(kind, type) and issubclass(kind, BaseException):
        return kind.__name__
    raise ValueError(f"non_retryable takes exception classes or their names, got {kind!r}")
