"""Helpers for testing dagger workflows and running them locally."""

from __future__ import annotations

from dagger.testing._broker import EmbeddedBroker, EmbeddedBrokerError

__all__ = [
    "EmbeddedBroker",
    "EmbeddedBrokerError",
]
