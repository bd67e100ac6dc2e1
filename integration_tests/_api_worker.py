"""A ``dagger worker`` subprocess serving the HTTP API, for the API tests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from dagger.testing import EmbeddedBroker
from integration_tests._harness import REPO_ROOT, Scenario, free_port, terminate

APP = "integration_tests.apps.api_app"
T = TypeVar("T")


class ApiWorker:
    """A ``dagger worker`` subprocess serving the API on 127.0.0.1:<free port>."""

    def __init__(self, scenario: Scenario, broker: EmbeddedBroker, name: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scenario.tmp_path / f"api-worker-{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        # No --web-bind: the API must bind 127.0.0.1 by default.
        command = [
            sys.executable,
            "-m",
            "dagger",
            "worker",
            "-A",
            APP,
            "--web-port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(scenario.env(broker, name), **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 90.0) -> None:
        """Until GET /service/ready says ``{"is_ready": true}``."""

        async def ready() -> bool | None:
            assert self.process.poll() is None, self.log_text()[-3000:]
            try:
                async with session.get(self.url + "/service/ready") as response:
                    return (await response.json())["is_ready"] is True or None
            except aiohttp.ClientConnectionError:
                return None

        await until(ready, timeout, f"{self.url} ready\n{self.log_text()[-2000:]}")

    def stop(self) -> None:
        terminate(self.process)
        self._log.close()


async def until(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)
