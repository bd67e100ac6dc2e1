"""Broker URLs and topic names: the one place they are parsed and checked.

The engine's settings, the dead-letter service and the CLI all take a broker as
``kafka://h1:p1;h2:p2`` (or a bare ``host:port``) and topic names as Kafka spells them;
they share these checks so that each accepts and refuses the same input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from dagger.exceptions.exceptions import ConfigurationError

__all__ = ["broker_hosts", "check_topic_name", "is_host_port", "resolve_broker"]

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_BROKER_HOST = re.compile(r"^[^\s:/;,]+:\d{1,5}$")


def broker_hosts(url: str) -> list[str]:
    """Return the ``host:port`` entries of a ``kafka://h1:p1;h2:p2`` URL."""
    body = url.split("://", 1)[1] if "://" in url else url
    return [host for host in re.split(r"[;,]", body.strip("/")) if host]


def is_host_port(host: str) -> bool:
    """Whether ``host`` is one ``host:port`` entry (no scheme, no separator, a port)."""
    return bool(_BROKER_HOST.match(host))


def resolve_broker(broker: str | None, kafka_broker_list: Sequence[str] | None) -> str | None:
    """Return the normalised broker URL, or None when none is configured."""
    if kafka_broker_list:
        if isinstance(kafka_broker_list, str) or not all(
            isinstance(host, str) for host in kafka_broker_list
        ):
            raise ConfigurationError(
                "kafka_broker_list must be a list of 'host:port' strings, "
                f"got {kafka_broker_list!r}"
            )
        broker = "kafka://" + ";".join(host.split("://")[-1] for host in kafka_broker_list)
    if broker is None:
        broker = os.environ.get("DAGGER_BROKER") or None
    if broker is None:
        return None
    given = broker
    if isinstance(broker, str) and "://" not in broker:
        # faust reads a bare "host:port" as kafka://host:port, and the original passed the
        # argument straight to faust.
        broker = "kafka://" + broker
    if not isinstance(broker, str) or not broker.startswith(("kafka://", "aiokafka://")):
        raise ConfigurationError(
            f"broker must look like 'kafka://host:port[;host:port]', got {given!r}"
        )
    hosts = broker_hosts(broker)
    if not hosts or not all(is_host_port(host) for host in hosts):
        raise ConfigurationError(
            f"broker must look like 'kafka://host:port[;host:port]', got {given!r}"
        )
    return broker


def check_topic_name(name: Any, argument: str) -> str:
    """Return ``name`` if it is a Kafka topic name; else say which ``argument`` is wrong."""
    if not isinstance(name, str) or not _TOPIC_NAME.match(name):
        raise ConfigurationError(
            f"{argument} must be a Kafka topic name (letters, digits, '.', '_', '-'), got {name!r}"
        )
    return name
