"""Helpers for testing dagger workflows and running them locally."""

from __future__ import annotations

from dagger.testing._broker import EmbeddedBroker, EmbeddedBrokerError
from dagger.testing._local import LocalEngine, RecordingTopic, SentMessage
from dagger.testing._schema_registry_stand_in import SchemaRegistryStandIn

__all__ = [
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "LocalEngine",
    "RecordingTopic",
    "SchemaRegistryStandIn",
    "SentMessage",
]
