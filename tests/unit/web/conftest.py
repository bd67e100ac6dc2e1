"""The engine, LocalEngine and API server most web tests share (a module may override one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dagger.service.services import Dagger
from dagger.testing import LocalEngine
from tests.unit._listener_workflows import new_engine
from tests.unit.web._harness import PARTITIONS, ApiServer


@pytest.fixture
def engine() -> Dagger:
    return new_engine(kafka_partitions=PARTITIONS)


@pytest.fixture
async def local(engine: Dagger) -> AsyncIterator[LocalEngine]:
    async with LocalEngine(engine) as running:
        yield running


@pytest.fixture
async def server(engine: Dagger, local: LocalEngine) -> AsyncIterator[ApiServer]:
    async with ApiServer(engine) as running:
        yield running
