"""`dagger worker` and `dagger broker` as a user runs them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagger.testing import EmbeddedBroker
from integration_tests._harness import (
    REPO_ROOT,
    Updates,
    free_port,
    send_requests,
    worker_command,
)

pytestmark = pytest.mark.integration


def run_dagger(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagger", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGGER_", "TEST_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), **extra)
    return env


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dagger: error: ")
    return lines[0]


def test_module_without_an_engine_is_one_clear_line() -> None:
    line = one_error_line(
        run_dagger("worker", "-A", "integration_tests.apps.no_engine", env=base_env())
    )
    assert "defines no Dagger instance" in line


def test_module_that_cannot_be_imported_is_one_clear_line() -> None:
    line = one_error_line(
        run_dagger("worker", "-A", "integration_tests.apps.missing", env=base_env())
    )
    assert "cannot import 'integration_tests.apps.missing'" in line


def test_unreachable_broker_is_one_clear_line() -> None:
    closed = free_port()
    env = base_env(DAGGER_BROKER=f"kafka://127.0.0.1:{closed}")
    line = one_error_line(run_dagger("worker", "-A", "integration_tests.apps.orders_app", env=env))
    assert f"cannot reach the Kafka broker at 127.0.0.1:{closed}" in line


def test_a_broker_url_that_answers_but_is_not_kafka_is_one_clear_line() -> None:
    """An HTTP server on the broker's port: said at once, not a hang in the Kafka client."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer_http() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        server = threading.Thread(target=answer_http, daemon=True)
        server.start()
        env = base_env(DAGGER_BROKER=f"kafka://127.0.0.1:{port}")
        result = run_dagger("worker", "-A", "integration_tests.apps.orders_app", env=env)
        server.join(5)
    assert one_error_line(result) == (
        f"dagger: error: the broker at 127.0.0.1:{port} answers but is not a Kafka broker "
        "(it answered a Kafka ApiVersions request with 'HTTP/1.1 400 Bad Request'); "
        "check the broker URL (its host and port)"
    )


def test_web_port_in_use_is_one_clear_line(broker: EmbeddedBroker) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env(DAGGER_BROKER=broker.url)
        args = ("worker", "-A", "integration_tests.apps.orders_app", "--web-port", str(port))
        line = one_error_line(run_dagger(*args, env=env))
    assert line == (
        f"dagger: error: web port {port} on 127.0.0.1 is in use; "
        "pass --web-port with a free one, or set WEB_PORT"
    )


def test_bad_store_url_is_one_clear_line() -> None:
    env = base_env(DAGGER_BROKER="kafka://127.0.0.1:9092", TEST_STORE="postgres://db")
    line = one_error_line(run_dagger("worker", "-A", "integration_tests.apps.orders_app", env=env))
    assert "store must be one of" in line and "postgres://db" in line


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.update(int(child) for child in text)
    return children


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_worker_without_a_broker_starts_an_embedded_one_and_says_so(tmp_path: Path) -> None:
    env = base_env(TEST_APP_ID="cli-embedded", TEST_DATADIR=str(tmp_path))
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            worker_command(),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    broker_pids: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while "[^Worker]: Ready" not in log_path.read_text(errors="replace"):
            assert worker.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        broker_pids = _children(worker.pid)
        text = log_path.read_text()
        assert (
            "No broker configured: started an embedded Kafka broker at kafka://127.0.0.1:" in text
        )
        assert broker_pids, "the embedded broker is not a child of the worker"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in broker_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in broker_pids), "the embedded broker outlived its worker"


def test_dagger_broker_prints_its_url_and_stops_on_sigterm() -> None:
    broker = subprocess.Popen(
        [sys.executable, "-m", "dagger", "broker"],
        cwd=REPO_ROOT,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert broker.stdout is not None
        line = broker.stdout.readline()
        assert line.startswith("Embedded Kafka broker listening on kafka://127.0.0.1:"), line
    finally:
        broker.send_signal(signal.SIGTERM)
        assert broker.wait(30) == 0


@contextlib.contextmanager
def _main_app(
    broker: EmbeddedBroker, tmp_path: Path, name: str, module: str, *args: str, ready: str
) -> Iterator[None]:
    """Run the orders engine through ``module``'s ``main()`` until its log says ``ready``."""
    env = base_env(
        DAGGER_BROKER=broker.url,
        DAGGER_TANSU_COMPAT="1",
        TEST_APP_ID=name,
        TEST_DATADIR=str(tmp_path),
        TEST_TASKS_TOPIC=f"{name}-tasks",
        TEST_UPDATE_TOPIC=f"{name}-updates",
        TEST_REQUESTS_TOPIC=f"{name}-requests",
    )
    broker.create_topics({f"{name}-tasks": 4, f"{name}-updates": 4, f"{name}-requests": 1})
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=dict(env, WEB_PORT=str(free_port()), WEB_BIND="127.0.0.1"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while ready not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_engine_main_runs_a_worker(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with _main_app(
        broker, tmp_path, "main-app", "integration_tests.apps.main_app", ready="[^Worker]: Ready"
    ):
        finished = asyncio.run(_run_one_order(broker))
        assert finished["status"] == "COMPLETED"
        assert finished["runtime_parameters"]["trail"] == ["validate", "charge", "reserve", "ship"]


def test_engine_main_without_a_logging_configuration_still_logs(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with _main_app(
        broker,
        tmp_path,
        "bare-main-app",
        "integration_tests.apps.bare_main_app",
        "worker",
        "-l",
        "info",
        ready="[^Worker]: Ready",
    ):
        pass


async def _run_one_order(broker: EmbeddedBroker) -> dict[str, Any]:
    async with Updates(broker, "main-app-updates") as updates:
        await send_requests(broker, "main-app-requests", [{"order_id": "m-1", "repartition": True}])
        finished = await updates.wait_finished(1, timeout=60)
    return next(iter(finished.values()))
