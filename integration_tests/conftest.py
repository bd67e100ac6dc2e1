"""Fixtures for tests that run against the real embedded Kafka-protocol broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dagger.testing import EmbeddedBroker, EmbeddedBrokerError


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """Yield one embedded broker, started for the whole test session."""
    try:
        embedded = EmbeddedBroker()
        embedded.start()
    except EmbeddedBrokerError as exc:
        pytest.fail(f"integration tests need the embedded broker: {exc}", pytrace=False)
    try:
        yield embedded
    finally:
        embedded.stop()
