"""Helpers for testing dagger workflows and running them locally."""

from __future__ import annotations

from dagger.broker._embedded import EmbeddedBroker, EmbeddedBrokerError
from dagger.testing._fake_aerospike import FakeAerospikeClient
from dagger.testing._local import LocalEngine, RecordingTopic, SentMessage
from dagger.testing._schema_registry_stand_in import SchemaRegistryStandIn

__all__ = [
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "FakeAerospikeClient",
    "LocalEngine",
    "RecordingTopic",
    "SchemaRegistryStandIn",
    "SentMessage",
]
