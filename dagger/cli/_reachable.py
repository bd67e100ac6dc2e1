"""Whether the broker a command is about to use answers, and speaks Kafka, said before it hangs.

A TCP connection alone is not enough: an HTTP server or another service on the broker's
port accepts it, and the Kafka client then retries for minutes. So the check sends the
smallest Kafka request there is, ApiVersions v0 (which every Kafka broker answers, before
any authentication and whatever versions it supports), and reads the response header.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

from dagger.cli._errors import CommandError

__all__ = ["check_broker_reachable"]

_API_VERSIONS = 18
_UNSUPPORTED_VERSION = 35
_CORRELATION_ID = 0x0DA66E2
_CLIENT_ID = b"dagger-cli"
_MAX_RESPONSE = 1 << 20
"""A larger size prefix is not an ApiVersions response (an HTTP reply starts 'HTTP', 1.2 GB)."""


class _NotKafka(Exception):
    """The host accepted the connection but did not answer as a Kafka broker."""


def check_broker_reachable(
    hosts: Sequence[str], timeout: float = 5.0, *, kafka_protocol: bool = True
) -> None:
    """Raise CommandError unless at least one of ``hosts`` answers as a Kafka broker.

    Args:
        hosts: ``host:port`` of each broker.
        timeout: Seconds to connect, and then to get the answer to the Kafka request.
        kafka_protocol: Send a Kafka request and check the answer; False only connects
            (for a TLS listener, which would take the plain request for a bad handshake).
    """
    unreachable: list[str] = []
    not_kafka: list[str] = []
    for host in hosts:
        name, _, port = host.rpartition(":")
        try:
            with socket.create_connection((name, int(port)), timeout=timeout) as connection:
                if kafka_protocol:
                    _ask_api_versions(connection, timeout)
                return
        except _NotKafka as exc:
            not_kafka.append(f"the broker at {host} answers but is not a Kafka broker ({exc})")
        except OSError as exc:
            unreachable.append(f"{host} ({exc.strerror or exc})")
    problems = [*not_kafka]
    if unreachable:
        problems.append(f"cannot reach the Kafka broker at {', '.join(unreachable)}")
    if not_kafka:
        problems[-1] += "; check the broker URL (its host and port)"
    raise CommandError("; ".join(problems))


def _ask_api_versions(connection: socket.socket, timeout: float) -> None:
    """Send ApiVersions v0 and check the response's header; raise _NotKafka when it is not."""
    connection.settimeout(timeout)
    header = struct.pack(">hhih", _API_VERSIONS, 0, _CORRELATION_ID, len(_CLIENT_ID))
    request = header + _CLIENT_ID
    try:
        connection.sendall(struct.pack(">i", len(request)) + request)
        # size (int32), correlation id (int32), error code (int16)
        answer = _read(connection, 10)
    except TimeoutError as exc:
        raise _NotKafka(f"no answer to a Kafka ApiVersions request within {timeout:g} s") from exc
    except OSError as exc:
        raise _NotKafka(f"the connection failed on a Kafka request: {exc.strerror or exc}") from exc
    if len(answer) < 10:
        said = f"it sent {_excerpt(answer)} and closed" if answer else "it closed the connection"
        raise _NotKafka(f"{said} on a Kafka ApiVersions request")
    size, correlation_id, error_code = struct.unpack(">iih", answer)
    kafka_like = 6 <= size <= _MAX_RESPONSE and correlation_id == _CORRELATION_ID
    if not kafka_like or error_code not in (0, _UNSUPPORTED_VERSION):
        answer += _more(connection)
        raise _NotKafka(f"it answered a Kafka ApiVersions request with {_excerpt(answer)}")


def _read(connection: socket.socket, count: int) -> bytes:
    """Up to ``count`` bytes: fewer when the peer closes first."""
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _more(connection: socket.socket) -> bytes:
    """What else the peer sent at once, to quote it (an HTTP status line, say)."""
    connection.settimeout(0.5)
    try:
        return connection.recv(80)
    except OSError:
        return b""


def _excerpt(data: bytes) -> str:
    """The first line of ``data`` when it is ASCII text, its first bytes in hex otherwise."""
    line = data.decode("latin-1").splitlines()[0] if data.strip() else ""
    if line and line.isascii() and line.isprintable():
        return repr(line[:60])
    return data[:16].hex(" ")
