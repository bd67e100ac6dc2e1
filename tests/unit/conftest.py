"""Fixtures for the unit tests: an offline engine, isolated from the environment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dagger.runtime import _embedded_default
from dagger.service.services import Dagger
from dagger.tasks.task import ITemplateDAGInstance
from tests.unit._workflows import OFFLINE_BROKER, OfflineEngine, SentInstance

THREAD_EXIT_GRACE = 2.0
"""Seconds a thread a test started may take to end after the test before it is a leak."""
UNIT_TEST_TIMEOUT = 10.0
"""Seconds any one unit test may take; they need no broker, so this is generous."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Turn warnings into errors and bound the run time of each unit test."""
    for item in items:
        if "tests/unit/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("error"))
            item.add_marker(pytest.mark.timeout(UNIT_TEST_TIMEOUT))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the environment and the engine's class-level state out of each test.

    Also fails a test that leaves threads running.
    """
    monkeypatch.delenv("DAGGER_BROKER", raising=False)
    monkeypatch.delenv("DAGGER_CONSUMER_FETCH_MAX_WAIT", raising=False)
    monkeypatch.setattr(_embedded_default, "_enabled", False)
    monkeypatch.setattr(Dagger, "app", getattr(Dagger, "app", None), raising=False)
    monkeypatch.setattr(Dagger, "topics", {})
    threads_before = set(threading.enumerate())
    yield
    started = [thread for thread in threading.enumerate() if thread not in threads_before]
    # A thread on its way out is given a moment: asyncio's child watcher ends its
    # "asyncio-waitpid" thread just after it hands the exit status of a subprocess to the
    # loop, so the test may already be over (seen once in CI on a bash stage's script).
    deadline = time.monotonic() + THREAD_EXIT_GRACE
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    leaked = [thread for thread in started if thread.is_alive()]
    assert not leaked, f"test left threads running: {leaked}"


@pytest.fixture
def offline() -> OfflineEngine:
    """Return an engine on an unused broker URL with ``_send_new_instance`` recorded."""
    engine = Dagger(broker=OFFLINE_BROKER, store="memory://")
    recorded = OfflineEngine(engine)

    async def record(
        instance: ITemplateDAGInstance[Any, Any], *, repartition: bool, submit: bool
    ) -> None:
        recorded.sent.append(SentInstance(instance, repartition, submit))

    engine._send_new_instance = record  # type: ignore[method-assign]
    return recorded


@pytest.fixture
def engine(offline: OfflineEngine) -> Dagger:
    """Return the offline engine itself."""
    return offline.dagger
