"""The broker check: unreachable, reachable but not Kafka, and Kafka, each said plainly."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dagger.cli._errors import CommandError
from dagger.cli._reachable import check_broker_reachable
from tests.unit.web._harness import free_port

Handler = Callable[[socket.socket], None]


@contextmanager
def tcp_server(handle: Handler) -> Iterator[str]:
    """A server on 127.0.0.1 that runs ``handle`` on each connection; yields host:port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                handle(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def read_request(connection: socket.socket) -> tuple[int, int, int]:
    """Read one Kafka request; return its api key, version and correlation id."""
    (size,) = struct.unpack(">i", connection.recv(4))
    body = b""
    while len(body) < size:
        body += connection.recv(size - len(body))
    api_key, version, correlation_id = struct.unpack(">hhi", body[:8])
    return api_key, version, correlation_id


def kafka(error_code: int = 0) -> Handler:
    """A broker that answers ApiVersions v0 with one api and ``error_code``."""

    def handle(connection: socket.socket) -> None:
        _, _, correlation_id = read_request(connection)
        body = struct.pack(">ihihhh", correlation_id, error_code, 1, 18, 0, 3)
        connection.sendall(struct.pack(">i", len(body)) + body)

    return handle


def answers(reply: bytes) -> Handler:
    def handle(connection: socket.socket) -> None:
        connection.recv(1024)
        connection.sendall(reply)

    return handle


def closes(connection: socket.socket) -> None:
    connection.recv(1024)


def message(hosts: list[str], **kwargs: float) -> str:
    with pytest.raises(CommandError) as raised:
        check_broker_reachable(hosts, **kwargs)
    return str(raised.value)


@pytest.mark.parametrize("error_code", [0, 35])
def test_a_kafka_broker_passes(error_code: int) -> None:
    asked: list[tuple[int, int, int]] = []

    with tcp_server(kafka(error_code)) as host:
        check_broker_reachable([host])
    with tcp_server(lambda c: asked.append(read_request(c))) as host:
        message([host], timeout=1)
    assert asked[0][:2] == (18, 0)  # ApiVersions v0


def test_a_closed_port_cannot_be_reached() -> None:
    closed = free_port()

    text = message([f"127.0.0.1:{closed}"])

    assert text == f"cannot reach the Kafka broker at 127.0.0.1:{closed} (Connection refused)"


def test_a_server_answering_text_is_not_a_kafka_broker() -> None:
    with tcp_server(answers(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")) as host:
        text = message([host])

    assert text == (
        f"the broker at {host} answers but is not a Kafka broker (it answered a Kafka "
        "ApiVersions request with 'HTTP/1.1 400 Bad Request'); check the broker URL "
        "(its host and port)"
    )


def test_a_server_answering_bytes_is_quoted_in_hex() -> None:
    with tcp_server(answers(bytes(range(200, 216)))) as host:
        text = message([host])

    assert "answers but is not a Kafka broker (it answered a Kafka ApiVersions request " in text
    assert "with c8 c9 ca cb" in text


def test_a_short_answer_then_close_is_not_a_kafka_broker() -> None:
    with tcp_server(answers(b"nope\n")) as host:
        text = message([host])

    assert "answers but is not a Kafka broker (it sent 'nope' and closed on a Kafka" in text


def test_a_server_that_closes_at_once_is_not_a_kafka_broker() -> None:
    with tcp_server(closes) as host:
        text = message([host])

    assert "answers but is not a Kafka broker (it closed the connection on a Kafka" in text


def test_a_server_that_says_nothing_is_not_a_kafka_broker_after_the_timeout() -> None:
    done = threading.Event()

    def silent(connection: socket.socket) -> None:
        connection.recv(1024)
        done.wait(5)

    with tcp_server(silent) as host:
        text = message([host], timeout=0.3)
        done.set()

    assert text == (
        f"the broker at {host} answers but is not a Kafka broker (no answer to a Kafka "
        "ApiVersions request within 0.3 s); check the broker URL (its host and port)"
    )


def test_an_http_server_is_not_a_kafka_broker() -> None:
    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        text = message([f"127.0.0.1:{server.server_port}"], timeout=0.5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    assert "answers but is not a Kafka broker" in text


def test_one_kafka_broker_among_the_hosts_is_enough() -> None:
    with tcp_server(closes) as other, tcp_server(kafka()) as broker:
        check_broker_reachable([f"127.0.0.1:{free_port()}", other, broker])


def test_every_host_failing_is_said_once_each() -> None:
    closed = free_port()
    with tcp_server(closes) as other:
        text = message([f"127.0.0.1:{closed}", other])

    assert text == (
        f"the broker at {other} answers but is not a Kafka broker (it closed the connection "
        "on a Kafka ApiVersions request); cannot reach the Kafka broker at "
        f"127.0.0.1:{closed} (Connection refused); check the broker URL (its host and port)"
    )


def test_without_the_kafka_request_a_connection_is_enough() -> None:
    """For a TLS listener, which the plain request would not satisfy."""
    with tcp_server(closes) as host:
        check_broker_reachable([host], kafka_protocol=False)
