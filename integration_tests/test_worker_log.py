"""What a worker's log says, on the real embedded broker: a person can follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import Scenario, workers

pytestmark = pytest.mark.integration


async def test_a_worker_recognises_the_embedded_broker_without_the_variable(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    scenario = Scenario(tmp_path, tansu_compat=None)
    await broker.acreate_topics(scenario.topics())
    async with workers(scenario, broker) as start:
        worker = start("w1")
        await worker.wait_ready()
        log = worker.log_text()

    assert log.count("The broker is the embedded Tansu broker (cluster id dagger-") == 1, log
    assert "its end-offset correction is on (DAGGER_TANSU_COMPAT=0 turns it off)" in log
