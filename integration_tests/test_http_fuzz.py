"""The HTTP API fuzzed from its own OpenAPI document (schemathesis) against a real worker.

One ``dagger worker`` on the embedded broker (``rocksdb://``) with a few instances (one
failed, some waiting, some done) and a dead letter serves the API; schemathesis reads
``GET /openapi.json`` and sends generated requests to every operation. The checks: no
answer is a 5xx, and none takes longer than the per-request timeout (a hang fails the
test). The number of examples per operation is bounded (``DAGGER_FUZZ_EXAMPLES``,
default 10) so the suite stays fast; a longer run is in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from dagger.testing import EmbeddedBroker
from integration_tests._api_worker import ApiWorker, until
from integration_tests._harness import Scenario, client, send_messages
from integration_tests.test_http_api import TOKEN, _templates

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("DAGGER_FUZZ_EXAMPLES", "10"))
REQUEST_TIMEOUT_S = 10.0
"""A request not answered in this time fails the test as a hang."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _populate(worker: ApiWorker, scenario: Scenario, broker: EmbeddedBroker) -> None:
    """Wait until the worker serves, then give it instances and a dead letter."""
    async with aiohttp.ClientSession() as session:
        await worker.wait_ready(session)
        async with client(
            scenario, broker, _templates(scenario.listen_topic, scenario.listen_topic_b)
        ) as templates:
            for number in range(3):
                await templates["orders"].create_instance(
                    f"o-{number}", "order_id", order_id=f"o-{number}", submit_task=True
                )
            await templates["waiter"].create_instance("w-1", "ref", ref="r-1", submit_task=True)
        await send_messages(broker, scenario.listen_topic, [(b"{not json", None)])

        async def populated() -> bool:
            async with session.get(f"{worker.url}/tasks/instances", headers=AUTH) as answer:
                return answer.headers.get("X-Total-Count") == "4"

        await until(populated, 90, "four instances listed")


@pytest.fixture(scope="module")
def api_worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    scenario = Scenario(Path(tmp_path_factory.mktemp("fuzz")), store="rocksdb://")
    broker.create_topics(scenario.topics())
    worker = ApiWorker(scenario, broker, "fuzz", DAGGER_API_TOKEN=TOKEN)
    try:
        asyncio.run(_populate(worker, scenario, broker))
        yield worker.url
    finally:
        worker.stop()


def test_no_request_gets_a_server_error_or_hangs(api_worker: str) -> None:
    # schemathesis's pytest plugin (``from_fixture``) does not run on pytest 9: each
    # operation's cases are drawn by Hypothesis here instead.
    schema = schemathesis.openapi.from_url(f"{api_worker}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [operation.label for operation in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: Any) -> None:
            case.call_and_validate(
                headers=AUTH, timeout=REQUEST_TIMEOUT_S, checks=[not_a_server_error]
            )

        no_server_error()
