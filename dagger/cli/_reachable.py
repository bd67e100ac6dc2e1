"""Whether the broker a command is about to use answers at all, said before it hangs."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from dagger.cli._errors import CommandError

__all__ = ["check_broker_reachable"]


def check_broker_reachable(hosts: Sequence[str], timeout: float = 5.0) -> None:
    """Raise CommandError unless at least one of ``hosts`` accepts a TCP connection."""
    failures = []
    for host in hosts:
        name, _, port = host.rpartition(":")
        try:
            with socket.create_connection((name, int(port)), timeout=timeout):
                return
        except OSError as exc:
            failures.append(f"{host} ({exc.strerror or exc})")
    raise CommandError(f"cannot reach the Kafka broker at {', '.join(failures)}")
